"""Secrets by name: the process environment first, then the .env file (python-dotenv).

Values never leave memory here except through ``export_lines``, which run.sh reads
through a pipe (never a file, never a command line).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from proctor.launcher import safeyaml
from proctor.launcher.errors import ProctorError


def locate(env_file: str | None, cwd: Path) -> Path | None:
    """The .env to use: the one given (must exist), else ./.env when present."""
    if env_file:
        path = Path(env_file).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.exists():
            raise ProctorError(f"env file not found: {env_file} (fix --env-file or create it)")
        _check_readable(path)
        return path.resolve()
    default = cwd / ".env"
    if not default.exists():
        return None
    _check_readable(default)
    return default.resolve()


def _check_readable(path: Path) -> None:
    """A regular, readable UTF-8 file, or a ProctorError saying which it is not."""
    try:
        safeyaml.read_text(path)
    except ValueError as e:
        raise ProctorError(f"env file {path} {e}: fix it or pass another with --env-file") from None


def _values(env_file: Path | None) -> dict[str, str | None]:
    if env_file is None:
        return {}
    _check_readable(env_file)
    return dict(dotenv_values(env_file))


def environment(env_file: Path | None) -> dict[str, str]:
    """The .env values overlaid by the process environment (never overridden by the file)."""
    values = {k: v for k, v in _values(env_file).items() if v is not None}
    values.update(os.environ)
    return values


def require(names: Iterable[str], env: Mapping[str, str], env_file: Path | None) -> None:
    """Raise for the first variable that is unset or empty, saying where to set it."""
    for name in names:
        if not env.get(name):
            where = f"add it to {env_file}" if env_file else "export it or add it to ./.env"
            raise ProctorError(f"environment variable {name} is not set: {where}")


def export_lines(env_file: Path | None, names: Iterable[str]) -> str:
    """``export NAME=value`` lines for the named variables the process does not already have."""
    file_values = _values(env_file) if env_file and env_file.is_file() else {}
    lines = []
    for name in names:
        value = file_values.get(name)
        if not os.environ.get(name) and value:
            lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m proctor.launcher.envfile ENV_FILE NAME...``: print export lines for bash."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m proctor.launcher.envfile ENV_FILE|- NAME...", file=sys.stderr)
        return 2
    env_file = None if args[0] in ("", "-") else Path(args[0])
    if env_file is not None and not env_file.is_file():
        print(f"proctor: env file not found: {env_file}", file=sys.stderr)
        return 2
    try:
        print(export_lines(env_file, args[1:]))
    except ProctorError as e:
        print(f"proctor: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
