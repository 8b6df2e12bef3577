# Gradserve: `make serve` and `make test` need nothing but python3 (they make .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test bench openapi docs lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# stamps: reinstall when pyproject.toml changes
$(VENV)/.installed-serve: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# CI (CI=true) also installs the ray extra, so the batch-job tests run there; elsewhere
# they skip unless ray is installed (pip install -e '.[ray]'). The dev setup also
# installs the Python client (client/, its own distribution).
COMMA  := ,
EXTRAS := dev$(if $(filter true,$(CI)),$(COMMA)ray)
DEV    := $(VENV)/.installed-$(subst $(COMMA),-,$(EXTRAS))

$(DEV): pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' -e ./client
	touch $@

MODELS ?= examples/models

serve: $(VENV)/.installed-serve
	$(BIN)/python -m service --host $(HOST) --port $(PORT) --model-repository $(MODELS)

test: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: | $(BIN)/python
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/python -m bench
	$(BIN)/python -m bench.soak

openapi: $(VENV)/.installed-serve
	$(BIN)/python -m service.openapi

docs: $(VENV)/.installed-serve
	$(BIN)/python docs/generate.py

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

clean:
	rm -rf $(VENV) *.egg-info
