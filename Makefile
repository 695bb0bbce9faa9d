# compression-layer: every target bootstraps .venv on its own.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run demo test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first: 2.13.0 resolves to the local CPU wheel; anything else pulls CUDA.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[mlx,apis,tinker,dev]"
	touch $(STAMP)

# The main job: the MCP server over streamable HTTP on 127.0.0.1 (connection help on stderr).
run: install
	$(BIN)/compression-layer serve --transport http

# The bundled sample through the CLI, with its numbers.
demo: install
	$(BIN)/compression-layer compress src/compression_layer/data/samples/sample_service.py

test: install
	$(BIN)/python -m pytest -q -x

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python bench/compress.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
