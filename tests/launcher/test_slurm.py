"""The Slurm executor's pure parts: config keys, Slurm output parsing, state mapping, header."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from proctor.harness.taskfile import TaskSpec
from proctor.launcher import config
from proctor.launcher.errors import ProctorError
from proctor.launcher.executors.base import Terms
from proctor.launcher.executors.local import LocalExecutor
from proctor.launcher.executors.slurm import SlurmExecutor, commands, job_facts, retarget
from proctor.launcher.executors.slurm.commands import SlurmFact
from proctor.launcher.executors.slurm.scripts import render_sbatch, sbatch_options
from proctor.launcher.jobs.status import ExitMarker, Observation, derive
from proctor.launcher.run.plan import make_plan
from proctor.launcher.run.render import environment, render_files

BASE = {
    "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1", "model_id": "m"}},
    "evaluation": {"tasks": [{"name": "gsm8k"}]},
}


def validate(**execution):
    return config.validate({**BASE, "execution": execution}, "c.yaml")


def test_slurm_keys_are_validated_with_one_line_errors():
    ex = validate(type="slurm", partition="gpu", time_limit=90, mem="8G", max_resubmits=2).execution
    assert (ex.partition, ex.time_limit, ex.mem, ex.max_resubmits) == ("gpu", "90", "8G", 2)
    cases = {
        "unknown key 'execution.partiton' (did you mean 'partition'?)": dict(
            type="slurm", partiton="x"
        ),
        "partition applies to execution.type slurm, not local": dict(partition="x"),
        "max_parallel applies to execution.type local, not slurm": dict(
            type="slurm", max_parallel=2
        ),
        "--mem-per-cpu has its own key: set execution.mem": dict(
            type="slurm", sbatch_args=["--mem-per-cpu=2G"]
        ),
        "--output is set by proctor itself": dict(type="slurm", sbatch_args=["--output=x"]),
        "not one sbatch option": dict(type="slurm", sbatch_args=["--comment=a b"]),
        "must be a Slurm time": dict(type="slurm", time_limit="soon"),
        "must be a size": dict(type="slurm", mem="lots"),
        "must be a Slurm name": dict(type="slurm", partition="a b"),
        "input should be 'docker', 'podman' or 'none'": dict(type="slurm", container_runtime="lxc"),
    }
    for message, execution in cases.items():
        with pytest.raises(ProctorError) as err:
            validate(**execution)
        text = str(err.value)
        assert message.lower() in text.lower() and "\n" not in text, text


def deployed(deployment: dict, **execution) -> dict:
    return {
        **BASE,
        "target": {"api_endpoint": {"model_id": "m"}},
        "deployment": {"type": "docker", **deployment},
        "execution": {"type": "slurm", **execution},
    }


def test_a_docker_deployment_under_slurm_has_no_port_and_needs_a_runtime():
    for raw, message in [
        (deployed({"port": 8001}), "deployment.port does not apply to execution.type slurm"),
        (
            deployed({}, container_runtime="none"),
            "execution.container_runtime is none: set it to docker or podman",
        ),
    ]:
        with pytest.raises(ProctorError) as err:
            config.validate(raw, "c.yaml")
        assert message in str(err.value) and "\n" not in str(err.value), err.value
    assert config.validate(deployed({}, container_runtime="podman"), "c.yaml").deployment.type == (
        "docker"
    )


def test_each_job_gets_its_own_deploy_script_and_server(tmp_path):
    raw = deployed(
        {"container_port": 9000, "env_vars": {"K": "HOST_K"}}, container_runtime="podman"
    )
    raw["evaluation"] = {"tasks": [{"name": "gsm8k"}, {"name": "gsm8k"}]}
    plan = make_plan(config.validate(raw, "c.yaml"), tmp_path / "c.yaml", invocation_id="abcd1234")
    files = render_files(plan)
    assert "deploy.sh" not in files  # no invocation-wide server
    deploy = files["gsm8k.1/deploy.sh"][0]
    assert "RUNTIME=podman" in deploy and "SERVER=proctor-abcd1234-0-gsm8k.1-server" in deploy
    assert "PORT=''" in deploy and "free_port" in deploy  # chosen when it starts
    assert 'label "proctor.slurm-job=${SLURM_JOB_ID:-}"' in deploy
    assert "HOST_K" in deploy and files["gsm8k.2/deploy.sh"][0] != deploy
    sbatch = files["gsm8k.1/run.sbatch"][0]
    assert 'DEPLOY="$TASK_DIR/deploy.sh"' in sbatch and "trap stop_server EXIT" in sbatch
    assert "proctor.launcher.executors.slurm.retarget" in sbatch
    record = yaml.safe_load(files["invocation.yaml"][0])
    assert record["deployment"] == {
        "container": None,
        "image": "proctor-llamacpp:latest",
        "per_job": True,
    }


def test_retarget_keeps_the_path_and_writes_the_task_file_whole(tmp_path):
    assert retarget.retarget("https://10.0.0.5:8000/v1/chat/completions?x=1", 4242) == (
        "http://127.0.0.1:4242/v1/chat/completions?x=1"
    )
    raw = deployed({})
    plan = make_plan(config.validate(raw, "c.yaml"), tmp_path / "c.yaml")
    source = tmp_path / "task.yaml"
    source.write_text(plan.jobs[0].spec.to_yaml())
    out = tmp_path / "deployment" / "task.yaml"
    assert retarget.main([str(source), str(out), "4242"]) == 0
    moved = TaskSpec.load(out)
    assert moved.endpoint.url == "http://127.0.0.1:4242/v1/chat/completions"
    assert moved.config_hash() == plan.jobs[0].spec.config_hash()  # the journal continues
    assert retarget.main([str(source), str(out), "0"]) == 2
    assert retarget.main([str(tmp_path / "missing.yaml"), str(out), "4242"]) == 1


def test_parsers_read_slurms_parsable_output():
    assert commands.parse_job_id("123\n") == "123"
    assert commands.parse_job_id("124;cluster\n") == "124"
    with pytest.raises(ValueError):
        commands.parse_job_id("sbatch: error: nope")
    queue = commands.parse_squeue("5|PENDING|Priority\n6|RUNNING|None\n\n")
    assert queue["5"] == SlurmFact("5", "PENDING", "Priority")
    assert queue["6"].reason == "" and queue["6"].live
    acct = commands.parse_sacct(
        "7|FAILED|7:0|2026-12-02T10:00:00|2026-12-02T10:00:02\n"
        "7.batch|FAILED|7:0|2026-12-02T10:00:00|2026-12-02T10:00:02\n"
        "8|CANCELLED by 0|0:15|2026-12-02T10:00:00|Unknown\n"
        "9|TIMEOUT|0:0|None|None\n"
    )
    assert set(acct) == {"7", "8", "9"}
    assert (acct["7"].state, acct["7"].exit_code) == ("FAILED", 7)
    assert acct["7"].start == datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert (acct["8"].state, acct["8"].signal, acct["8"].end) == ("CANCELLED", 15, None)
    assert not acct["9"].live


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (None, 0),
        ("1", 60),
        ("90", 5400),
        ("2:30", 150),
        ("1:00:00", 3600),
        ("1-00", 86400),
        ("1-2:03", 93780),
        ("0-0:0:5", 5),
    ],
)
def test_time_limits_in_seconds(text, seconds):
    assert commands.time_limit_seconds(text) == seconds


NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
ONE = (1, "41")
TWO = (2, "42")
TERMS = SlurmExecutor.terms


def markers_of(markers: dict) -> str:
    """What the Slurm executor's _markers would say of these markers."""
    if markers.get("exit") is not None and markers["exit"].reason.startswith("walltime:"):
        return "walltime"
    if markers.get("exit") is not None and markers["exit"].code is not None:
        return "exited"
    return "started" if markers else "none"


