"""Finding invocations and jobs by id: prefixes, <inv>.<n>, <inv>/<task>, ambiguity."""

from __future__ import annotations

import pytest
import yaml

from proctor.launcher.errors import ProctorError
from proctor.launcher.jobs import invocations


def make(outputs, stamp, inv_id, tasks=("a", "b")):
    folder = outputs / f"{stamp}-{inv_id}"
    folder.mkdir(parents=True)
    record = {
        "schema_version": 1,
        "id": inv_id,
        "created": "2026-01-02T03:04:05+00:00",
        "deployment": None,
        "jobs": [{"id": f"{inv_id}.{i}", "index": i, "task": t} for i, t in enumerate(tasks)],
        "config": {"execution": {"mode": "sequential", "max_parallel": 2}},
    }
    (folder / "invocation.yaml").write_text(yaml.safe_dump(record))
    return folder


@pytest.fixture
def outputs(tmp_path):
    out = tmp_path / "outputs"
    make(out, "20260101-000000", "aa11aa11")
    make(out, "20260102-000000", "aa22bb22", tasks=("gsm8k", "custom.1", "custom.2"))
    make(out, "20260103-000000", "cc33cc33")
    (out / ".20260104-000000-dd44dd44.tmp").mkdir()  # half-written: never listed
    (out / "notes").mkdir()
    return out


def test_scan_is_newest_first_and_skips_other_folders(outputs):
    names = [f.name for f in invocations.scan(outputs)]
    assert names == [
        "20260103-000000-cc33cc33",
        "20260102-000000-aa22bb22",
        "20260101-000000-aa11aa11",
    ]


def test_no_id_means_the_latest(outputs):
    selection = invocations.resolve(outputs, None)
    assert selection.invocation.id == "cc33cc33" and selection.whole
    assert [j.task for j in selection.jobs] == ["a", "b"]
    assert selection.invocation.mode == "sequential" and selection.invocation.max_parallel == 2


@pytest.mark.parametrize(
    "prefix", ["c", "cc33", "cc33cc33", "20260103", "20260103-000000-cc33cc33"]
)
def test_unique_prefix(outputs, prefix):
    assert invocations.resolve(outputs, prefix).invocation.id == "cc33cc33"


def test_ambiguous_prefix_lists_the_candidates(outputs):
    with pytest.raises(ProctorError) as err:
        invocations.resolve(outputs, "aa")
    message = str(err.value)
    assert "ambiguous" in message
    assert "20260101-000000-aa11aa11" in message and "20260102-000000-aa22bb22" in message
    assert "cc33" not in message


def test_unknown_prefix(outputs):
    with pytest.raises(ProctorError, match="no invocation 'ff' in .*inv ls"):
        invocations.resolve(outputs, "ff")


@pytest.mark.parametrize(
    ("ident", "task"),
    [
        ("aa22.0", "gsm8k"),
        ("aa22.2", "custom.2"),
        ("aa22/custom.1", "custom.1"),
        ("aa22bb22/gsm8k", "gsm8k"),
    ],
)
def test_job_ids(outputs, ident, task):
    selection = invocations.resolve(outputs, ident)
    assert not selection.whole
    assert [j.task for j in selection.jobs] == [task]
    assert selection.jobs[0].folder == outputs / "20260102-000000-aa22bb22" / task


def test_job_by_index_and_by_name_name_the_same_job(outputs):
    by_index = invocations.resolve(outputs, "aa22.1").jobs[0]
    by_name = invocations.resolve(outputs, "aa22/custom.1").jobs[0]
    assert by_index == by_name and by_index.id == "aa22bb22.1"


@pytest.mark.parametrize("ident", ["aa22.7", "aa22/nope"])
def test_unknown_job_lists_the_jobs(outputs, ident):
    with pytest.raises(ProctorError) as err:
        invocations.resolve(outputs, ident)
    assert "aa22bb22.0 = aa22bb22/gsm8k" in str(err.value)


def test_job_id_of_an_ambiguous_invocation_is_ambiguous(outputs):
    with pytest.raises(ProctorError, match="ambiguous"):
        invocations.resolve(outputs, "aa.0")


def test_malformed_job_id(outputs):
    with pytest.raises(ProctorError, match=r"<invocation>\.<n>"):
        invocations.resolve(outputs, "aa22.x")


def test_a_job_is_not_an_invocation(outputs):
    with pytest.raises(ProctorError, match="names a job"):
        invocations.invocation(outputs, "aa22.0")


def test_missing_outputs_and_empty_outputs(tmp_path):
    with pytest.raises(ProctorError, match="does not exist"):
        invocations.outputs_dir(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProctorError, match="no invocations in .* inv run"):
        invocations.resolve(tmp_path / "empty", None)


@pytest.mark.parametrize("text", ["", "id: [", "just a string", "id: x\n"])
def test_broken_invocation_yaml_is_one_clear_error(outputs, text):
    (outputs / "20260103-000000-cc33cc33" / "invocation.yaml").write_text(text)
    with pytest.raises(ProctorError, match="invocation.yaml"):
        invocations.resolve(outputs, "cc33")
