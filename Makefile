# The two commands of the README (make run, make test). Each creates .venv (Python >= 3.12) if it is
# missing or older than pyproject.toml, then does its job.
PYTHON ?= $(shell .ci/find-python)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run one test bench app clean-venv

# The main experiment (conf/experiment/main.yaml): 3 scenarios x 10 seeds on the local cores, then the report
run: $(VENV)/.installed
	$(BIN)/python -m sim.experiment $(ARGS)

# One simulation (python -m sim with Hydra overrides in ARGS)
one: $(VENV)/.installed
	$(BIN)/python -m sim $(ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 $(ARGS)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_scale.py $(ARGS)

# The classroom dashboard (README "The classroom dashboard"): http://localhost:8765, no internet needed
PORT ?= 8765
app: $(VENV)/.installed
	SOLARA_TELEMETRY_MIXPANEL_ENABLE=False $(BIN)/solara run sim/app.py --production --host localhost \
		--port $(PORT) --no-open --no-check-version $(ARGS)

$(VENV)/.installed: pyproject.toml
	test -n "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean-venv:
	rm -rf $(VENV)
