"""Make the images tasks run in: the local base image and the harness image.

Talks to Docker through the `docker` CLI (only the containers module uses the SDK). The
harness image is built from a small context assembled in a temporary folder, so the host's
CA bundle can go in without ever landing in the repository, and it carries a label with a
hash of that context: when an image with the current hash exists, nothing is built.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from proctor import __version__
from proctor.launcher.errors import ProctorError

BASE_IMAGE = "proctor-base:bookworm"
HARNESS_REPOSITORY = "proctor-harness"
# A developer setting: a checkout's own tag for the harness image, so two worktrees that
# build different harness code do not retag each other's `latest`. Unset for users.
_DEV_TAG = os.environ.get("PROCTOR_IMAGE_TAG", "").strip()
HARNESS_IMAGE = f"{HARNESS_REPOSITORY}:{__version__}" + (f"-{_DEV_TAG}" if _DEV_TAG else "")
HARNESS_LATEST = f"{HARNESS_REPOSITORY}:{_DEV_TAG or 'latest'}"
INPUTS_LABEL = "proctor.inputs-hash"
# The harness image's sources alone (no base image): what `inv run` compares with the
# checkout, so an image built from other code is named before it runs.
SOURCE_LABEL = "proctor.source-hash"

SERVER_REPOSITORY = "proctor-llamacpp"
SERVER_IMAGE = f"{SERVER_REPOSITORY}:{__version__}" + (f"-{_DEV_TAG}" if _DEV_TAG else "")
SERVER_LATEST = f"{SERVER_REPOSITORY}:{_DEV_TAG or 'latest'}"

BASE_SCRIPT = Path("docker/base-image.sh")
DOCKERFILE = Path("docker/harness.Dockerfile")
SERVER_DOCKERFILE = Path("docker/llamacpp.Dockerfile")
# Applied to llama-cpp-python inside the server image (echoed logprobs; see the file).
SERVER_PATCH = Path("docker/llamacpp_echo_logprobs.py")

# pip settings worth carrying into the build; values reach docker through its environment
# (`--build-arg NAME`), never its command line, and are never printed.
PIP_SETTINGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT")
# Docker's predefined build args: used by RUN steps, left out of the image's history.
PROXY_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
# Where the usual distributions keep the system CA bundle, after what the environment names.
CA_BUNDLE_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
CA_BUNDLE_PATHS = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
CONTEXT_CA = Path("certs/ca-certificates.crt")

Log = Callable[[str], None]

# The name and extras of a requirement: `proctor[launcher]`, `pyyaml==6.0.2`.
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")

_DOCKER_DOWN = (
    "cannot reach the Docker daemon: start it (sudo systemctl start docker) or set DOCKER_HOST"
)


def ensure_images(
    repo_root: Path,
    *,
    force: bool = False,
    base_image: str = BASE_IMAGE,
    server: bool = True,
    log: Log = print,
) -> None:
    """Make the base image when missing, then build the harness and model-server images
    unless they are current.

    Args:
        repo_root: The proctor checkout (holds docker/, pyproject.toml, src/).
        force: Rebuild the images without Docker's layer cache, even when current.
        base_image: What the images are built FROM; only the default is made locally.
        server: Also build the llama.cpp model-server image (the quickstart's).
        log: Receives progress lines, including the build output.

    Raises:
        ProctorError: Docker is unreachable, or making an image failed.
    """
    repo_root = repo_root.resolve()
    _check_daemon()
    if base_image == BASE_IMAGE and _image_id(base_image) is None:
        _make_base_image(repo_root, base_image, log)
    base_id = _image_id(base_image) or base_image

    with tempfile.TemporaryDirectory(prefix="proctor-build-") as tmp:
        context = Path(tmp)
        assemble_context(repo_root, context)
        _ensure(context, base_image, base_id, (HARNESS_IMAGE, HARNESS_LATEST), force, log)
    if server:
        with tempfile.TemporaryDirectory(prefix="proctor-build-") as tmp:
            context = Path(tmp)
            shutil.copyfile(repo_root / SERVER_DOCKERFILE, context / "Dockerfile")
            shutil.copyfile(repo_root / SERVER_PATCH, context / SERVER_PATCH.name)
            (context / CONTEXT_CA.parent).mkdir()
            _ensure(context, base_image, base_id, (SERVER_IMAGE, SERVER_LATEST), force, log)


def _ensure(
    context: Path, base_image: str, base_id: str, tags: tuple[str, ...], force: bool, log: Log
) -> None:
    """Build ``context`` as ``tags`` unless an image built from the same inputs exists."""
    digest = context_hash(context, base_id)
    source = context_hash(context, "")
    if not force:
        current = _image_with_label(INPUTS_LABEL, digest)
        if current is not None:
            _tag(current, *tags)
            log(f"{tags[0]} is up to date (inputs {digest[:12]})")
            return
    ca = find_ca_bundle()
    if ca is not None:
        (context / CONTEXT_CA).write_bytes(ca.read_bytes())
    _build(context, base_image, digest, source, tags, force=force, log=log)


def harness_requirements(pyproject: Path) -> list[str]:
    """What the harness image installs before the package: build requirements + `harness` extra.

    References to the project's own extras (`proctor[x]`) are expanded, never installed.
    """
    meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    name = _normalize(meta["project"]["name"])
    extras = meta["project"].get("optional-dependencies", {})
    if "harness" not in extras:
        raise ProctorError(f"{pyproject} has no `harness` extra: the harness image needs one")
    out: list[str] = list(meta.get("build-system", {}).get("requires", []))
    out += meta["project"].get("dependencies", [])

    def expand(extra: str, seen: set[str]) -> None:
        seen.add(extra)
        for spec in extras.get(extra, []):
            match = _REQUIREMENT.match(spec)
            if match and _normalize(match[1]) == name:
                inner = {e.strip() for e in (match[2] or "").split(",") if e.strip()}
                for other in sorted(inner - seen):
                    expand(other, seen)
            elif spec not in out:
                out.append(spec)

    expand("harness", set())
    return out


def source_hash(repo_root: Path) -> str:
    """The harness sources' hash as ``inv image`` labels the image with (SOURCE_LABEL)."""
    with tempfile.TemporaryDirectory(prefix="proctor-source-") as tmp:
        assemble_context(repo_root, Path(tmp))
        return context_hash(Path(tmp), "")


def assemble_context(repo_root: Path, context: Path) -> None:
    """Write the harness image's build context (everything but the CA bundle) into `context`."""
    context.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_root / DOCKERFILE, context / "Dockerfile")
    shutil.copyfile(repo_root / "pyproject.toml", context / "pyproject.toml")
    shutil.copyfile(repo_root / "requirements-data.txt", context / "requirements-data.txt")
    # pyproject names a readme; the image has no use for the real one, and a stub keeps
    # README edits from rebuilding it.
    (context / "README.md").write_text("proctor harness\n", encoding="utf-8")
    reqs = harness_requirements(repo_root / "pyproject.toml")
    (context / "requirements-harness.txt").write_text(
        "# Derived from pyproject.toml by proctor.launcher.images.\n" + "\n".join(reqs) + "\n",
        encoding="utf-8",
    )
    src = context / "src" / "proctor"
    src.mkdir(parents=True)
    shutil.copyfile(repo_root / "src/proctor/__init__.py", src / "__init__.py")
    shutil.copytree(
        repo_root / "src/proctor/harness",
        src / "harness",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (context / CONTEXT_CA.parent).mkdir(exist_ok=True)


def context_hash(context: Path, base_id: str) -> str:
    """A sha256 over the base image and every context file, the CA bundle aside."""
    digest = hashlib.sha256(f"base {base_id}\n".encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context)
        if rel == CONTEXT_CA:
            continue
        data = path.read_bytes()
        digest.update(f"{rel.as_posix()} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def find_ca_bundle() -> Path | None:
    """The host's CA bundle, which pip inside the build needs where TLS is inspected."""
    candidates: list[str] = [os.environ.get(name, "") for name in CA_BUNDLE_ENV]
    candidates.append(ssl.get_default_verify_paths().cafile or "")
    candidates += CA_BUNDLE_PATHS
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _build(
    context: Path,
    base_image: str,
    digest: str,
    source: str,
    tags: tuple[str, ...],
    *,
    force: bool,
    log: Log,
) -> None:
    env = dict(os.environ)
    passed: list[str] = []
    for name in PIP_SETTINGS:
        value = env.get(name, "").strip()
        if name.endswith("_URL"):
            value = _reachable_from_container(value)
        if value:
            env[name] = value
            passed.append(name)
    passed += [name for name in PROXY_SETTINGS if env.get(name)]
    cmd = ["docker", "build", "--force-rm", "--file", str(context / "Dockerfile")]
    cmd += ["--build-arg", f"BASE_IMAGE={base_image}", "--label", f"{INPUTS_LABEL}={digest}"]
    cmd += ["--label", f"{SOURCE_LABEL}={source}"]
    for tag in tags:
        cmd += ["--tag", tag]
    for name in passed:
        cmd += ["--build-arg", name]
    if force:
        cmd.append("--no-cache")
    cmd.append(str(context))

    image = tags[0]
    previous = _image_id(image)
    ca_note = "with the host's CA bundle" if (context / CONTEXT_CA).exists() else "no CA bundle"
    settings = f", passing {', '.join(passed)}" if passed else ""
    log(f"building {image} from {base_image} ({ca_note}{settings})")
    started = time.monotonic()
    code = _stream(cmd, env=env, log=log)
    if code != 0:
        raise ProctorError(
            f"building {image} failed (docker build exit {code}): see the output above"
        )
    log(f"built {image} in {time.monotonic() - started:.0f} s (inputs {digest[:12]})")
    if previous is not None and previous != _image_id(image):
        # The old build is now untagged; drop it unless something still uses it.
        _run(["docker", "image", "rm", previous])


def _reachable_from_container(urls: str) -> str:
    """Drop index locations on the host's disk (file: URLs, paths): a build cannot see them."""
    return " ".join(u for u in urls.split() if "://" in u and not u.startswith("file:"))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _make_base_image(repo_root: Path, name: str, log: Log) -> None:
    log(f"making the base image {name} (debootstrap, about a minute)")
    code = _stream(["bash", str(repo_root / BASE_SCRIPT), name], env=None, log=log)
    if code != 0:
        raise ProctorError(
            f"making the base image {name} failed (exit {code}): see the output above; "
            f"{BASE_SCRIPT} needs root and debootstrap (apt-get install debootstrap)"
        )


def _check_daemon() -> None:
    try:
        result = _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=60)
    except subprocess.TimeoutExpired:
        raise ProctorError(_DOCKER_DOWN) from None
    if result.returncode == 0 and result.stdout.strip():
        return
    if "permission denied" in result.stderr.lower():
        raise ProctorError(
            "permission denied on the Docker socket: add yourself to the docker group "
            "(sudo usermod -aG docker $USER) and log in again"
        )
    raise ProctorError(_DOCKER_DOWN)


def _image_id(ref: str) -> str | None:
    result = _run(["docker", "image", "inspect", "--format", "{{.Id}}", ref])
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def _image_with_label(label: str, value: str) -> str | None:
    result = _run(
        ["docker", "images", "--quiet", "--no-trunc", "--filter", f"label={label}={value}"]
    )
    ids = result.stdout.split() if result.returncode == 0 else []
    return ids[0] if ids else None


def _tag(image_id: str, *refs: str) -> None:
    for ref in refs:
        if _image_id(ref) != image_id:
            result = _run(["docker", "tag", image_id, ref])
            if result.returncode != 0:
                raise ProctorError(f"cannot tag {image_id[:19]} as {ref}: {_last_line(result)}")


def _run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ProctorError(_missing(cmd[0])) from None


def _stream(cmd: list[str], *, env: dict[str, str] | None, log: Log) -> int:
    """Run `cmd`, handing each output line to `log`; return its exit code."""
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )
    except FileNotFoundError:
        raise ProctorError(_missing(cmd[0])) from None
    with proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log(line.rstrip("\n"))
    return proc.returncode


def _missing(program: str) -> str:
    if program == "docker":
        return "the docker command is missing: install Docker Engine (apt-get install docker.io)"
    return f"{program} is missing: install it and try again"


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"
