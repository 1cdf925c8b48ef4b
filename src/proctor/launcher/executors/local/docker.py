"""Everything that talks to the Docker Engine: the only module that imports ``docker``.

Part of the local executor. Functions take the client as a parameter so tests can hand
in a real or fake one. The SDK is imported on first use: `inv status` and friends start
faster without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from proctor.launcher.errors import ProctorError
from proctor.launcher.run.labels import LABEL_INVOCATION, LABEL_JOB, LABEL_ROLE

if TYPE_CHECKING:
    import docker

# Docker states in which a container still holds (or is about to hold) a running process.
ALIVE_STATES = frozenset({"created", "running", "restarting", "paused"})
_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")

UNREACHABLE = (
    "cannot reach the Docker daemon ({detail}): start it (e.g. sudo systemctl start docker) "
    "or point DOCKER_HOST at it"
)


def connect() -> docker.DockerClient:
    """A client that has answered a ping, or a ProctorError saying how to fix it."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as e:
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ProctorError(UNREACHABLE.format(detail=detail)) from None
    return client


def require_images(
    client: docker.DockerClient, images: list[str], harness_image: str
) -> dict[str, dict[str, str]]:
    """Every image's labels; raise for the first image the engine does not have (nothing
    can be pulled here)."""
    from docker.errors import DockerException, ImageNotFound

    labels: dict[str, dict[str, str]] = {}
    for image in dict.fromkeys(images):
        try:
            labels[image] = dict(client.images.get(image).labels or {})
        except ImageNotFound:
            if image == harness_image or image.startswith("proctor-harness:"):
                fix = "build it with `inv image` (or `make images`)"
            else:
                fix = "build or pull it, or fix the task's container"
            raise ProctorError(f"Docker image {image} not found: {fix}") from None
        except DockerException as e:
            raise ProctorError(UNREACHABLE.format(detail=str(e)[:160])) from None
    return labels


@dataclass(frozen=True)
class Container:
    """What one list call tells about a container (no per-container inspect)."""

    id: str
    name: str
    state: str  # created, running, restarting, paused, removing, exited, dead
    exit_code: int | None  # for exited containers
    labels: dict[str, str]

    @property
    def alive(self) -> bool:
        return self.state in ALIVE_STATES

    @property
    def job(self) -> str | None:
        return self.labels.get(LABEL_JOB)

    @property
    def role(self) -> str:
        return self.labels.get(LABEL_ROLE, "task")


def list_containers(client: docker.DockerClient, **labels: str) -> list[Container]:
    """Every proctor container (running or not) with the given label values, in ONE API call.

    Args:
        client: A connected client.
        labels: Label name -> value to filter on, e.g. ``{LABEL_INVOCATION: "0123abcd"}``.

    Raises:
        ProctorError: The daemon stopped answering.
    """
    from docker.errors import DockerException

    filters = [LABEL_INVOCATION] + [f"{key}={value}" for key, value in labels.items()]
    try:
        # sparse: the list endpoint's data only; otherwise the SDK inspects each container.
        found = client.containers.list(all=True, sparse=True, filters={"label": filters})
    except DockerException as e:
        raise ProctorError(UNREACHABLE.format(detail=str(e)[:160])) from None
    out = []
    for c in found:
        attrs = c.attrs
        names = attrs.get("Names") or [attrs.get("Id", "")[:12]]
        match = _EXIT_CODE.match(attrs.get("Status") or "")
        out.append(
            Container(
                id=attrs.get("Id", ""),
                name=names[0].lstrip("/"),
                state=str(attrs.get("State") or "unknown"),
                exit_code=int(match[1]) if match else None,
                labels=dict(attrs.get("Labels") or {}),
            )
        )
    return out


def stop_containers(
    client: docker.DockerClient, containers: Iterable[Container], grace: float
) -> list[str]:
    """Stop containers at once: SIGTERM, then SIGKILL after ``grace`` seconds (docker stop).

    A container that is already gone or stopped is fine. Returns the names it stopped.
    """
    from docker.errors import APIError, NotFound

    def stop(container: Container) -> str | None:
        try:
            client.api.stop(container.id, timeout=int(max(grace, 0)))
        except NotFound:
            return None
        except APIError as e:
            # Someone else may be stopping or removing it at the same moment (run_all.sh
            # stops its server as it ends): only a container still running is a failure.
            try:
                running = client.api.inspect_container(container.id)["State"]["Running"]
            except NotFound:
                return None
            if running:
                raise ProctorError(
                    f"cannot stop container {container.name}: {e.explanation}"
                ) from None
            return None
        return container.name

    todo = list(containers)
    if not todo:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
        return [name for name in pool.map(stop, todo) if name]
