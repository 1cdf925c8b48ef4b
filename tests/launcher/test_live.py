"""The live view: what the bars say on a terminal, and plain lines everywhere else.

The view is fed rows derived by status.derive from observations made here; the real
terminal (a pseudo-terminal under tmux) is tests/integration/test_live_view.py's.
"""

from __future__ import annotations

import io
import re

from proctor.launcher.jobs import invocations, live
from proctor.launcher.jobs.status import (
    ExitMarker,
    JobRow,
    Observation,
    ProgressSeen,
    Snapshot,
    derive,
)
from tests.fakes.invocation import make_invocation, sample

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def rows_of(inv: invocations.Invocation, observations: list[Observation]) -> list[JobRow]:
    return [JobRow(job, obs, derive(obs)) for job, obs in zip(inv.jobs, observations, strict=False)]


def running(done: int, total: int, *, failed: int = 0, rate: float = 2.5, eta: float = 12):
    return Observation(
        running=True,
        script_alive=True,
        progress=ProgressSeen(done, failed, total, rate, eta),
    )


def three_jobs(tmp_path) -> invocations.Invocation:
    folder = make_invocation(
        tmp_path, "cafe0123", {t: [sample("1", 1.0)] for t in ("gsm8k", "mmlu", "arc")}
    )
    return invocations.load(folder)


def screen(text: str) -> str:
    return ESCAPES.sub("", text)


def test_the_bars_show_each_jobs_progress_rate_eta_errors_and_state(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    inv = three_jobs(tmp_path)
    rows = rows_of(
        inv,
        [
            running(31, 60, failed=2),
            Observation(exit=ExitMarker(code=0), progress=ProgressSeen(20, 0, 20)),
            Observation(pre_start=True, script_alive=True),
        ],
    )
    out = Terminal()
    board = live.Board(inv, out)
    with board:
        board.show(rows, Snapshot({inv.id: rows}))
    seen = screen(out.getvalue())
    lines = {line.split()[0]: line for line in seen.splitlines() if line.strip()}
    first, second, third = (job.id for job in inv.jobs)
    assert "31/60" in lines[first] and "2.5/s" in lines[first] and "ETA 12s" in lines[first]
    assert "2 errors" in lines[first] and "RUNNING" in lines[first] and "gsm8k" in lines[first]
    assert "20/20" in lines[second] and "SUCCEEDED" in lines[second]
    assert "ETA -" in lines[second]  # an ended job has no ETA, nor a rate
    assert "PENDING" in lines[third] or "STARTING" in lines[third]
    whole = lines["invocation"].rsplit("invocation", 1)[1]  # the last frame's
    assert "51/80" in whole and "2 errors" in whole and "1 SUCCEEDED" in whole
    assert "\u2501" in seen  # rich drew bars


def test_a_reason_is_shown_as_text_never_as_markup_or_control_codes(tmp_path):
    inv = three_jobs(tmp_path)
    hostile = "[bold red]boom[/] \x1b[2J\x07 cleared"
    rows = rows_of(inv, [Observation(), Observation(), Observation()])
    rows = [
        JobRow(rows[0].job, rows[0].obs, rows[0].status.__class__("FAILED", reason=hostile)),
        *rows[1:],
    ]
    out = Terminal()
    board = live.Board(inv, out)
    with board:
        board.show(rows, Snapshot({inv.id: rows}))
    raw = out.getvalue()
    assert "[bold red]boom[/]" in screen(raw)
    assert "\x1b[2J" not in raw and "\x07" not in raw


def test_the_bars_go_away_when_the_watch_ends(tmp_path):
    inv = three_jobs(tmp_path)
    rows = rows_of(inv, [running(1, 10)] * 3)
    out = Terminal()
    board = live.Board(inv, out)
    with board:
        board.show(rows, Snapshot({inv.id: rows}))
    # transient: the last thing written moves up over the four drawn lines, erasing each
    assert out.getvalue().endswith("\r" + "\x1b[1A\x1b[2K" * 4)


def test_not_a_terminal_prints_a_plain_line_when_states_change_and_counts_seldom(tmp_path):
    inv = three_jobs(tmp_path)
    out = io.StringIO()
    view = live.Lines(out, counts_every_s=3600)
    a = rows_of(inv, [running(1, 10)] * 3)
    b = rows_of(inv, [running(2, 10, failed=1)] * 3)  # only the counts moved
    c = rows_of(inv, [running(3, 10), *[Observation(exit=ExitMarker(code=0))] * 2])
    for rows in (a, a, b, b, c, c):
        view.show(rows, Snapshot({inv.id: rows}))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("3 RUNNING; samples 3/30")
    assert lines[1].endswith("1 RUNNING, 2 SUCCEEDED; samples 3/10")
    assert re.match(r"\d\d:\d\d:\d\d  ", lines[0])
    assert "\x1b" not in out.getvalue()


def test_not_a_terminal_prints_moved_counts_once_the_period_has_passed(tmp_path):
    inv = three_jobs(tmp_path)
    out = io.StringIO()
    view = live.Lines(out, counts_every_s=0)
    for done in (1, 1, 2, 3):
        rows = rows_of(inv, [running(done, 10)] * 3)
        view.show(rows, Snapshot({inv.id: rows}))
    assert [line.split("samples ")[1] for line in out.getvalue().splitlines()] == [
        "3/30",
        "6/30",
        "9/30",
    ]


def test_watch_looks_until_told_and_pauses_between_looks(tmp_path):
    inv = three_jobs(tmp_path)
    looks: list[int] = []
    pauses: list[float] = []

    def until(snap, rows) -> bool:
        looks.append(len(rows))
        return len(looks) == 3

    rows, snap = live.watch(inv, until=until, pause=pauses.append, out=io.StringIO(), every_s=0.5)
    assert looks == [3, 3, 3]
    assert pauses == [0.5, 0.5]  # none after the last look
    assert [r.job.id for r in rows] == [j.id for j in inv.jobs]
