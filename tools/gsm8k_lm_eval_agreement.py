"""Per-sample agreement of proctor's GSM8K scoring with lm-evaluation-harness's own filters.

A one-off measurement (issue 13, item 6), not part of proctor: it scores the responses of a
finished gsm8k task's journal three ways and counts, sample by sample, where they agree:

- proctor: proctor.harness.benchmarks.gsm8k as it is now (and, for comparison, the
  extractor before issue 13, copied below as ``old_extract``);
- lm-eval: the ``filter_list`` and ``metric_list`` of lm-eval's own task files, read from
  the installed package: ``gsm8k.yaml`` (strict-match "#### N", flexible-extract: the last
  number) and ``gsm8k-cot-zeroshot.yaml`` (strict-match "The answer is N.", the cue
  proctor's prompt asks for). Filters are lm-eval's classes (RegexFilter, TakeFirstFilter);
  exact_match is ``lm_eval.api.metrics.exact_match_hf_evaluate`` transcribed for strings,
  because that module imports sacrebleu and numpy.

lm-eval is not a proctor dependency: install it alone in a scratch venv and put its
site-packages on PYTHONPATH for this run (its filters need nothing else)::

    python3 -m venv /tmp/lmeval && /tmp/lmeval/bin/pip install --no-deps lm_eval==0.4.13
    PYTHONPATH=/tmp/lmeval/lib/python3.11/site-packages \\
        .venv/bin/python tools/gsm8k_lm_eval_agreement.py outputs/<inv>/gsm8k/artifacts/samples.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import yaml

from proctor.harness.benchmarks.base import Sample
from proctor.harness.benchmarks.gsm8k import BENCHMARK
from proctor.harness.scoring import math_equal, numeric_equal


def lm_eval_scorers() -> dict[str, Any]:
    """name -> (filters, metric kwargs), from lm-eval's installed gsm8k task files."""
    import lm_eval
    from lm_eval.filters.extraction import RegexFilter
    from lm_eval.filters.selection import TakeFirstFilter

    tasks = Path(lm_eval.__file__).parent / "tasks" / "gsm8k"
    out = {}
    for file in ("gsm8k.yaml", "gsm8k-cot-zeroshot.yaml"):
        task = yaml.safe_load((tasks / file).read_text())
        (metric,) = task["metric_list"]
        kwargs = {k: metric[k] for k in ("regexes_to_ignore", "ignore_case", "ignore_punctuation")}
        for entry in task["filter_list"]:
            filters: list[Any] = []
            for step in entry["filter"]:
                if step["function"] == "regex":
                    args = {k: v for k, v in step.items() if k != "function"}
                    filters.append(RegexFilter(**args))
                elif step["function"] == "take_first":
                    filters.append(TakeFirstFilter())
                else:
                    raise SystemExit(f"{file}: unexpected filter {step['function']}")
            out[f"{task['task']}/{entry['name']}"] = (filters, kwargs)
    return out


def exact_match(
    prediction: str, reference: str, regexes_to_ignore, ignore_case, ignore_punctuation
):
    """lm_eval.api.metrics.exact_match_hf_evaluate for one string pair."""
    for pattern in regexes_to_ignore or []:
        prediction, reference = re.sub(pattern, "", prediction), re.sub(pattern, "", reference)
    if ignore_case:
        prediction, reference = prediction.lower(), reference.lower()
    assert not ignore_punctuation  # gsm8k sets it false
    return prediction == reference


def lm_eval_score(filters: list[Any], kwargs: dict[str, Any], response: str, gold: str):
    resps: Any = [[response]]
    for f in filters:
        resps = f.apply(resps, [{}])
    (extracted,) = list(resps)
    extracted = extracted if isinstance(extracted, str) else extracted[0]
    # The reference as lm-eval sees it: the worked answer ending "#### N"; the
    # "(?s).*#### " regex leaves N.
    return extracted, exact_match(extracted, f"... #### {gold}", **kwargs)


_OLD_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?<![\w.])-?\.\d+"
)
_OLD_CUE = re.compile(
    r"####|\\boxed\{|\banswer\s*(?:is|was|would be|will be|=|:)|\banswer\b\W*:", re.IGNORECASE
)


def old_extract(text: str) -> str | None:
    """proctor's extract_final_number before issue 13: first number after the last cue."""
    text = str(text).replace("$", "").replace("\\$", "")
    cues = list(_OLD_CUE.finditer(text))
    if cues:
        found = _OLD_NUMBER.search(text[cues[-1].end() :].split("\n\n")[0])
        if found:
            return found.group().replace(",", "")
    numbers = _OLD_NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def _same_number(ours: str | None, theirs: str) -> bool:
    cleaned = re.sub(r"[,$]|\.$", "", theirs.strip())
    return ours is not None and numeric_equal(ours, cleaned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal", type=Path)
    parser.add_argument("--examples", type=int, default=4)
    args = parser.parse_args()
    scorers = lm_eval_scorers()
    rows = []
    for raw in args.journal.read_text().splitlines():
        line = json.loads(raw)
        if line["status"] != "scored":
            continue
        response, gold = line["response"], str(line["target"])
        sample = Sample(id=line["id"], prompt="", target=gold)
        ours = BENCHMARK.score(sample, response)
        old = old_extract(response)
        old_right = old is not None and (numeric_equal(old, gold) or math_equal(gold, old))
        row = {
            "id": line["id"],
            "response": response,
            "gold": gold,
            "ours": (ours.extracted, bool(ours.scores["accuracy"])),
            "old": (old, old_right),
        }
        for name, (filters, kwargs) in scorers.items():
            row[name] = lm_eval_score(filters, kwargs, response, gold)
        rows.append(row)
    n = len(rows)
    print(f"{n} scored samples from {args.journal}")
    for who in ("ours", "old", *scorers):
        right = sum(r[who][1] for r in rows)
        print(f"  accuracy {who:<36} {right}/{n} = {right / n:.3f}")
    for mine in ("ours", "old"):
        for name in scorers:
            agree = sum(r[mine][1] == r[name][1] for r in rows)
            print(f"  {mine} vs {name:<36} agree on {agree}/{n}")
    for name in scorers:
        differ = [r for r in rows if r["ours"][1] != r[name][1]]
        print(f"\nours vs {name}: {len(differ)} disagreements; first {args.examples}:")
        for r in differ[: args.examples]:
            tail = " ".join(r["response"].split())[-160:]
            print(
                f"  {r['id']} gold {r['gold']}: ours {r['ours'][0]!r} ({r['ours'][1]}), "
                f"lm-eval {r[name][0]!r} ({r[name][1]})\n    ...{tail}"
            )
    for name in scorers:
        same = sum(_same_number(r["ours"][0], r[name][0]) for r in rows)
        print(f"  extracted number, ours vs {name:<36} same on {same}/{n}")
    changed = [r for r in rows if r["ours"][0] != r["old"][0]]
    flipped = sum(r["ours"][1] != r["old"][1] for r in changed)
    print(f"\nthe issue-13 fix changed {len(changed)} extracted answers ({flipped} scores):")
    for r in changed:
        tail = " ".join(r["response"].split())[-160:]
        print(
            f"  {r['id']} gold {r['gold']}: old {r['old'][0]!r} -> now {r['ours'][0]!r}\n    ...{tail}"
        )


if __name__ == "__main__":
    main()
