# make demo   remove a background inside a real headless InvokeAI (offline, u2netp)
# make test   the whole test suite (unit, real InvocationContext, headless invokeai-web)
# make bench  the performance suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml tools/install_deps.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install_deps.py --host --test
	$(PY) -m tools.u2netp_weights
	touch $(STAMP)

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m tools.demo

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .cache .demo
