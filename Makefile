# Two commands from a fresh clone: `make train` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install train test test-full lint bench clean help

help:
	@echo "make train   install (first time) and train the default experiment (GAN on digits)"
	@echo "make test    install (first time) and run the fast tier (minutes): maths, contract, one run per entry point"
	@echo "make test-full  every test, the claim runs included (what CI runs)"
	@echo "make lint    ruff: lint and import order (configured in pyproject.toml)"
	@echo "make bench   time genzoo's training step against a plain PyTorch loop"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(PY) src/train.py $(ARGS)

# both tiers run on every core (pytest-xdist; WORKERS=0 runs in one process)
WORKERS ?= auto

test: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow and not full" $(PYTEST_ARGS)

test-full: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/bench_gan_step.py $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
