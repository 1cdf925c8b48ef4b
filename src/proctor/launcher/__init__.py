"""Host side: config, plan, render, containers, status."""

from pathlib import Path

# The Jinja2 templates of the scripts and of report.html, at the repository's root.
TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
