# make demo         remove a background inside a real headless InvokeAI (offline, the default model u2net)
# make test         the whole test suite (unit, real InvocationContext, headless invokeai-web)
# make test-compat  the end-to-end node tests against the oldest supported InvokeAI
# make bench        the performance suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml tools/install_deps.py tests/harness/weights.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install_deps.py --host --test
	$(PY) -m tests.harness.weights
	touch $(STAMP)

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m tools.demo

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .cache .demo
