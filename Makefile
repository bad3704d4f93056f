# The two commands of the README. Each creates .venv (Python >= 3.12) if it is
# missing or older than pyproject.toml, then does its job.
PYTHON ?= $(shell .ci/find-python)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean-venv

run: $(VENV)/.installed
	$(BIN)/python -m sim $(ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 $(ARGS)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_scale.py $(ARGS)

$(VENV)/.installed: pyproject.toml
	test -n "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean-venv:
	rm -rf $(VENV)
