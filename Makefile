# The two entry points: `make demo` and `make test`. Each bootstraps everything it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test system venv bench bench-quick docs clean

system:
	@sh scripts/install-system-deps.sh

$(STAMP): setup.py constraints/hue-4.11.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints/hue-4.11.txt -e '.[test,hue,lb,dbapi]'
	@touch $(STAMP)

venv: $(STAMP)

demo: system venv
	$(PY) -m hive_ha.demo

test: system venv
	$(PY) -m pytest $(PYTEST_ARGS)

bench: system venv
	$(PY) benchmarks/lookup.py
	$(PY) benchmarks/lb.py
	$(PY) benchmarks/chaos.py

bench-quick: system venv
	$(PY) benchmarks/lookup.py --quick
	$(PY) benchmarks/lb.py --quick
	$(PY) benchmarks/chaos.py --quick

docs: venv
	$(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
