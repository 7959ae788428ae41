# One entry point for every habit: install, serve, test, lint, bench.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install serve test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The default install needs no compiler; the test extras add llama-cpp-python (compiled once, then cached by pip).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,local]"
	touch $(STAMP)

install: $(BIN)/python
	$(BIN)/pip install -q -e .

serve: install
	$(BIN)/hilo serve

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check hilo tests bench

bench: $(STAMP)
	$(BIN)/python bench/turns.py --db both

clean:
	rm -rf $(VENV) hilo.db hilo-data