def state_of(markers: dict, fact, attempt, *, young=False):
    facts = job_facts(fact, attempt, 4, markers=markers_of(markers), young=young)
    obs = Observation(
        now=NOW,
        script_alive=facts.script_alive,
        unit=facts.unit,
        queued=facts.queued,
        requeued=facts.requeued,
        attempt=facts.attempt,
        settling=facts.settling,
        terms=TERMS,
        **markers,
    )
    return derive(obs), facts


RUNNING = {"pre_start": True, "running": True}


@pytest.mark.parametrize(
    ("markers", "fact", "young", "state", "reason"),
    [
        ({}, SlurmFact("41", "PENDING", "Priority"), False, "PENDING", "Slurm: Priority"),
        ({}, SlurmFact("41", "PENDING", "JobHeldUser"), False, "PENDING", "JobHeldUser"),
        ({}, None, True, "PENDING", "queued"),
        (RUNNING, SlurmFact("41", "RUNNING"), False, "RUNNING", ""),
        # Slurm ended it before the script could write stage.exit: FAILED in Slurm's words.
        (RUNNING, SlurmFact("41", "TIMEOUT", exit_code=0), False, "FAILED", "TIMEOUT"),
        (RUNNING, SlurmFact("41", "OUT_OF_MEMORY", exit_code=0), False, "FAILED", "OUT_OF_MEMORY"),
        (RUNNING, SlurmFact("41", "NODE_FAIL", exit_code=0), False, "FAILED", "NODE_FAIL"),
        (RUNNING, SlurmFact("41", "PREEMPTED", exit_code=0), False, "FAILED", "PREEMPTED"),
        (RUNNING, SlurmFact("41", "BOOT_FAIL"), False, "FAILED", "BOOT_FAIL"),
        (
            RUNNING,
            SlurmFact("41", "FAILED", exit_code=7, signal=0),
            False,
            "FAILED",
            "exit code 7 (Slurm: FAILED)",
        ),
        (
            RUNNING,
            SlurmFact("41", "FAILED", exit_code=0, signal=9),
            False,
            "FAILED",
            "killed by signal 9 (Slurm: FAILED)",
        ),
        # Slurm says it ended, for no reason of its own, while the markers say running.
        (RUNNING, SlurmFact("41", "COMPLETED", exit_code=0), False, "LOST", "resume"),
        (RUNNING, SlurmFact("41", "CANCELLED", exit_code=0, signal=15), False, "LOST", "resume"),
        ({"pre_start": True}, SlurmFact("41", "COMPLETED"), False, "LOST", "resume"),
        # Gone from squeue and sacct: not LOST while sacct may lag, LOST after.
        (RUNNING, None, True, "RUNNING", "not listed by Slurm yet"),
        ({"pre_start": True}, None, True, "STARTING", "not listed by Slurm yet"),
        (RUNNING, None, False, "LOST", "resume"),
        # The script's own exit: Slurm's FAILED only echoes it.
        ({"exit": ExitMarker(7)}, SlurmFact("41", "FAILED", exit_code=7), False, "FAILED", "7"),
        ({"exit": ExitMarker(0)}, SlurmFact("41", "COMPLETED"), False, "SUCCEEDED", ""),
        # A TERM from Slurm (exit 143) explained by how Slurm ended the job.
        (
            {**RUNNING, "exit": ExitMarker(143)},
            SlurmFact("41", "PREEMPTED", exit_code=0, signal=15),
            False,
            "FAILED",
            "PREEMPTED (exit 143)",
        ),
        (
            {**RUNNING, "exit": ExitMarker(143)},
            SlurmFact("41", "FAILED", exit_code=143),
            False,
            "FAILED",
            "killed by SIGTERM (exit 143)",
        ),
        ({"killed": True}, SlurmFact("41", "RUNNING"), False, "KILLED", "stopping"),
        ({**RUNNING, "killed": True}, SlurmFact("41", "TIMEOUT"), False, "KILLED", "inv kill"),
    ],
)
def test_slurm_facts_feed_the_shared_derivation(markers, fact, young, state, reason):
    got, _facts = state_of(markers, fact, ONE, young=young)
    assert got.state == state, got
    assert reason in got.reason, got.reason
    if state == "FAILED" and "exit" not in markers:
        assert got.exit_code == (fact.exit_code or None)


