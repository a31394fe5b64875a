# The two commands of the quick start: `make study` (main job) and `make test`.
# Both set up their own environment first (scripts/bootstrap.sh is idempotent).
VENV ?= .venv
BIN := $(VENV)/bin
THREADS ?= 2

.PHONY: setup study test lint bench

setup:
	@scripts/bootstrap.sh

study: setup
	WEIGHTSPACE_THREADS=$(THREADS) $(BIN)/weightspace study --preset finetune --out studies/finetune

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: setup
	@WEIGHTSPACE_BROWSER=1 scripts/bootstrap.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	WEIGHTSPACE_THREADS=1 $(BIN)/python -m pytest -m "not gpu" -p no:cacheprovider

bench: setup
	$(BIN)/python bench/analyze_vs_weightwatcher.py
