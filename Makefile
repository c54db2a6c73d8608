# 딥러닝 기초 — the whole workflow. `make` (or `make help`) lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?=
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
DOCTOR_OK := $(VENV)/.course-doctor-ok
WORKSPACE ?= workspace
HOST   ?= 127.0.0.1
PORT   ?= 8888
NB     ?= notebooks
# `make test` runs on TEST_JOBS processes (pytest-xdist; one test file or notebook stays on one worker)
TEST_JOBS ?= 2
# nbval through the one runner (course_grader.nbval_plugin): the kernel, environment and time
# limits of `make execute` and the grader
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg -p course_grader.nbval_plugin
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export JUPYTER_PLATFORM_DIRS := 1

# Tests and stored outputs use the offline data (the 5,000-digit MNIST set) on every machine;
# `make lab` and `make data DOWNLOAD=1` may download the full MNIST when online.
test test-unit test-nb test-offline execute: export COURSE_OFFLINE = 1

.PHONY: help setup system lab lab-instructor workspace check FORCE test test-unit test-nb test-offline execute data doctor clean \
        assignments autograde benchmark lock book

help: ## list the targets
	@echo "딥러닝 기초 — make targets"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-15s %s\n", $$1, $$2}'
	@echo "Variables: HOST=$(HOST) PORT=$(PORT) NB=<notebook or folder> CHAPTER=05 (make check)"
	@echo "  PYTHON=python3.11 (make setup; default: the first of python3, python3.11, python3.12 that is 3.11-3.12 with venv)"
	@echo "  TORCH=cpu (make setup, Linux: PyTorch's CPU-only wheels from download.pytorch.org; TORCH=cuda goes back)"
	@echo "  EDITION=student|instructor (make book)"

# setup: Python pre-flight (before any download), .venv (a half-made one is rebuilt), the locked
# packages, system pieces (root: apt-get; else the Korean font for the user), data, then the
# doctor: it prints the command per platform for what is still missing and fails without `dot`.
# `make setup` and `make lab` always run the doctor; other targets only after a (re)install.
setup: $(STAMP) system ## check Python, create .venv, install locked packages, font, data; then the doctor (fails without dot)
	@$(PY) -m course_utils.data prepare --quiet
	@if [ -n "$(filter setup lab,$(MAKECMDGOALS))" ] || [ ! -e $(DOCTOR_OK) ] || [ $(STAMP) -nt $(DOCTOR_OK) ]; then \
	  rm -f $(DOCTOR_OK); $(PY) scripts/finish_setup.py && touch $(DOCTOR_OK); fi

$(STAMP): requirements-lock.txt pyproject.toml $(if $(TORCH),FORCE,)
	@bash scripts/ensure_venv.sh $(VENV) $(PYTHON)
	@$(PY) scripts/install_packages.py $(if $(TORCH),--torch $(TORCH),)
	@touch $@

FORCE:

system: ## graphviz (dot), fonts-nanum, Fashion-MNIST when root; else the Korean font for this user
	@PY=$(PY) bash scripts/setup_system.sh

lab: setup ## open JupyterLab on your workspace/ (student copies, made on first use; HOST=..., PORT=...)
	@$(PY) -m course_workspace lab --host $(HOST) --port $(PORT) $(if $(filter-out workspace,$(WORKSPACE)),--workspace $(WORKSPACE),)

lab-instructor: setup ## open JupyterLab on notebooks/ (with answers) and nbgrader's tools
	@$(PY) -m course_workspace lab --instructor --host $(HOST) --port $(PORT)

workspace: $(STAMP) ## make or refresh workspace/ (new chapters added; your edited copies never overwritten)
	@$(PY) -m course_workspace build $(if $(filter-out workspace,$(WORKSPACE)),--workspace $(WORKSPACE),)

check: $(STAMP) ## grade your copy in workspace/ with the hidden tests: make check CHAPTER=05
	@$(PY) -m course_workspace check $(CHAPTER) $(if $(filter-out workspace,$(WORKSPACE)),--workspace $(WORKSPACE),)

test: setup ## unit tests + strict nbval of every notebook, TEST_JOBS=2 in parallel (prints pytest's summary)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadscope tests $(NB) $(NBVAL)

test-unit: setup ## unit tests of course_utils and the course only
	$(PY) -m pytest -q tests

test-nb: setup ## strict nbval of one notebook or folder: make test-nb NB=notebooks/01_perceptron.ipynb
	$(PY) -m pytest -q $(NB) $(NBVAL)

test-offline: setup ## `make test` with the network cut off (needs root and unshare)
	unshare --net bash -c 'ip link set lo up && $(MAKE) --no-print-directory test'

execute: setup ## re-execute notebooks in place (NB=one notebook to do just that one)
	$(PY) scripts/execute_notebooks.py $(NB)

data: setup ## verify data files (and fetch full MNIST if online: make data DOWNLOAD=1)
	$(PY) -m course_utils.data prepare $(if $(DOWNLOAD),--download,)

doctor: ## check Python, packages, dot, Korean font, data and device
	@test -x $(PY) || { echo "No .venv yet: run 'make setup' first."; exit 1; }
	$(PY) -m course_utils.doctor

assignments: setup ## write student releases of every chapter to release/
	$(PY) -m course_grader release

autograde: setup ## grade handed-in notebooks, sandboxed: make autograde CHAPTER=01 SUBMISSIONS="a.ipynb b.ipynb" [TIMEOUT=900] [JOBS=2]
	@test -n "$(CHAPTER)" -a -n "$(SUBMISSIONS)" || { echo 'usage: make autograde CHAPTER=01 SUBMISSIONS="a.ipynb b.ipynb"'; exit 2; }
	$(PY) -m course_grader autograde $(CHAPTER) $(SUBMISSIONS) $(if $(TIMEOUT),--timeout $(TIMEOUT),) $(if $(JOBS),--jobs $(JOBS),)

benchmark: setup ## run the benchmarks in benchmarks/ (not part of make test)
	$(PY) benchmarks/numgrad_vs_backprop.py
	$(PY) benchmarks/mlp_fashion_mnist.py

book: setup ## build the web book into book/_build/html/ (EDITION=instructor: with solutions, book/_build/instructor/html/)
	$(PY) book/build.py --quiet --edition $(or $(EDITION),student)

lock: ## regenerate requirements-lock.txt from the current .venv (atomic: a failed run keeps the old lock)
	$(PY) scripts/make_lock.py --output requirements-lock.txt

clean: ## remove caches, releases and grading output (keeps .venv, data and your workspace/)
	rm -rf release autograded .pytest_cache notebooks/.ipynb_checkpoints book/_build
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
