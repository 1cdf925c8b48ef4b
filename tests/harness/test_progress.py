"""progress.json: content, rate and ETA, and atomic replacement."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from proctor.harness.progress import RATE_WINDOW_S, Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_snapshot_counts_resumed_samples_and_rates_this_process(tmp_path: Path) -> None:
    clock = FakeClock()
    progress = Progress(tmp_path / "progress.json", total=100, done=40, clock=clock)
    assert progress.snapshot()["rate_per_s"] == 0.0 and progress.snapshot()["eta_s"] is None
    for _ in range(10):
        clock.now += 0.5
        progress.record(ok=True)
    progress.record(ok=False)
    snap = progress.snapshot()
    assert (snap["done"], snap["failed"], snap["total"]) == (50, 1, 100)
    assert snap["rate_per_s"] == 2.2  # 11 in 5 s
    assert snap["eta_s"] == round(49 / 2.2, 1)
    assert list(snap) == [
        "schema_version",
        "done",
        "failed",
        "total",
        "rate_per_s",
        "eta_s",
        "updated_at",
    ]


def test_rate_forgets_old_completions(tmp_path: Path) -> None:
    clock = FakeClock()
    progress = Progress(tmp_path / "progress.json", total=100, clock=clock)
    for _ in range(30):
        progress.record(ok=True)
    clock.now += RATE_WINDOW_S + 10
    progress.record(ok=True)
    assert progress.rate_per_s() == 1 / RATE_WINDOW_S


def test_finished_means_eta_zero(tmp_path: Path) -> None:
    progress = Progress(tmp_path / "progress.json", total=2, done=2)
    assert progress.snapshot()["eta_s"] == 0.0


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = Progress(path, total=10**9)
    progress.write()
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            progress.record(ok=True)
            progress.write()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        seen = [json.loads(path.read_text())["done"] for _ in range(2000)]
    finally:
        stop.set()
        writer.join()
    assert seen == sorted(seen)  # every read parsed, and never went backwards
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]
