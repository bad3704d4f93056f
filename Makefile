# The two commands of the README (make run, make test). Each creates .venv (Python >= 3.12) if it is
# missing or older than pyproject.toml, then does its job.
PYTHON ?= $(shell .ci/find-python)
# numpy's AVX-512 kernels round exp/log/power differently from the AVX2 ones; without them every x86-64
# machine with AVX2 and FMA computes the same seeded run (README "Reproducibility"; the same value as
# sim.NUMPY_DISABLED_FEATURES, which `import sim` sets when numpy is not loaded yet: here it also covers
# the dashboard, whose server loads numpy before the app).
export NPY_DISABLE_CPU_FEATURES ?= X86_V4 AVX512_ICL AVX512_SPR
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run one test lint bench app clean-venv

# The main experiment (conf/experiment/main.yaml): 4 scenarios x 10 seeds on the local cores, then the report
run: $(VENV)/.installed
	$(BIN)/python -m sim.experiment $(ARGS)

# One simulation (python -m sim with Hydra overrides in ARGS)
one: $(VENV)/.installed
	$(BIN)/python -m sim $(ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 $(ARGS)

# Lint, format check and the architecture contract (pyproject.toml [tool.ruff], [tool.importlinter]); CI runs it
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_scale.py $(ARGS)

# The classroom dashboard (README "The classroom dashboard"): http://localhost:8765, no internet needed
PORT ?= 8765
app: $(VENV)/.installed
	SOLARA_TELEMETRY_MIXPANEL_ENABLE=False $(BIN)/solara run sim/classroom/app.py --production --host localhost \
		--port $(PORT) --no-open --no-check-version $(ARGS)

$(VENV)/.installed: pyproject.toml
	test -n "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "Installing the project and its test tools into $(VENV) (a few minutes on a fresh machine; pip shows each package)"
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
	touch $@

clean-venv:
	rm -rf $(VENV)
