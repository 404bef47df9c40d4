# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_SPEC ?= examples/support_desk
DEMO_QUESTION ?= My new card still hasn't arrived. What should I do?
# e.g. make demo DEMO_ARGS=--no-serve  (stop after the scorecard)
DEMO_ARGS ?=

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/compound up $(DEMO_SPEC) --ask "$(DEMO_QUESTION)" $(DEMO_ARGS)

test: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
