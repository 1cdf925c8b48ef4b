"""Log-likelihood scoring: offsets, acc/acc_norm by hand, the endpoint check, the journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proctor.harness import loglikelihood
from proctor.harness.benchmarks import register
from proctor.harness.benchmarks.base import Sample, Score
from proctor.harness.client import Failure
from proctor.harness.loglikelihood import CHOICES, Choice, continuation_loglikelihood, metrics
from proctor.harness.runner import run_task
from proctor.harness.taskfile import Params, TaskSpec
from tests.fakes.endpoint import FakeEndpoint, tokenize

Q = "Question: What colour is the sky?\nAnswer:"
PETS = "Question: Which pet purrs?\nAnswer:"
WINO = "The cup fell because "

# (text before the token, token) -> log-probability; anything else is -100, so a context
# token or the generated one counted by mistake changes every sum below.
TABLE = {
    (Q, " blue"): -2.0,
    (Q, " green"): -1.5,
    (Q + " green", " sea"): -1.5,
    (PETS, " cat"): -1.0,
    (PETS, " dog"): -1.0,
    (WINO + "Ann", " dropped"): -3.0,
    (WINO + "Ann dropped", " it."): -1.0,
    (WINO + "Bob", " dropped"): -2.0,
    (WINO + "Bob dropped", " it."): -1.0,
}


def crafted(prefix: str, token: str) -> float:
    return TABLE.get((prefix, token), -100.0)


def _sample(sample_id: str, choices: list[Choice], gold: int) -> Sample:
    return Sample(id=sample_id, prompt=choices[0].context, target=gold, meta={CHOICES: choices})


def _rc(context: str, texts: list[str]) -> list[Choice]:
    return [Choice(context, " " + t, t) for t in texts]


SAMPLES = [
    # acc picks " blue" (-2.0 > -3.0); acc_norm picks " green sea" (-3.0/9 > -2.0/4).
    _sample("sky", _rc(Q, ["blue", "green sea"]), 1),
    # A tie: both -1.0 over 3 characters; the first index wins, as numpy.argmax.
    _sample("tie-gold-1", _rc(PETS, ["cat", "dog"]), 1),
    _sample("tie-gold-0", _rc(PETS, ["cat", "dog"]), 0),
    # Partial scoring: the option is in the context, the continuation is shared:
    # -4.0 (Ann) < -3.0 (Bob), and the same over len("Ann") == len("Bob").
    _sample(
        "wino",
        [Choice(WINO + o, " dropped it.", o) for o in ("Ann", "Bob")],
        1,
    ),
]
# By hand: acc = [0, 0, 1, 1], acc_norm = [1, 0, 1, 1].
EXPECTED = {
    "sky": ({"acc": 0.0, "acc_norm": 1.0}, 0, 1, [-2.0, -3.0], [1, 2]),
    "tie-gold-1": ({"acc": 0.0, "acc_norm": 0.0}, 0, 0, [-1.0, -1.0], [1, 1]),
    "tie-gold-0": ({"acc": 1.0, "acc_norm": 1.0}, 0, 0, [-1.0, -1.0], [1, 1]),
    "wino": ({"acc": 1.0, "acc_norm": 1.0}, 1, 1, [-4.0, -3.0], [2, 2]),
}


class Oracle:
    name = "ll_oracle"
    endpoint_types = ("completions",)
    default_max_tokens = 1

    def load(self, params: Params, dataset_dir: str | None) -> list[Sample]:
        return list(SAMPLES)

    def score(self, sample: Sample, response: str) -> Score:
        raise AssertionError("log-likelihood samples are never scored from text")


register(Oracle())


def _spec(url: str, endpoint_type: str = "completions", **params: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "ll",
            "benchmark": "ll_oracle",
            "endpoint": {"url": url, "model_id": "m", "type": endpoint_type},
            "params": {"parallelism": 4, "max_retries": 0, **params},
        }
    )


def _lines(results: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (results / "samples.jsonl").read_text().splitlines()]


def test_metrics_by_hand_disagree_and_tie() -> None:
    assert metrics([-2.0, -3.0], [4, 9], gold=1) == ({"acc": 0.0, "acc_norm": 1.0}, 0, 1)
    assert metrics([-1.0, -1.0, -1.0], [3, 3, 3], gold=2) == ({"acc": 0.0, "acc_norm": 0.0}, 0, 0)
    # acc_norm divides by characters, not bytes: "é" is 1 character (2 bytes), so
    # -1.1 / 1 < -2.0 / 2 and choice 1 wins; by bytes (-0.55 > -1.0) choice 0 would.
    assert metrics([-1.1, -2.0], [len("é"), len("ab")], gold=1)[2] == 1


def test_offsets_pick_the_continuation_tokens() -> None:
    # "ctx:" + " a b", then one generated token; only " a" and " b" count.
    lp = {
        "tokens": ["ctx", ":", " a", " b", " gen"],
        "token_logprobs": [None, -9.0, -1.0, -2.0, -7.0],
        "text_offset": [0, 3, 4, 6, 8],
    }
    assert continuation_loglikelihood(lp, 4, 8) == (-3.0, 2)
    # A token straddling the boundary (":a" holds the continuation's first character)
    # counts, since it is the only one that holds it.
    lp = {
        "tokens": ["x", ":a", "b"],
        "token_logprobs": [None, -1.5, -0.5],
        "text_offset": [0, 1, 3],
    }
    assert continuation_loglikelihood(lp, 2, 4) == (-2.0, 2)


@pytest.mark.parametrize(
    ("lp", "code"),
    [
        ({"tokens": [" gen"], "token_logprobs": [-1.0], "text_offset": [8]}, "no_echo"),
        ({"tokens": ["c"], "token_logprobs": [None], "text_offset": [0]}, "no_echo"),
        (
            {"tokens": ["c", " a"], "token_logprobs": [None, None], "text_offset": [0, 1]},
            "bad_logprobs",
        ),
        ({"tokens": ["c"], "token_logprobs": [None, 1.0], "text_offset": [0]}, "bad_logprobs"),
        ({"tokens": ["c"]}, "no_logprobs"),
    ],
)
def test_unusable_logprobs_are_a_failure(lp: dict[str, Any], code: str) -> None:
    found = continuation_loglikelihood(lp, 1, 3)
    assert isinstance(found, Failure) and found.code == code


def test_oracle_run_scores_as_computed_by_hand(tmp_path: Path) -> None:
    with FakeEndpoint(logprob=crafted, record=True) as ep:
        assert run_task(_spec(ep.base_url), tmp_path) == 0
        bodies = [body for _, body, _ in ep.requests]
    # The probe (generate, then echo) and one request per choice.
    assert len(bodies) == 2 + 2 * len(SAMPLES)
    scoring = [b for b in bodies if b["prompt"] != loglikelihood.PROBE_PROMPT]
    for body in scoring:
        assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 1
        assert body["temperature"] == 0
    lines = {line["id"]: line for line in _lines(tmp_path)}
    assert set(lines) == set(EXPECTED)
    for sample_id, (scores, chosen, chosen_norm, lls, tokens) in EXPECTED.items():
        line = lines[sample_id]
        assert line["status"] == "scored", line
        assert line["scores"] == scores, sample_id
        record = line["loglikelihood"]
        assert (record["chosen"], record["chosen_norm"]) == (chosen, chosen_norm)
        assert [c["loglikelihood"] for c in record["choices"]] == lls
        assert [c["tokens"] for c in record["choices"]] == tokens
        assert line["extracted"] == chosen
        assert loglikelihood.rescore(record, line["target"]) == scores
    wino = lines["wino"]
    assert wino["prompt"] == WINO  # the shared part; each choice keeps its own context
    assert [c["context"] for c in wino["loglikelihood"]["choices"]] == ["Ann", "Bob"]
    assert wino["response"] == " dropped it."
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["metrics"]["acc"]["value"] == 0.5  # (0 + 0 + 1 + 1) / 4
    assert results["metrics"]["acc_norm"]["value"] == 0.75  # (1 + 0 + 1 + 1) / 4
    for m in results["metrics"].values():
        assert m["n"] == 4 and m["ci_low"] <= m["value"] <= m["ci_high"] and m["stderr"] > 0


def test_the_fake_tokenizer_keeps_continuations_whole() -> None:
    # The oracle relies on it: each continuation word is one token after the context.
    assert tokenize(Q + " green sea")[-2:] == [" green", " sea"]


@pytest.mark.parametrize(
    ("mode", "says"), [("shifted", "wrong prompt log-probabilities"), ("none", "needs echo")]
)
def test_an_endpoint_with_wrong_or_no_echo_is_refused_before_any_sample(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], mode: str, says: str
) -> None:
    with FakeEndpoint(echo_logprobs=mode) as ep:
        assert run_task(_spec(ep.base_url), tmp_path) == 2
        assert ep.total == 2  # the probe only: generate one token, echo it
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not (tmp_path / "samples.jsonl").read_text()


def test_a_chat_endpoint_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with FakeEndpoint() as ep:
        assert run_task(_spec(ep.base_url, endpoint_type="chat"), tmp_path) == 2
        assert ep.total == 0
    assert "needs a completions endpoint" in capfd.readouterr().err


def test_a_bad_reply_is_an_error_of_that_sample(tmp_path: Path) -> None:
    def broken(prefix: str, token: str) -> float:
        if prefix == PETS:
            return float("nan")  # the pets samples get an unusable value
        return crafted(prefix, token)

    with FakeEndpoint(logprob=broken) as ep:
        assert run_task(_spec(ep.base_url, max_error_rate=1.0), tmp_path) == 0
    status = {line["id"]: line["status"] for line in _lines(tmp_path)}
    assert status == {
        "sky": "scored",
        "tie-gold-1": "error",
        "tie-gold-0": "error",
        "wino": "scored",
    }


def test_extra_body_reaches_every_log_likelihood_request(tmp_path: Path) -> None:
    with FakeEndpoint(logprob=crafted, record=True) as ep:
        spec = _spec(ep.base_url, extra_body={"top_k": 1})
        assert run_task(spec, tmp_path) == 0
        bodies = [body for _, body, _ in ep.requests]
    assert bodies and all(b["top_k"] == 1 and b["max_tokens"] == 1 for b in bodies)