def test_a_resubmitted_job_waits_as_pending_with_its_attempt():
    markers = {"running": True, "exit": ExitMarker(143, "walltime: resubmitted as Slurm job 42")}
    got, facts = state_of(markers, SlurmFact("42", "PENDING", "Dependency"), TWO)
    assert got.state == "PENDING" and "time limit" in got.reason and "Dependency" in got.reason
    assert facts.attempt == "2/4" and facts.requeued


@pytest.mark.parametrize(
    "markers",
    [{**RUNNING, "exit": ExitMarker(143)}, RUNNING, {"pre_start": True}],
    ids=["stopped by TERM", "killed before its exit", "during the deployment"],
)
@pytest.mark.parametrize("state", ["PENDING", "REQUEUED", "REQUEUE_HOLD"])
def test_a_job_slurm_requeued_is_pending_as_its_next_attempt(markers, state):
    # NODE_FAIL or PREEMPTED with --requeue: the same job id is queued again.
    got, facts = state_of(markers, SlurmFact("41", state, "BeginTime"), ONE)
    assert got.state == "PENDING" and "requeue by Slurm" in got.reason, got
    assert facts.attempt == "2/4" and facts.requeued and facts.queued
    # Once it runs again its script shows the attempt it counted itself.
    running, facts = state_of(RUNNING, SlurmFact("41", "RUNNING"), TWO)
    assert running.state == "RUNNING" and facts.attempt == "2/4"


