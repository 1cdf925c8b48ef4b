"""The harness image installs only the harness extra: no module may import a launcher dependency."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ["docker", "invoke", "jinja2"]

PROBE = """
import importlib, json, pkgutil, sys
import proctor.harness
names = ["proctor.harness"] + [
    m.name for m in pkgutil.walk_packages(proctor.harness.__path__, "proctor.harness.")
]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_harness_imports_no_launcher_dependency() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(proc.stdout)
    assert "proctor.harness.runner" in report["imported"]
    assert "proctor.harness.__main__" in report["imported"]
    leaked = [m for m in report["loaded"] if m.split(".")[0] in FORBIDDEN]
    assert leaked == []
