# The evaluation container: a venv holding only the harness and the benchmark data.
#
# Built by `inv image` (proctor.launcher.images), which assembles a small build context:
#   Dockerfile, pyproject.toml, README.md (a stub), requirements-data.txt,
#   requirements-harness.txt (derived from pyproject's build requirements + `harness` extra),
#   src/proctor/__init__.py, src/proctor/harness/, and certs/ (the host's CA bundle when found,
#   which pip needs on networks that inspect TLS; never committed).
# With a registry, the default base works; here we pass BASE_IMAGE=proctor-base:bookworm.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# The container runs as an arbitrary --user uid:gid with no home directory and a read-only
# image: HOME points at /tmp, and nothing writes bytecode next to the installed code.
ENV VIRTUAL_ENV=/opt/proctor \
    PATH=/opt/proctor/bin:$PATH \
    HOME=/tmp \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The host's pip index settings, passed only when set. The classic builder records build-arg
# values in `docker history`, so an index URL carrying a password ends up there.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_DEFAULT_TIMEOUT

# Dependencies first, so an edit to the harness code rebuilds only the last layer.
COPY certs/ /tmp/build-certs/
COPY requirements-harness.txt requirements-data.txt /tmp/build-reqs/
RUN set -eu; \
    if [ -f /tmp/build-certs/ca-certificates.crt ]; then \
        export PIP_CERT=/tmp/build-certs/ca-certificates.crt; \
    fi; \
    python3 -m venv "$VIRTUAL_ENV"; \
    pip install -q --progress-bar off -r /tmp/build-reqs/requirements-harness.txt; \
    pip install -q --progress-bar off --no-deps -r /tmp/build-reqs/requirements-data.txt; \
    rm -rf /tmp/build-reqs /tmp/build-certs; \
    chmod -R a+rX "$VIRTUAL_ENV"

# The package itself: no network (build requirements are already in the venv). Only files
# lacking read permission are touched, so this layer does not copy the venv again. IFEval's
# NLTK data (Punkt's English tables) is written where NLTK looks: $VIRTUAL_ENV/nltk_data.
COPY pyproject.toml README.md /tmp/build-src/
COPY src/ /tmp/build-src/src/
RUN set -eu; \
    pip install -q --progress-bar off --no-deps --no-build-isolation /tmp/build-src; \
    rm -rf /tmp/build-src; \
    python -c "from pathlib import Path; from proctor.harness.benchmarks.ifeval import install_punkt; install_punkt(Path('$VIRTUAL_ENV/nltk_data'))"; \
    find "$VIRTUAL_ENV" \( ! -perm -a+r -o -type d ! -perm -a+x \) -exec chmod a+rX {} +

LABEL org.opencontainers.image.title="proctor-harness" \
      org.opencontainers.image.description="proctor's evaluation harness: runs one task.yaml"
CMD ["proctor-eval", "--help"]
