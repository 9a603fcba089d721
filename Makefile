# The front door. `make run` and `make test` work from a fresh clone: they make the venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := 0.13.8
# The venv is installed from uv.lock (`uv sync --locked`); the stamp changes with either file.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)

.PHONY: venv run test test-fast lint format chaos bench broker clean

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install -q uv==$(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never \
		$(BIN)/uv sync -q --locked --extra test --extra lint --python $(BIN)/python
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

## the whole system on this machine: a Kafka broker, the three services, URLs and tokens
run: venv
	$(BIN)/actiepunten run

## the whole test suite, integration and end-to-end tests on a real Kafka broker
test: venv
	$(BIN)/pytest -ra

## unit tests only (no broker)
test-fast: venv
	$(BIN)/pytest -ra tests/unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy shared servicekit services actiepunten

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## the crash run: requests while services are SIGKILLed and Kafka restarts (FULL=1: 20,000)
chaos: venv
	ACTIEPUNTEN_CHAOS_REQUESTS=$(if $(FULL),20000,2000) ACTIEPUNTEN_CHAOS_STORES=sqlite,postgres \
		$(BIN)/pytest -ra -s tests/chaos

## benchmarks: figures and ratios to a baseline measured in the same run
bench: venv
	$(BIN)/python -m bench

## only the local Kafka broker with the topics
broker: venv
	$(BIN)/actiepunten broker

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
