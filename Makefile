# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs auditkit-rai with every extra, runs the demo audit
#   make test   creates .venv, installs auditkit-rai with its test extras, runs the test suite
#               from the checkout, then again from the built wheel (make test-wheel)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.auditkit-installed
DEMO_OUT ?= demo-output
# Where test-wheel builds the wheel, its virtual environment and a copy of the suite.
WHEEL_TEST ?= build/wheel-test
SHARED_DATASETS ?= $(abspath ../shared/datasets)

.PHONY: demo test test-checkout test-wheel install lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a looser pin would pull several GB of CUDA packages.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/auditkit demo --out $(DEMO_OUT)

# pytest exits 5 when it collected no test: that must fail, not pass. The console script (not
# `python -m pytest`) keeps the checkout off sys.path: imports go through the installed package.
test: test-checkout test-wheel

test-checkout: $(STAMP)
	@$(VENV)/bin/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# The whole suite again, against the built wheel installed into a fresh virtual environment
# (the wheel with --no-deps; its dependencies come from .venv through a .pth file), run from a
# copy of tests/ (with the docs the format tests read) outside the checkout, so nothing can
# pass because the sources are on sys.path.
test-wheel: $(STAMP)
	rm -rf $(WHEEL_TEST)
	mkdir -p $(WHEEL_TEST)/src $(WHEEL_TEST)/dist $(WHEEL_TEST)/suite
	# Built from a clean copy of the sources: no stale build/ or egg-info can leak into it.
	cp -r auditkit privacy fairness explain reports pyproject.toml setup.py README.md $(WHEEL_TEST)/src/
	cp -r tests docs README.md $(WHEEL_TEST)/suite/
	find $(WHEEL_TEST) -name __pycache__ -prune -exec rm -rf {} +
	# the compiled kernel is built afresh for the wheel, not copied from the editable install
	find $(WHEEL_TEST)/src -name '*.so' -delete
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(WHEEL_TEST)/dist \
		$(WHEEL_TEST)/src
	$(PY) -m venv --without-pip $(WHEEL_TEST)/venv
	$(PY) -m pip --python $(WHEEL_TEST)/venv/bin/python install --quiet --no-deps --no-index \
		$(WHEEL_TEST)/dist/*.whl
	$(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
		"$$($(WHEEL_TEST)/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_auditkit_test_deps.pth"
	@cd $(WHEEL_TEST)/suite && AUDITKIT_SHARED_DATASETS=$(SHARED_DATASETS) \
		../venv/bin/python -m pytest -c $(CURDIR)/pyproject.toml --rootdir . -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check auditkit privacy fairness explain reports tests benchmarks

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
