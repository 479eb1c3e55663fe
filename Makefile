# Two commands a new user needs: `make demo` and `make test`. Both are idempotent and do all
# the set-up: the virtual environment, the Python packages, and the Debian packages (Fashion-MNIST,
# Chromium) when this user may install them (tools/system-packages.sh says what it did).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test setup system data lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first: on these machines it is a local CPU wheel; the project only asks for torch>=2.4.
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

system:
	@sh tools/system-packages.sh

data: setup
	$(VENV)/bin/cnnopt data fetch fashion-mnist || echo "Fashion-MNIST not available: commands fall back to the bundled digits set where asked to."

# Without Fashion-MNIST (not installable, no network) the demo says so and runs on digits.
demo: setup system
	$(VENV)/bin/cnnopt optimize

# Two workers (each test pins one torch thread; CI has two cores): 5.7 min instead of 10.5.
# --dist loadfile keeps a file's module fixtures (trained toys) in one worker.
test: setup system
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
