# openstack-rca: `make demo` and `make test` do all set-up on a fresh machine (Python >= 3.11 as python3).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q -c constraints.txt

.PHONY: help demo test check-nbdev readme docs nbtest nbtest-fast pytest bench bench-scale figures reliability lab stack stack-down clean

help:
	@echo "make demo   - create .venv, install, simulate an incident, parse it, train, validate and promote a model, analyze the incident"
	@echo "make test   - install dev tools, check notebooks/package/README agree, run nbdev_test and pytest"
	@echo "make bench  - parse+mine throughput vs drain3, analyze speed/memory, real failures vs the first-ERROR line (bench/results/*.json), figures into the docs notebooks"
	@echo "make bench-scale - parse/analyze on 1M and 10M simulated lines over 50 hosts: one process vs --engine dask (needs ~3 GB in /tmp, ~15 min)"
	@echo "make nbtest-fast - the notebooks' tests without the cells flagged slow (training, S3 and MLflow servers): the inner loop"
	@echo "make reliability - refresh the Reliability docs page from the tests (tools/reliability.py)"
	@echo "make docs   - build the docs site into _docs/ (nbdev_docs with Quarto; without it nbdev processing + Sphinx)"
	@echo "make readme - regenerate README.md from nbs/index.ipynb"
	@echo "make lab    - JupyterLab on nbs/ from the project venv (start with tutorial.ipynb)"
	@echo "make stack  - MLflow on PostgreSQL with basic-auth and S3 (moto) on this machine; make stack-down stops it"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python settings.ini setup.py constraints.txt
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	@touch $@

# The demo works in demo_out/: its MLflow store is demo_out/mlflow.db (see it: cd demo_out && mlflow ui).
demo: $(VENV)/.installed
	rm -rf demo_out
	$(BIN)/openstack-rca simulate --out demo_out/train --seed 1 --minutes 60 --no-fault
	$(BIN)/openstack-rca simulate --out demo_out/incident --seed 7 --minutes 30
	$(BIN)/openstack-rca parse demo_out/incident --out demo_out/records.parquet --templates demo_out/templates.json --quiet
	cd demo_out && ../$(BIN)/openstack-rca train --logs train --eval incident --quiet
	cd demo_out && ../$(BIN)/openstack-rca models validate --version 1
	cd demo_out && ../$(BIN)/openstack-rca models list
	cd demo_out && ../$(BIN)/openstack-rca analyze --logs incident --issue "$$(../$(BIN)/python -c 'import json; print(json.load(open("incident/labels.json"))["incidents"][0]["issue"])')" --format html --out report.html
	cd demo_out && ../$(BIN)/openstack-rca analyze --logs incident --issue "$$(../$(BIN)/python -c 'import json; print(json.load(open("incident/labels.json"))["incidents"][0]["issue"])')"
	@echo "MLflow UI: cd demo_out && ../$(BIN)/mlflow ui   (then open http://127.0.0.1:5000)"

# nbdev_clean and nbdev_export must leave the tree as committed: notebooks are the source of the package.
check-nbdev: $(VENV)/.installed-dev
	@snap() { find nbs openstack_rca -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' | sort | xargs md5sum; }; \
	before="$$(snap)"; $(BIN)/nbdev_clean && $(BIN)/nbdev_export; after="$$(snap)"; \
	if [ "$$before" != "$$after" ]; then \
	  diff <(echo "$$before") <(echo "$$after"); \
	  echo "nbdev_clean/nbdev_export changed the files above: commit the cleaned notebooks and the exported package"; exit 1; fi
	$(BIN)/python tools/readme.py --check

readme: $(VENV)/.installed-dev
	$(BIN)/python tools/readme.py

# The site: nbdev_docs when quarto is on PATH, else nbdev.serve.proc_nbs + nbconvert + Sphinx (tools/docs.py).
docs: $(VENV)/.installed-dev
	$(BIN)/python tools/docs.py

# every cell, the slow ones (training, S3 and MLflow servers) included; `make nbtest-fast` is the inner loop
nbtest: $(VENV)/.installed-dev
	$(BIN)/nbdev_test --flags slow

nbtest-fast: $(VENV)/.installed-dev
	$(BIN)/nbdev_test

# pytest exit code 5 means "no tests collected": that is a failure here.
pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test: check-nbdev nbtest pytest

# Measures, then stores the figures in the templates notebook's outputs (its docs page shows them).
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/analyze_bench.py
	$(BIN)/python bench/real_cases.py
	$(BIN)/python bench/small_files.py
	$(BIN)/python bench/serve_bench.py
	$(MAKE) figures

# the scale-out figures of the Scaling out docs page: bundles of 1 M and 10 M simulated lines, then both engines
bench-scale: $(VENV)/.installed-dev
	test -d /tmp/rca-bundle-1m || $(BIN)/python bench/scale_bench.py gen --lines 1000000 --hosts 50 --out /tmp/rca-bundle-1m
	test -d /tmp/rca-bundle-10m || $(BIN)/python bench/scale_bench.py gen --lines 10000000 --hosts 50 --out /tmp/rca-bundle-10m
	$(BIN)/python bench/scale_bench.py run /tmp/rca-bundle-1m /tmp/rca-bundle-10m
	$(BIN)/python tools/run_nb.py nbs/scaling.ipynb
	$(BIN)/nbdev_clean

figures: $(VENV)/.installed-dev
	$(BIN)/python tools/run_nb.py nbs/01_templates.ipynb nbs/02_simulate.ipynb nbs/04_model.ipynb nbs/09_rca.ipynb nbs/11_evaluate.ipynb nbs/tutorial.ipynb nbs/reliability.ipynb nbs/web_ui.ipynb
	$(BIN)/nbdev_clean

# The Reliability docs page, from the tests (tests/test_docs.py fails when it is older than them).
reliability: $(VENV)/.installed-dev
	$(BIN)/python tools/run_nb.py nbs/reliability.ipynb
	$(BIN)/nbdev_clean

# JupyterLab from the project's venv: the package is importable (editable install) and MLflow points at ./mlflow.db
# unless MLFLOW_TRACKING_URI is already set.
lab: $(VENV)/.installed-dev
	$(PIP) -e '.[lab]'
	@echo "open tutorial.ipynb; MLflow store: $${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}"
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} $(BIN)/jupyter lab --notebook-dir nbs --ServerApp.ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

# The production layout on one machine (needs Debian's postgresql): data, logs and secrets in .stack/.
$(VENV)/.installed-stack: $(VENV)/.installed
	$(PIP) -e '.[stack]'
	@touch $@

stack: $(VENV)/.installed-stack
	$(BIN)/openstack-rca stack up

stack-down: $(VENV)/.installed
	$(BIN)/openstack-rca stack down

clean:
	rm -rf demo_out build dist *.egg-info .pytest_cache _proc _proc_site _docs
