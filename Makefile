# One entry point for every habit: install, serve, test, lint, bench.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install serve test lint bench screenshots clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The default install needs no compiler; the test extras add llama-cpp-python (compiled once, then cached by pip).
# llama.cpp is built for any x86-64 with AVX2, not for the build machine: a native build used the
# AMX and AVX-512 instructions this VM's CPU advertises, and died with "Illegal instruction".
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF
$(STAMP): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e ".[dev,local]"
	touch $(STAMP)

install: $(BIN)/python
	$(BIN)/pip install -q -e .

serve: install
	$(BIN)/hilo serve

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check hilo tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/turns.py --snapshot --db both

# PNGs of the web pages (chat, chat on a phone, console, shop, council) for the README; needs chromium.
screenshots: $(STAMP)
	$(BIN)/python -m hilo.testing.screenshots docs/screenshots

clean:
	rm -rf $(VENV) hilo.db hilo-data
