"""Config loading: defaults, overrides, and one clear line for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from proctor.launcher import config
from proctor.launcher.errors import ProctorError

BASE = {
    "target": {"api_endpoint": {"url": "http://127.0.0.1:8000/v1", "model_id": "m"}},
    "evaluation": {"tasks": [{"name": "gsm8k"}, {"name": "mmlu"}]},
}


def write(tmp_path: Path, data: object, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error(tmp_path: Path, data: object, overrides: list[str] | None = None) -> str:
    with pytest.raises(ProctorError) as e:
        config.load(write(tmp_path, data), overrides)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_defaults_fill_what_the_file_leaves_out(tmp_path):
    cfg = config.load(write(tmp_path, BASE))
    assert cfg.execution.mode == "parallel"
    assert cfg.execution.max_parallel == 4
    assert cfg.execution.network == "auto"
    assert cfg.deployment.type == "none"
    assert cfg.target.api_endpoint.type == "chat"
    assert cfg.task_params(cfg.evaluation.tasks[0]).n_repeats == 1


def test_overrides_parse_yaml_and_address_tasks_by_name_and_index(tmp_path):
    cfg = config.load(
        write(tmp_path, BASE),
        [
            "evaluation.params.limit_samples=20",
            "evaluation.tasks.mmlu.params.limit_samples=5",
            'evaluation.tasks.0.params.stop=["\\n\\n", END]',
            "execution.mode=sequential",
            "target.api_endpoint.model_id=other=name",
        ],
    )
    gsm8k, mmlu = cfg.evaluation.tasks
    assert cfg.task_params(gsm8k).limit_samples == 20
    assert cfg.task_params(mmlu).limit_samples == 5
    assert cfg.task_params(gsm8k).stop == ["\n\n", "END"]
    assert cfg.execution.mode == "sequential"
    assert cfg.target.api_endpoint.model_id == "other=name"


def test_task_params_overlay_evaluation_params(tmp_path):
    data = {
        **BASE,
        "evaluation": {
            "params": {"temperature": 0.5, "extra": {"a": 1, "b": 2}},
            "tasks": [{"name": "gsm8k", "params": {"extra": {"b": 3}}}],
        },
    }
    cfg = config.load(write(tmp_path, data))
    params = cfg.task_params(cfg.evaluation.tasks[0])
    assert params.temperature == 0.5
    assert params.extra == {"a": 1, "b": 3}


def test_missing_file(tmp_path):
    with pytest.raises(ProctorError, match="config file not found: .*nope.yaml"):
        config.load(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    message = error(tmp_path, "target:\n  api_endpoint:\n    url: [unclosed\nevaluation: {}\n")
    assert "c.yaml" in message and "YAML syntax error at line" in message


def test_unknown_key_suggests_the_right_one(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["execution"] = {"max_paralel": 2}
    message = error(tmp_path, data)
    assert "unknown key 'execution.max_paralel'" in message
    assert "did you mean 'max_parallel'" in message


def test_unknown_param_suggests_the_right_one(tmp_path):
    message = error(tmp_path, BASE, ["evaluation.params.limit_sample=3"])
    assert "unknown key 'evaluation.params.limit_sample'" in message
    assert "did you mean 'limit_samples'" in message


def test_wrong_type_names_its_path(tmp_path):
    message = error(tmp_path, BASE, ["execution.max_parallel=lots"])
    assert "execution.max_parallel" in message and "'lots'" in message


def test_wrong_param_type_names_the_task(tmp_path):
    message = error(tmp_path, BASE, ["evaluation.tasks.mmlu.params.parallelism=0"])
    assert "evaluation.tasks.mmlu.params.parallelism" in message


@pytest.mark.parametrize("item", ["nokey", "=3", "a..b=1", "evaluation.=1"])
def test_malformed_override(tmp_path, item):
    assert "malformed override" in error(tmp_path, BASE, [item])


def test_override_of_a_missing_task(tmp_path):
    message = error(tmp_path, BASE, ["evaluation.tasks.arc.params.limit_samples=1"])
    assert "no item named 'arc' in evaluation.tasks" in message and "gsm8k" in message


def test_override_of_a_missing_index(tmp_path):
    assert "no index 7" in error(tmp_path, BASE, ["evaluation.tasks.7.name=x"])


def test_override_through_a_value(tmp_path):
    assert "is a value" in error(tmp_path, BASE, ["target.api_endpoint.url.host=x"])


def test_override_of_an_unknown_key_is_an_unknown_key(tmp_path):
    message = error(tmp_path, BASE, ["target.api_endpoint.modle_id=x"])
    assert "did you mean 'model_id'" in message


@pytest.mark.parametrize(
    ("section", "typo", "hint", "missing"),
    [
        ("target.api_endpoint", "modle_id", "model_id", "target.api_endpoint.model_id"),
        ("evaluation.tasks.0", "nmae", "name", "evaluation.tasks.0.name"),
        ("", "targte", "target", "target"),
    ],
)
def test_a_typo_that_leaves_a_required_key_missing_is_named_first(
    tmp_path, section, typo, hint, missing
):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    for part in filter(None, section.split(".")):
        node = node[int(part)] if part.isdigit() else node[part]
    node[typo] = node.pop(hint)
    node["zzz_unrelated"] = 1  # a second unknown key: the hint picks the close one
    message = error(tmp_path, data)
    unknown = f"unknown key '{section + '.' if section else ''}{typo}' (did you mean '{hint}'?)"
    assert message.startswith(f"{tmp_path / 'c.yaml'}: {unknown}"), message
    assert message.index(unknown) < message.index(f"missing required key '{missing}'")


def test_a_missing_key_alone_is_still_named(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    del data["target"]["api_endpoint"]["model_id"]
    message = error(tmp_path, data)
    assert message.endswith("missing required key 'target.api_endpoint.model_id'")
    assert "unknown key" not in message


def test_unknown_benchmark(tmp_path):
    data = {**BASE, "evaluation": {"tasks": [{"name": "gsm9k"}]}}
    message = error(tmp_path, data)
    assert "unknown benchmark 'gsm9k'" in message and "did you mean 'gsm8k'" in message


def test_secret_values_are_refused_in_env_vars(tmp_path):
    data = {
        **BASE,
        "evaluation": {"env_vars": {"HF_TOKEN": "hf_abc-123"}, "tasks": [{"name": "gsm8k"}]},
    }
    assert "NAME of an environment variable" in error(tmp_path, data)


def test_malformed_url(tmp_path):
    assert "not an http(s) URL" in error(tmp_path, BASE, ["target.api_endpoint.url=localhost:8000"])


def test_missing_endpoint(tmp_path):
    assert "missing required key 'target'" in error(tmp_path, {"evaluation": BASE["evaluation"]})


@pytest.mark.parametrize("value", ["-1", "0", "1.5", "true"])
def test_bad_limits(tmp_path, value):
    assert "limit_samples" in error(tmp_path, BASE, [f"evaluation.params.limit_samples={value}"])


def test_fraction_and_count_limits(tmp_path):
    cfg = config.load(
        write(tmp_path, BASE),
        [
            "evaluation.tasks.gsm8k.params.limit_samples=0.25",
            "evaluation.tasks.mmlu.params.limit_samples=7.0",
        ],
    )
    assert cfg.task_params(cfg.evaluation.tasks[0]).limit_samples == 0.25
    assert cfg.task_params(cfg.evaluation.tasks[1]).limit_samples == 7


def test_config_hash_changes_with_content(tmp_path):
    a = config.load(write(tmp_path, BASE))
    b = config.load(write(tmp_path, BASE), ["evaluation.params.limit_samples=3"])
    assert a.config_hash() != b.config_hash()
    assert a.config_hash() == config.load(write(tmp_path, BASE)).config_hash()


def test_loopback_detection():
    for url, loop in [
        ("http://127.0.0.1:1/v1", True),
        ("http://localhost/v1", True),
        ("http://[::1]:8/v1", True),
        ("https://integrate.api.nvidia.com/v1", False),
        ("http://10.0.0.2:8000/v1", False),
    ]:
        assert config.ApiEndpoint(url=url, model_id="m").is_loopback() is loop


def test_num_fewshot_beyond_what_a_benchmark_has_is_refused(tmp_path):
    message = error(tmp_path, BASE, ["evaluation.tasks.mmlu.params.num_fewshot=6"])
    assert "evaluation.tasks.mmlu.params.num_fewshot is 6, but mmlu has at most 5" in message
    data = {**BASE, "evaluation": {"tasks": [{"name": "math500", "params": {"num_fewshot": 1}}]}}
    assert "math500 has no few-shot examples" in error(tmp_path, data)
    cfg = config.load(write(tmp_path, BASE), ["evaluation.params.num_fewshot=5"])
    assert cfg.task_params(cfg.evaluation.tasks[0]).num_fewshot == 5


COMPLETIONS = {
    "api_endpoint": {"url": "http://127.0.0.1:8000/v1", "model_id": "m", "type": "completions"}
}


def olmes(params: dict, name: str = "arc_easy_olmes") -> dict:
    return {"target": COMPLETIONS, "evaluation": {"tasks": [{"name": name, "params": params}]}}


@pytest.mark.parametrize("name", ["arc_easy_olmes", "winogrande_olmes", "mmlu_olmes"])
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"num_fewshot": 3}, "params.num_fewshot must be 0 or 5 (OLMES's fixed examples), not 3"),
        ({"num_fewshot": 1}, "params.num_fewshot must be 0 or 5 (OLMES's fixed examples), not 1"),
        ({"extra": {"num_fewshot": 0}}, "extra.num_fewshot is params.num_fewshot now"),
        ({"extra": {"formulation": "cloze"}}, "params.extra.formulation must be 'rc' or 'mc'"),
        ({"extra": {"formulation": ["rc"]}}, "params.extra.formulation must be 'rc' or 'mc'"),
    ],
)
def test_olmes_options_are_refused_at_run_naming_the_task(tmp_path, name, params, says):
    message = error(tmp_path, olmes(params, name))
    assert message.startswith(f"{tmp_path / 'c.yaml'}: evaluation.tasks.{name}: ")
    assert says in message


def test_olmes_shot_counts_it_has_are_accepted(tmp_path):
    for params in ({}, {"num_fewshot": 0}, {"num_fewshot": 5}, {"extra": {"formulation": "mc"}}):
        cfg = config.load(write(tmp_path, olmes(params)))
        assert cfg.task_params(cfg.evaluation.tasks[0]).num_fewshot == params.get("num_fewshot")


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"scorer": "multiple_choice", "scoring": "loglikelihood"}, "needs a completions endpoint"),
        ({"scoring": "logprobs"}, "params.extra.scoring must be 'generate' or 'loglikelihood'"),
        ({"scoring": "loglikelihood"}, "params.extra.scoring loglikelihood needs scorer multiple"),
        ({"scorer": "fuzzy"}, "unknown scorer 'fuzzy'"),
        ({"scorer": "judge"}, "scorer judge needs extra.judge_template"),
    ],
)
def test_jsonl_options_are_refused_at_run(tmp_path, extra, says):
    data = {**BASE, "evaluation": {"tasks": [{"name": "jsonl", "params": {"extra": extra}}]}}
    message = error(tmp_path, data)
    assert says in message
    assert "jsonl" in message


def test_jsonl_loglikelihood_on_a_chat_endpoint_names_the_setting(tmp_path):
    extra = {"scorer": "multiple_choice", "scoring": "loglikelihood", "file": "d.jsonl"}
    data = {**BASE, "evaluation": {"tasks": [{"name": "jsonl", "params": {"extra": extra}}]}}
    assert error(tmp_path, data).endswith(
        "benchmark 'jsonl' needs a completions endpoint (extra.scoring: loglikelihood), "
        "but target.api_endpoint.type is 'chat'"
    )
    data["target"] = COMPLETIONS
    config.load(write(tmp_path, data))


def test_request_shaping_is_validated(tmp_path):
    assert "'model' is set by proctor" in error(
        tmp_path, BASE, ["evaluation.params.extra_body={model: x}"]
    )
    headers = "target.api_endpoint.headers"
    assert "NAME of an environment variable" in error(tmp_path, BASE, [f"{headers}={{X-A: 'v 1'}}"])
    assert "api_key_name" in error(tmp_path, BASE, [f"{headers}={{Authorization: KEY}}"])
    cfg = config.load(
        write(tmp_path, BASE),
        [
            f"{headers}={{X-Org: ORG_TOKEN}}",
            "evaluation.params.extra_body={chat_template_kwargs: {enable_thinking: false}}",
            "evaluation.tasks.gsm8k.params.extra_body={top_k: 20}",
        ],
    )
    assert cfg.target.api_endpoint.headers == {"X-Org": "ORG_TOKEN"}
    gsm8k, mmlu = cfg.evaluation.tasks
    # Deep-merged like every param: the task adds to the evaluation's extra_body.
    assert cfg.task_params(gsm8k).extra_body == {
        "chat_template_kwargs": {"enable_thinking": False},
        "top_k": 20,
    }
    assert cfg.task_params(mmlu).extra_body == {"chat_template_kwargs": {"enable_thinking": False}}


def test_export_settings_default_and_validate(tmp_path):
    cfg = config.load(write(tmp_path, BASE))
    assert cfg.execution.auto_export == []
    assert cfg.export.mlflow.experiment_name == "proctor"
    assert cfg.export.mlflow.tracking_uri is None
    message = error(
        tmp_path, BASE, ["export.mlflow.tracking_uri=https://me:hunter2@mlflow.example"]
    )
    assert "export.mlflow.tracking_uri" in message and "MLFLOW_TRACKING_PASSWORD" in message
    assert "hunter2" not in message
    message = error(tmp_path, BASE, ["export.mlflow.run_name={task}-{modle}"])
    assert "export.mlflow.run_name" in message and "{model}" in message
    assert "execution.auto_export" in error(tmp_path, BASE, ["execution.auto_export=[wandb]"])


def test_auto_export_without_a_tracking_uri_starts_nothing(tmp_path, monkeypatch):
    from proctor.launcher.run.launch import prepare

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = write(tmp_path, {**BASE, "execution": {"auto_export": ["mlflow"]}})
    with pytest.raises(ProctorError, match="export.mlflow.tracking_uri or MLFLOW_TRACKING_URI"):
        prepare(str(path), cwd=tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    plan, files = prepare(str(path), cwd=tmp_path)
    assert "-m proctor.launcher.results.export" in files["run_all.sh"][0]
    assert (
        "proctor.launcher.results.export"
        not in prepare(str(write(tmp_path, BASE, "b.yaml")), cwd=tmp_path)[1]["run_all.sh"][0]
    )
