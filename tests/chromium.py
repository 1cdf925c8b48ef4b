"""Open a local HTML file in a real headless Chromium (Debian's ``chromium`` package).

``load`` returns the DOM after the page's scripts ran (``--dump-dom``) and every
console message Chromium logged (``--enable-logging=stderr``: uncaught exceptions,
console.error, Content-Security-Policy violations and failed loads all show up as
``CONSOLE`` lines). ``screenshot`` saves a PNG. There is no fallback: without
Chromium the test fails, saying how to install it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? ?(?P<message>.*)$")


def binary() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: apt-get install -y chromium (Debian's package; "
            ".ci/run installs it)",
            pytrace=False,
        )
    return path


def _run(url: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="proctor-chromium-") as profile:
        return subprocess.run(
            [binary(), *FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


@dataclass
class Page:
    dom: str
    console: list[str]


def load(path: Path, fragment: str = "") -> Page:
    """The DOM after load and the console messages of ``path`` (with ``#fragment``)."""
    url = path.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    result = _run(url, "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    console = [m["message"] for line in result.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return Page(result.stdout, console)


def screenshot(path: Path, png: Path, size: str = "1280,2000") -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    result = _run(path.resolve().as_uri(), f"--screenshot={png}", f"--window-size={size}")
    assert result.returncode == 0 and png.is_file(), result.stderr[-2000:]


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    section: str | None  # id of the enclosing <section>, if any
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()


class _Collector(HTMLParser):
    VOID = {"meta", "input", "br", "img", "link", "hr", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        section = next((e.attrs.get("id") for e in reversed(self.open) if e.tag == "section"), None)
        element = Element(tag, {k: v or "" for k, v in attrs}, section)
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text.append(data)


def elements(dom: str) -> list[Element]:
    """Every element of a serialized DOM, with its attributes, section and text."""
    collector = _Collector()
    collector.feed(dom)
    return collector.elements