def test_cluster_ends_are_named_in_slurms_words():
    for state in ("TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY"):
        facts = job_facts(SlurmFact("41", state, exit_code=0), ONE, 4, markers="none", young=False)
        assert facts.unit is not None and facts.unit.reason == state and not facts.unit.alive
        assert facts.unit.ended
    assert Terms(unit="Slurm job", service="Slurm", driver="the Slurm queue") == TERMS


def test_the_status_header_says_where_it_runs():
    assert SlurmExecutor.describe({"partition": "gpu", "container_runtime": "podman"}) == (
        "Slurm (partition gpu, runtime podman)"
    )
    assert SlurmExecutor.describe({}) == "Slurm (default partition, runtime docker)"
    assert LocalExecutor.describe({"mode": "sequential"}) == "sequential"


def test_the_header_and_script(tmp_path: Path):
    raw = {
        **BASE,
        "evaluation": {"tasks": [{"name": "gsm8k"}]},
        "execution": {
            "type": "slurm",
            "output_dir": str(tmp_path),
            "partition": "gpu",
            "account": "proj",
            "qos": "high",
            "time_limit": "4:00:00",
            "cpus_per_task": 4,
            "mem": "16G",
            "gpus_per_task": 1,
            "sbatch_args": ["--exclusive", "--constraint=a100"],
            "container_runtime": "podman",
        },
    }
    cfg = config.validate(raw, "c.yaml")
    plan = make_plan(cfg, tmp_path / "c.yaml")
    (job,) = plan.jobs
    options = sbatch_options(plan, job)
    for want in (
        "--partition=gpu",
        "--account=proj",
        "--qos=high",
        "--time=4:00:00",
        "--signal=B:USR1@30",
        "--cpus-per-task=4",
        "--mem=16G",
        "--gpus-per-task=1",
        "--exclusive",
        "--constraint=a100",
        "--requeue",
    ):
        assert want in options
    script = render_sbatch(plan, job, environment())
    assert "#SBATCH --partition=gpu\n" in script
    assert "podman run --init -i" in script and "docker run" not in script
    assert "MAX_ATTEMPTS=4" in script and "TIME_LIMIT_S=14400" in script
    header = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert len(header) == len(options)


def test_the_report_job_is_rendered_beside_the_tasks(tmp_path):
    raw = {
        **BASE,
        "evaluation": {"tasks": [{"name": "gsm8k"}, {"name": "gsm8k"}]},
        "execution": {"type": "slurm", "partition": "gpu", "time_limit": "30", "mem": "8G"},
    }
    plan = make_plan(config.validate(raw, "c.yaml"), tmp_path / "c.yaml", invocation_id="abcd1234")
    text, mode = render_files(plan)["report.sbatch"]
    assert mode == 0o755
    assert "#SBATCH --job-name=proctor-abcd1234-report" in text
    assert "#SBATCH --partition=gpu" in text and "#SBATCH --time=30" in text
    assert "--mem" not in text  # one CPU and the default memory: it only writes a page
    assert "TASKS=(gsm8k.1 gsm8k.2)" in text
    assert "proctor.launcher.results.htmlreport" in text
    with pytest.raises(ProctorError, match="report.sbatch"):
        config.validate({**BASE, "evaluation": {"tasks": [{"name": "report.sbatch"}]}}, "c.yaml")
