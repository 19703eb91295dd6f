# cviz: `make run` builds the sample collection and serves the Dagster UI and the viewer;
# `make test` runs every test. Both install what they need first (venv, npm packages, chromium).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
VIEWER_STAMP := viewer/node_modules/.installed-stamp
# `make run` (scripts/run.sh) uses ./dagster_home and ./cviz_data unless DAGSTER_HOME / CVIZ_STORAGE_ROOT
# are set; the tests make their own temporary ones.

.PHONY: install run test chromium postgresql system-packages validate deploy-config clean multicore-tsne

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (cviz needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[test]'
	# The original tool's grid; --no-deps: its declared moviepy pins Pillow < 12 (cviz shims its numpy aliases).
	$(VENV)/bin/pip install --quiet --no-deps rasterfairy==1.0.6
	# Tests validate exported IIIF manifests with its models; --no-deps: it pins Pillow <= 12.0.0 (used only to size image files).
	$(VENV)/bin/pip install --quiet --no-deps iiif-prezi3==3.1.1
	@touch $@

$(VIEWER_STAMP): viewer/package.json viewer/package-lock.json
	cd viewer && npm ci --no-audit --no-fund
	@touch $@

install: $(STAMP) $(VIEWER_STAMP)

# Debian's chromium for the browser tests (never a browser downloaded by a test tool).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# A real PostgreSQL server for the instance-storage test (the test starts its own on loopback).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi; }

# The original tool's t-SNE (optional: `cviz run --tsne multicore`): its PyPI sdist needs a
# one-line setup.py fix; built into the venv, never committed. Needs cmake and a C++ compiler.
multicore-tsne: $(STAMP)
	@bash scripts/build_multicore_tsne.sh $(VENV)

# The code location from workspace.yaml against deploy/dagster.yaml; every shipped instance file.
validate: $(STAMP)
	@bash scripts/validate.sh

# Regenerate deploy/dagster.production.yaml (dagster.yaml + deploy/dagster.postgres.yaml).
deploy-config: $(STAMP)
	$(PY) deploy/merge_config.py

test: install chromium postgresql multicore-tsne
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/dg check defs
	# Bytecode of cviz's own modules, once (pip compiles the installed packages): the suite starts about a
	# hundred Python processes, and where PYTHONDONTWRITEBYTECODE is set each would compile them again.
	$(PY) -m compileall -q -j 2 cviz cviz_assets cviz_resources tests >/dev/null
	$(PY) -m pytest -q -n 2 --dist loadfile  # two workers, a test module each: waits on processes overlap
	cd viewer && npm test

run: install
	@bash scripts/run.sh

clean:
	rm -rf $(VENV) viewer/node_modules
