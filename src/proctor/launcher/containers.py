"""Everything that talks to the Docker Engine: the only module that imports ``docker``.

Functions take the client as a parameter so tests can hand in a real or fake one.
"""

from __future__ import annotations

import docker
from docker.errors import DockerException, ImageNotFound
from proctor.launcher.errors import ProctorError

UNREACHABLE = (
    "cannot reach the Docker daemon ({detail}): start it (e.g. sudo systemctl start docker) "
    "or point DOCKER_HOST at it"
)


def connect() -> docker.DockerClient:
    """A client that has answered a ping, or a ProctorError saying how to fix it."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as e:
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ProctorError(UNREACHABLE.format(detail=detail)) from None
    return client


def require_images(client: docker.DockerClient, images: list[str], harness_image: str) -> None:
    """Raise for the first image the engine does not have (nothing can be pulled here)."""
    for image in dict.fromkeys(images):
        try:
            client.images.get(image)
        except ImageNotFound:
            if image == harness_image or image.startswith("proctor-harness:"):
                fix = "build it with `inv image` (or `make images`)"
            else:
                fix = "build or pull it, or fix the task's container"
            raise ProctorError(f"Docker image {image} not found: {fix}") from None
        except DockerException as e:
            raise ProctorError(UNREACHABLE.format(detail=str(e)[:160])) from None
