"""harness.quickexit: what was printed arrives, the code is kept, and nothing after runs."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_now_flushes_both_streams_and_keeps_the_code(code):
    program = (
        "import atexit, sys\n"
        "from proctor.harness.quickexit import exit_now\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "print('out ' * 10000, end='')\n"  # more than one buffer, unflushed
        "print('err', file=sys.stderr, end='')\n"
        f"exit_now({code})\n"
        "print('after')\n"
    )
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert ran.returncode == code
    assert ran.stdout == "out " * 10000 and ran.stderr == "err"


def test_a_closed_stdout_does_not_stop_the_exit():
    program = "import sys\nfrom proctor.harness.quickexit import exit_now\nsys.stdout.close()\nexit_now(4)\n"
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert ran.returncode == 4 and ran.stderr == ""
