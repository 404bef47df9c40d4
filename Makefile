# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_SPEC ?= examples/quickstart/compound.yaml

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/compound check $(DEMO_SPEC)
	$(BIN)/compound ask $(DEMO_SPEC) "What is the capital of France?"

test: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
