# The two commands of the README: `make lab` and `make test`. Both set up .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.clipcourse-installed
# pip on the course machines prints a warning per local index it skips; hide only those lines
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
# Tests run offline on the bundled model, whatever this machine has downloaded. Lesson kernels
# draw with the inline backend, as a learner's do (tests/lesson_checks.py sees to it), so every
# figure is produced and checked; claims are checked in the same run (CONTRIBUTING.md).
TEST_ENV := CLIPCOURSE_MODEL=tiny-shapes CLIPCOURSE_OFFLINE=1 PYTHONHASHSEED=0

.PHONY: lab test test-fast bench venv doctor student clean-venv

venv: $(STAMP)

# Re-install when the dependency list changes. torch and torchvision ranges in pyproject.toml
# admit the wheels cached on the course machines (torch 2.14.1, torchvision 0.29.1).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q -e ".[test,bench]" 2>&1 | $(QUIET_PIP)
	$(PY) -c "import clip, clipcourse" 2>/dev/null
	touch $(STAMP)

## make lab: set up .venv and open the course in JupyterLab
# Jupyter refuses to start as root (containers, cloud VMs) unless told it may.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

## make test: set up .venv, then run every test (package tests, then the lessons under nbval)
# Everything the tests write to temporary files goes to one folder, removed at the end even on
# failure (nbval stops kernels at once, so a lesson's own TemporaryDirectory is never cleaned).
test: $(STAMP)
	tmp=$$(mktemp -d -t clipcourse-test-XXXXXX); trap 'rm -rf "$$tmp"' EXIT; \
	TMPDIR=$$tmp CLIPCOURSE_CACHE_DIR=$$tmp/cache $(TEST_ENV) $(PY) -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
		-p no:cacheprovider -ra --durations=15

## make test-fast: only the package tests, no notebooks, no browser
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -m "not slow" -p no:cacheprovider -q

## make bench: speed and accuracy benchmarks (prints ratios measured side by side)
bench: $(STAMP)
	$(PY) benchmarks/encode.py
	$(PY) benchmarks/tiny_shapes.py

doctor: $(STAMP)
	$(PY) -m clipcourse doctor

student: $(STAMP)
	$(PY) -m clipcourse student student/

clean-venv:
	rm -rf $(VENV)
