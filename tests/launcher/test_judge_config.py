"""The judge in the config: where it goes, how its key travels, and each mistake in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.launcher import config
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.local import scripts
from proctor.launcher.run import render
from proctor.launcher.run.plan import make_plan

JUDGE = {
    "url": "https://judge.example.com/v1",
    "model_id": "judge-model",
    "api_key_name": "JUDGE_KEY",
    "params": {"temperature": 0.0, "max_tokens": 512, "parallelism": 3},
}


def base(**evaluation: Any) -> dict[str, Any]:
    return {
        "target": {
            "api_endpoint": {
                "url": "https://target.example.com/v1",
                "model_id": "m",
                "api_key_name": "TARGET_KEY",
            }
        },
        "evaluation": {"tasks": [{"name": "mtbench"}, {"name": "gsm8k"}], **evaluation},
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def error(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ProctorError) as e:
        config.load(write(tmp_path, data))
    assert "\n" not in str(e.value)
    return str(e.value)


def test_the_judge_reaches_judged_tasks_only_with_its_key_by_name(tmp_path: Path) -> None:
    data = base(judge=JUDGE)
    data["execution"] = {"output_dir": str(tmp_path / "out")}
    path = write(tmp_path, data)
    plan = make_plan(config.load(path), path, invocation_id="0123abcd")
    mtbench, gsm8k = plan.jobs
    assert mtbench.spec.judge is not None and gsm8k.spec.judge is None
    assert mtbench.spec.judge.model_id == "judge-model"
    assert mtbench.spec.judge.params.max_tokens == 512
    assert mtbench.env_vars == {"TARGET_KEY": "TARGET_KEY", "JUDGE_KEY": "JUDGE_KEY"}
    assert gsm8k.env_vars == {"TARGET_KEY": "TARGET_KEY"}
    assert "JUDGE_KEY" in plan.required_env()
    files = render.render_files(plan)
    run_sh = files["mtbench/run.sh"][0]
    assert "-e JUDGE_KEY" in run_sh
    task = yaml.safe_load(files["mtbench/task.yaml"][0])
    assert task["judge"]["api_key_name"] == "JUDGE_KEY" and "api_key" not in task["judge"]
    assert scripts.network(plan) == "bridge"  # neither endpoint is on this machine's loopback


def test_a_task_may_have_its_own_judge(tmp_path: Path) -> None:
    data = base(judge=JUDGE)
    data["evaluation"]["tasks"][0]["judge"] = {**JUDGE, "model_id": "other-judge"}
    cfg = config.load(write(tmp_path, data))
    assert cfg.task_judge(cfg.evaluation.tasks[0]).model_id == "other-judge"  # type: ignore[union-attr]


def test_the_judge_changes_the_config_hash_but_its_url_does_not(tmp_path: Path) -> None:
    def spec_hash(judge: dict[str, Any]) -> str:
        path = write(tmp_path, base(judge=judge))
        return make_plan(config.load(path), path).jobs[0].spec.config_hash()

    assert spec_hash(JUDGE) == spec_hash({**JUDGE, "url": "http://10.0.0.5:9000/v1"})
    assert spec_hash(JUDGE) != spec_hash({**JUDGE, "model_id": "another"})


def test_a_loopback_judge_makes_auto_network_host(tmp_path: Path) -> None:
    path = write(tmp_path, base(judge={**JUDGE, "url": "http://127.0.0.1:9999/v1"}))
    assert scripts.network(make_plan(config.load(path), path)) == "host"
    data = base(judge={**JUDGE, "url": "http://127.0.0.1:9999/v1"})
    data["execution"] = {"network": "bridge"}
    path = write(tmp_path, data)
    with pytest.raises(ProctorError, match="judge's url .* loopback"):
        scripts.network(make_plan(config.load(path), path))


def test_judged_benchmark_without_a_judge(tmp_path: Path) -> None:
    message = error(tmp_path, base())
    assert "benchmark 'mtbench' is scored by a judge model: set evaluation.judge" in message


def test_jsonl_scorer_judge_needs_a_judge(tmp_path: Path) -> None:
    data = base()
    data["evaluation"]["tasks"] = [
        {"name": "jsonl", "params": {"extra": {"scorer": "judge", "judge_template": "{response}"}}}
    ]
    assert "benchmark 'jsonl' is scored by a judge model" in error(tmp_path, data)


def test_judge_deployment_is_refused_in_one_line(tmp_path: Path) -> None:
    message = error(tmp_path, base(judge={**JUDGE, "deployment": {"type": "docker"}}))
    assert "evaluation.judge.deployment: a judge deployment is not supported" in message


def test_judge_mistakes_name_the_key(tmp_path: Path) -> None:
    message = error(tmp_path, base(judge={**JUDGE, "api_key_name": "sk-secret value"}))
    assert "evaluation.judge.api_key_name: " in message and "must be the NAME" in message
    assert "missing required key 'evaluation.judge.url'" in error(
        tmp_path, base(judge={"model_id": "j"})
    )
    message = error(tmp_path, base(judge={**JUDGE, "params": {"temprature": 0}}))
    assert "unknown key 'evaluation.judge.params.temprature'" in message
    assert "did you mean 'temperature'" in message
    message = error(tmp_path, base(judge={**JUDGE, "params": {"max_tokens": 0}}))
    assert message.startswith(f"{tmp_path / 'c.yaml'}: evaluation.judge.params.max_tokens")
