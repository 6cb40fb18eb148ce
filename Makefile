# woodcock_widgets: the two commands a new user runs are `make tutorial` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# This machine serves these exact torch builds from local disk and caps newer ones.
# Elsewhere, override: make TORCH_SPEC="torch torchvision" test
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/tutorial
export WOODCOCK_OFFLINE ?= 1
export WOODCOCK_REAL_AUDIO ?= $(abspath ../shared/real_audio)
export WOODCOCK_REAL_LABELED ?= $(abspath ../shared/real_labeled)

.PHONY: venv test test-fast tutorial lint format bench browser-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[test,browser,birdnet]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check woodcock_widgets tests benchmarks
	$(VENV)/bin/ruff format --check woodcock_widgets tests benchmarks

format: venv
	$(VENV)/bin/ruff format woodcock_widgets tests benchmarks
	$(VENV)/bin/ruff check --fix woodcock_widgets tests benchmarks

# Debian's chromium for the browser tests (playwright drives it; no browser download).
# Installed with apt-get when running as root (CI, containers); elsewhere the target says
# what to run, and never calls sudo itself.
CHROMIUM := /usr/bin/chromium

browser-deps:
	@if [ -x $(CHROMIUM) ]; then echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" -eq 0 ]; then apt-get update && apt-get install -y chromium; \
	else echo "error: $(CHROMIUM) is missing; install Debian's chromium (apt-get install chromium) and rerun" >&2; exit 1; fi

test: venv lint browser-deps
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not slow and not browser and not notebook"

# --resume: a second `make tutorial` skips the stages already done (same parameters)
tutorial: venv
	$(PY) -m woodcock_widgets tutorial --run-dir $(RUN_DIR) --resume

# Benchmarks side by side with OpenSoundscape, which lives in its own venv (same torch).
# `make bench BENCH_ARGS=--quick` for a smoke run; `BENCH_ARGS=--with-tutorial` adds it.
# Then folder prediction at field scale (throughput, scaling, memory; PREDICT_ARGS).
PEER_VENV := .venv-peer
PEER_SPEC ?= $(TORCH_SPEC) opensoundscape==0.13.2
BENCH_ARGS ?=
PREDICT_ARGS ?= $(filter --quick,$(BENCH_ARGS))

$(PEER_VENV)/.installed:
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet $(PEER_SPEC)
	touch $@

bench: venv $(PEER_VENV)/.installed
	$(PY) benchmarks/bench.py $(BENCH_ARGS)
	$(PY) benchmarks/predict_scale.py $(PREDICT_ARGS)

clean:
	rm -rf runs .pytest_cache benchmarks/results
