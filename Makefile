# portkey_ai.gateway — developer entry points. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB_ENV := .lab/env

.PHONY: help bootstrap lab-up lab-down lab-status demo test unit lab-tests integration molecule sanity lint build bench changelog clean

help:
	@echo "make demo   - set up, start the lab, deploy the gateway with site.yml and show it healthy"
	@echo "make test   - set up, start the lab, run every test suite, stop the lab (prints counts)"
	@echo "make lab-up | lab-down | lab-status | unit | lab-tests | integration | molecule | sanity | lint | build | bench"

bootstrap:
	@bash scripts/bootstrap.sh

lab-up: bootstrap
	@$(PY) lab/labctl.py up

lab-down:
	@if [ -x $(PY) ]; then $(PY) lab/labctl.py down; fi

lab-status:
	@$(PY) lab/labctl.py status

demo: lab-up
	@set -a; source $(LAB_ENV); set +a; \
	  ansible-playbook site.yml -i inventories/lab && \
	  ansible-playbook playbooks/verify.yml -i inventories/lab -e verify_show_summary=true

test: bootstrap
	@$(PY) scripts/run_tests.py

unit: bootstrap
	@$(PY) scripts/run_tests.py --only unit

lab-tests: bootstrap
	@$(PY) scripts/run_tests.py --only lab

integration: bootstrap
	@$(PY) scripts/run_tests.py --only integration

molecule: bootstrap
	@$(PY) scripts/run_tests.py --only molecule

sanity: bootstrap
	@$(PY) scripts/run_tests.py --only sanity

lint: bootstrap
	@$(PY) scripts/run_tests.py --only lint

build: bootstrap
	@rm -rf dist && ansible-galaxy collection build --output-path dist

bench: lab-up
	@$(PY) scripts/bench.py

changelog: bootstrap
	@antsibull-changelog lint

clean: lab-down
	@rm -rf dist .build tests/output .pytest_cache
