"""progress.json: how far a running task is, for `inv status` to read at any moment.

    {"schema_version": 1, "done": 120, "failed": 2, "total": 1319,
     "rate_per_s": 3.4, "eta_s": 352.6, "updated_at": "2024-11-28T03:24:00.123Z"}

``done`` counts scored samples, resumed ones included; ``failed`` counts samples whose
retries ran out in this process; the rate is over this process's recent completions
(resumed samples took no time here). The model is proctor.harness.exchange.ProgressFile;
field order is part of the format. The file is
replaced atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from proctor.harness.atomicfile import write_atomic
from proctor.harness.exchange import ProgressFile
from proctor.harness.journal import utc_now

FILENAME = "progress.json"
RATE_WINDOW_S = 30.0  # long enough to smooth bursts, short enough to follow a slowdown


class Progress:
    """Counts completions and writes progress.json."""

    def __init__(
        self,
        path: Path,
        *,
        total: int,
        done: int = 0,
        failed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start counting.

        Args:
            path: The progress.json file.
            total: Every (sample, repeat) pair of the task.
            done: Scored samples already journaled (a resume).
            failed: Samples that already ended in an error.
            clock: Monotonic seconds; tests pass a fake one.
        """
        self.path = path
        self.total = total
        self.done = done
        self.failed = failed
        self._clock = clock
        self._started = clock()
        self._recent: deque[float] = deque()

    def record(self, ok: bool) -> None:
        """Count one finished sample: scored (ok) or failed."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self._recent.append(self._clock())

    def rate_per_s(self) -> float:
        """Samples finished per second over the last RATE_WINDOW_S of this process."""
        now = self._clock()
        while self._recent and self._recent[0] < now - RATE_WINDOW_S:
            self._recent.popleft()
        span = min(RATE_WINDOW_S, now - self._started)
        return len(self._recent) / span if span > 0 else 0.0

    def snapshot(self) -> dict[str, object]:
        """The content of progress.json right now."""
        rate = self.rate_per_s()
        remaining = max(0, self.total - self.done - self.failed)
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
        return ProgressFile(
            done=self.done,
            failed=self.failed,
            total=self.total,
            rate_per_s=round(rate, 3),
            eta_s=None if eta is None else round(eta, 1),
            updated_at=utc_now(),
        ).model_dump()

    def write(self) -> None:
        """Replace progress.json with the current snapshot."""
        write_atomic(self.path, json.dumps(self.snapshot()) + "\n")
