# make demo         remove a background inside a real headless InvokeAI (offline, the default model u2net)
# make test         the whole test suite (unit, real InvocationContext, headless invokeai-web), newest InvokeAI
# make test-compat  the end-to-end node tests against the oldest supported InvokeAI, in .venv-oldest
# make bench        the performance suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OLD_VENV := .venv-oldest
OLD_PY := $(OLD_VENV)/bin/python
OLD_STAMP := $(OLD_VENV)/.installed
# the server-side tests: no in-process InvokeAI services, no Node Manager or private download URLs (6.13+)
COMPAT_TESTS := tests/e2e/test_node_over_rest.py tests/e2e/test_reliability.py tests/e2e/test_options.py \
	tests/e2e/test_guided_over_rest.py tests/e2e/test_cancel.py

.PHONY: setup test test-compat demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml tools/install_deps.py tests/harness/weights.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install_deps.py --host --test
	$(PY) -m tests.harness.weights
	touch $(STAMP)

$(OLD_STAMP): pyproject.toml tools/install_deps.py tests/harness/weights.py
	test -x $(OLD_PY) || $(PYTHON) -m venv $(OLD_VENV)
	$(OLD_PY) tools/install_deps.py --host oldest-host --test
	$(OLD_PY) -m tests.harness.weights
	touch $(OLD_STAMP)

test: setup
	$(PY) -m pytest

test-compat: $(OLD_STAMP)
	$(OLD_PY) -m pytest $(COMPAT_TESTS)

demo: setup
	$(PY) -m tools.demo

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(OLD_VENV) .cache .demo
