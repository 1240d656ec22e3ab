# The two entry points: `make demo` and `make test`. Each bootstraps everything it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# The real Hue 4.11 backend venv (scripts/hue-venv.sh builds it once per Hue tarball and writes its python here).
HUE_PY_FILE := .hue/python

.PHONY: demo test test-core test-fast test-hue hue-venv system venv bench bench-quick docs dist clean

system:
	@sh scripts/install-system-deps.sh

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	sh scripts/hue-constraints.sh > $(VENV)/hue-constraints.txt
	$(PY) -m pip install -q -c $(VENV)/hue-constraints.txt -e '.[test,hue,lb,dbapi]'
	@touch $(STAMP)

venv: $(STAMP)

hue-venv: system
	@sh scripts/hue-venv.sh

demo: system venv
	$(PY) -m hive_ha.sandbox.demo

test: test-core test-hue

test-core: system venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The development loop: the tests that need nothing but this Python process (no ZooKeeper, no HiveServer2 test
# servers, KDC, Spark, load-balancer binary or child process; markers in setup.cfg, set by tests/conftest.py).
# Seconds; no apt-get. `make test` still runs everything.
FAST_TESTS := not (zookeeper or hs2 or kerberos or spark or database or lb or process or slow)

test-fast: venv
	$(PY) -m pytest -m "$(FAST_TESTS)" $(PYTEST_ARGS)

# hue_integration's tests run inside the real Hue: Hue's settings, hue.ini loader, migrations, dbms, HS2Api.
# The HiveServer2 test servers that run as their own processes, and Spark, come from the dev venv.
# Once per database Hue runs on (HIVE_HA_HUE_DB, tests/hue/environment.py), with Hue's settings as they are: every
# test on PostgreSQL; the failover suites again on MariaDB and on sqlite (Spark once is enough; on sqlite without
# the tests that need several users at once, marked server_database: docs/hue.md, "Hue's database").
HUE_FAILOVER_TESTS := tests/hue/test_editor_failover.py tests/hue/test_gray_failures.py tests/hue/test_invalidation.py \
	tests/hue/test_locks.py tests/hue/test_sessions.py tests/hue/test_hue_server.py
# Every test on PostgreSQL includes the production topology (tests/hue/test_topology.py: two Hue servers on one
# PostgreSQL of its own, behind HAProxy from `hive-ha emit` and `hive-ha monitor`).
HUE_PYTHON = HIVE_HA_RIG_PYTHON=$(abspath $(PY)) \
	HIVE_HA_SPARK_HOME=$$($(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))') \
	$$(cat $(HUE_PY_FILE))
HUE_RUN = $(HUE_PYTHON) -m pytest

test-hue: system venv hue-venv
	HIVE_HA_HUE_DB=postgresql $(HUE_RUN) tests/hue $(HUE_PYTEST_ARGS)
	HIVE_HA_HUE_DB=mysql $(HUE_RUN) -m "not spark" $(HUE_FAILOVER_TESTS) $(HUE_PYTEST_ARGS)
	HIVE_HA_HUE_DB=sqlite $(HUE_RUN) -m "not spark" $(HUE_FAILOVER_TESTS) $(HUE_PYTEST_ARGS)

bench: system venv hue-venv
	$(PY) benchmarks/lookup.py
	$(PY) benchmarks/lb.py
	$(PY) benchmarks/chaos.py
	$$(cat $(HUE_PY_FILE)) benchmarks/hue_lookup.py
	$(HUE_PYTHON) benchmarks/hue_failover.py
	$(HUE_PYTHON) benchmarks/hue_failover.py --hue-instances 2 --db postgresql
	$(HUE_PYTHON) benchmarks/hue_failover.py --hue-instances 2 --db mysql
	$(HUE_PYTHON) benchmarks/hue_failover.py --hue-instances 2 --db postgresql --spark
	$$(cat $(HUE_PY_FILE)) benchmarks/gray.py

bench-quick: system venv hue-venv
	$(PY) benchmarks/lookup.py --quick
	$(PY) benchmarks/lb.py --quick
	$(PY) benchmarks/chaos.py --quick
	$$(cat $(HUE_PY_FILE)) benchmarks/hue_lookup.py --quick
	$(HUE_PYTHON) benchmarks/hue_failover.py --quick
	$(HUE_PYTHON) benchmarks/hue_failover.py --quick --hue-instances 2 --users 10
	$$(cat $(HUE_PY_FILE)) benchmarks/gray.py --quick

docs: venv
	$(PY) -m mkdocs build --strict --site-dir site

# An sdist and a wheel in dist/: what docs/hue.md installs into Hue's virtualenv.
dist: venv
	rm -rf dist
	$(PY) -m build --sdist --wheel --outdir dist .

clean:
	rm -rf $(VENV) .hue build dist *.egg-info .pytest_cache .hypothesis
