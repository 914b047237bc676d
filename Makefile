# qraptor: `make demo` runs the pipeline end to end on the shipped sample, `make test` the
# test suite. Both set up the virtualenv first (once; again when pyproject.toml changes).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: screenshots setup demo metrics lab test lint format bench clean-data help chromium notebooks tensorboard images stack-up stack-down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "qraptor needs Python 3.11, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, exactly this version: a CPU build on disk here (shared/STACK.md)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	# declares optuna<3 (broken with SQLAlchemy 2.1); works with optuna 4-5 (STACK.md)
	$(BIN)/python -m pip install --quiet --no-deps hydra-optuna-sweeper==1.3.0
	# the dashboard's 1.5 MB cartesian Plotly.js (npm; without it, plotly's full 4.8 MB one)
	$(BIN)/python -c 'from qraptor.dashboard.plotly_bundle import install; print(install())'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install qraptor with its dev tools

demo: setup  ## data pipeline, training and evaluation on the shipped sample (dvc repro), then the verdict
	@# dvc repro, the offline plots, the data in brief, one results table with its verdict,
	@# and the next commands named after this run (src/qraptor/cli/demo.py)
	qraptor demo

metrics: setup  ## every stage's DVC metrics in the terminal's width, then the results table
	@qraptor metrics

# The dashboard's end-to-end tests drive Debian's chromium (no browser download by a test tool).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:  ## install Debian's chromium for the dashboard's browser tests, if missing
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (dashboard browser tests)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

test: setup chromium  ## lint, layers, then the whole test suite (what CI runs)
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	lint-imports
	mypy
	pytest --durations=25

screenshots: setup chromium  ## docs/screenshots/ from the dashboard's browser test (the pictures the code draws)
	QRAPTOR_SCREENSHOTS=$(CURDIR)/docs/screenshots pytest -q tests/dashboard/test_dashboard_e2e.py -k photographed

lint: setup  ## ruff lint and format check
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks

format: setup  ## apply ruff's fixes and formatting
	ruff check --fix src tests benchmarks
	ruff format src tests benchmarks

bench: setup  ## benchmarks with their baselines (see benchmarks/README.md); figures in benchmarks/results/
	mkdir -p benchmarks/results
	python benchmarks/reduce.py --json benchmarks/results/reduce.json
	python benchmarks/env.py --json benchmarks/results/env.json
	python benchmarks/train.py --json benchmarks/results/train.json
	python benchmarks/dashboard.py --json benchmarks/results/dashboard.json
	python benchmarks/store_commands.py --json benchmarks/results/store_commands.json

LAB_PORT ?= 8888
lab: setup  ## JupyterLab on notebooks/ with the project's environment (run `make demo` first); LAB_PORT=8888
	jupyter lab --notebook-dir=notebooks --port=$(LAB_PORT) --no-browser

notebooks: setup  ## execute notebooks/ on the pipeline's outputs (run `make demo` first); into reports/notebooks/
	python -m qraptor.analysis.run_notebook notebooks/*.ipynb

# Every run folder's tensorboard/ event files: the demo's models/, `qraptor train`'s outputs/
# and multirun/ (one TensorBoard run per session folder).
TENSORBOARD_PORT ?= 6006
tensorboard: setup  ## TensorBoard on the runs' curves (training, eval/* validation, hparams); TENSORBOARD_PORT=6006
	@dirs=$$(for d in models outputs multirun; do [ -d "$$d" ] && printf '%s:%s,' "$$d" "$$d"; done); \
	if [ -z "$$dirs" ]; then echo "no run folders yet (models/, outputs/, multirun/): train one first, e.g. qraptor train experiment=quick"; exit 1; fi; \
	echo "TensorBoard on $${dirs%,} at http://localhost:$(TENSORBOARD_PORT) (Ctrl-C stops it)"; \
	tensorboard --logdir_spec "$${dirs%,}" --port $(TENSORBOARD_PORT)

clean-data:  ## remove pipeline outputs (DVC cache kept: `dvc checkout` restores them)
	rm -rf data/raw/generated data/interim data/processed data/tmp dvc_plots

# The container stack (deploy/, README "Deploying"). On a machine without a Docker engine
# (qraptor's CI), `eval "$$(sh deploy/local-engine.sh)"` makes one and prints the settings
# to pass: make images BASE=local/debian:bookworm BUILD_NETWORK=host, NETWORK=host below.
IMAGE ?= qraptor:latest
POSTGRES_IMAGE ?= qraptor-postgres:latest
BASE ?= python:3.11-slim
POSTGRES_BASE ?= $(if $(filter python:%,$(BASE)),debian:bookworm-slim,$(BASE))
BUILD_NETWORK ?=
STACK_ENV ?= deploy/stack.env
NETWORK ?= bridge
COMPOSE = docker compose --env-file $(STACK_ENV) -f deploy/compose.yaml $(if $(filter host,$(NETWORK)),-f deploy/compose.host-network.yaml)

images:  ## build the stack's images: qraptor (BASE=python:3.11-slim) and PostgreSQL
	sh deploy/context.sh
	docker build $(if $(BUILD_NETWORK),--network $(BUILD_NETWORK)) --build-arg BASE=$(BASE) -t $(IMAGE) -f deploy/Dockerfile .
	docker build $(if $(BUILD_NETWORK),--network $(BUILD_NETWORK)) --build-arg BASE=$(POSTGRES_BASE) -t $(POSTGRES_IMAGE) -f deploy/postgres/Dockerfile .

stack-up:  ## start the stack with deploy/stack.env (from stack.env.example) and wait until healthy
	@test -f $(STACK_ENV) || { echo "cp deploy/stack.env.example $(STACK_ENV), set its two passwords, then make stack-up"; exit 2; }
	$(COMPOSE) up -d --wait --wait-timeout 300
	@$(COMPOSE) ps

stack-down:  ## stop the stack; its volumes are kept (VOLUMES=1 deletes them too)
	$(COMPOSE) down $(if $(VOLUMES),-v)
