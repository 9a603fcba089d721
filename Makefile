# The front door. `make run` and `make test` work from a fresh clone: they make the venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := 0.13.8
# psycopg's C extension (extra `pg-c`) where it can be built: a C compiler, libpq's headers
# (`pg_config`) and Python's (Debian: gcc, libpq-dev, python3-dev). .ci/run and the image always
# have them; without them psycopg runs its pure-Python layer (slower on PostgreSQL only).
PY_H   := $(shell $(PYTHON) -c 'import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) or "")' 2>/dev/null)
PG_C   := $(if $(and $(shell command -v pg_config),$(shell command -v cc),$(PY_H)),--extra pg-c)
# The venv is installed from uv.lock (`uv sync --locked`); the stamp changes with either file.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)$(if $(PG_C),-c)

# kustomize renders the Kubernetes overlays for `make lint`; built once from the Go module proxy
# (about 40 s) into .cache/, since no registry we use ships it.
KUSTOMIZE_VERSION := v5.7.1
KUSTOMIZE := .cache/kustomize-$(KUSTOMIZE_VERSION)/kustomize
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
# Mailpit, the SMTP server with a web UI and API that `make run` and the tests mail to; built
# the same way (about a minute, once per machine).
MAILPIT_VERSION := v1.33.1
MAILPIT := .cache/mailpit-$(MAILPIT_VERSION)/mailpit
K8S_OVERLAYS := $(sort $(dir $(wildcard deploy/kubernetes/overlays/*/kustomization.yaml \
	deploy/kubernetes/overlays/*/*/kustomization.yaml)))

.PHONY: venv run test test-fast lint lint-deploy manifests format chaos chaos-cluster fuzz bench \
	broker clean

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install -q uv==$(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never \
		$(BIN)/uv sync -q --locked --compile-bytecode --extra test --extra lint $(PG_C) \
		--python $(BIN)/python \
		|| { echo "make venv: uv sync failed: is uv.lock behind pyproject.toml (run $(BIN)/uv lock)? psycopg's C extension (extra pg-c) needs a C compiler and libpq-dev" >&2; exit 1; }
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# This machine (and CI) sets PYTHONDONTWRITEBYTECODE: without these .pyc files every process
# compiled ~460 modules at start, 2 s of a service's start-up. The image compiles them too.
venv: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 shared servicekit services actiepunten devtools bench >/dev/null

## the whole system on this machine: a Kafka broker, the three services, URLs and tokens
run: venv $(MAILPIT)
	$(BIN)/actiepunten run

## the whole test suite, integration and end-to-end tests on a real Kafka broker (not the crash
## runs: `make chaos`, `make chaos-cluster`; CI runs both after it)
## (two workers, each with brokers of its own, each taking a module on one store at a time, the
## slowest first: tests/conftest.py; TEST_WORKERS=0 runs one process)
TEST_WORKERS ?= 2
test: venv $(MAILPIT)
	$(BIN)/pytest -ra -m "not cluster and not chaos" $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)

## unit tests only (no broker)
test-fast: venv
	$(BIN)/pytest -ra tests/unit

lint: venv lint-deploy
	$(BIN)/ruff check .
	$(BIN)/mypy shared servicekit services actiepunten devtools deploy/kubernetes/*.py

## the deploy files, statically (no Docker engine, no cluster): image, compose, Kubernetes, shell
lint-deploy: venv $(KUSTOMIZE)
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(BIN)/yamllint --strict .
	$(BIN)/shellcheck deploy/*.sh .ci/run
	$(BIN)/python deploy/kubernetes/generate.py --check
	$(BIN)/python deploy/kubernetes/observability.py
	$(BIN)/python deploy/kubernetes/validate.py --kustomize $(KUSTOMIZE) $(K8S_OVERLAYS)

## rewrite the generated deploy files (Kubernetes topics and services, topics.sh) from the registries
manifests: venv
	$(BIN)/python deploy/kubernetes/generate.py

$(KUSTOMIZE):
	GOBIN=$(abspath $(dir $(KUSTOMIZE))) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(MAILPIT):
	GOBIN=$(abspath $(dir $(MAILPIT))) $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## the crash run: requests while services are SIGKILLed and Kafka restarts (FULL=1: 20,000)
chaos: venv $(MAILPIT)
	ACTIEPUNTEN_CHAOS_REQUESTS=$(if $(FULL),20000,2000) ACTIEPUNTEN_CHAOS_STORES=sqlite,postgres \
		$(BIN)/pytest -ra -s tests/chaos

## three brokers (KRaft, three JVMs) whose partition leaders are killed under load (CI runs it)
chaos-cluster: venv
	$(BIN)/pytest -ra -s -m cluster tests/cluster

## the API fuzzer, longer than in `make test`: 100 cases per operation and role (EXAMPLES=N)
## and the coverage phase (boundary values of every parameter)
fuzz: venv
	ACTIEPUNTEN_FUZZ_EXAMPLES=$(or $(EXAMPLES),100) ACTIEPUNTEN_FUZZ_COVERAGE=1 \
		$(BIN)/pytest -ra -m fuzz tests/fuzz

## benchmarks: figures and ratios to a baseline measured in the same run
bench: venv
	$(BIN)/python -m bench

## only the local Kafka broker with the topics
broker: venv
	$(BIN)/actiepunten broker

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
