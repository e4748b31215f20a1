# The two commands of the README: `make lab` and `make test`. Both set up first if needed.
.PHONY: setup lab test lint format

setup:
	@bash scripts/setup.sh

lab: setup
	.venv/bin/jupyter lab --ServerApp.root_dir=. --ServerApp.ip=127.0.0.1 --allow-root notebooks/00_workbench.ipynb

test: setup
	@bash scripts/test.sh

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks

format: setup
	.venv/bin/ruff format src tests benchmarks
	.venv/bin/ruff check --fix src tests benchmarks
