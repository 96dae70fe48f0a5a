# s3napback: the one entry point for building and testing the collection. `make help` lists the targets.
# Everything runs through the project venv (.venv), which `make venv` creates from requirements-dev.txt.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
# The steps share one machine (2 cores on CI) and must run in order: never in parallel, even with -j.
.NOTPARALLEL:

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-dev.stamp
# ansible-test needs the collection at a real (not symlinked) .../ansible_collections/NAMESPACE/NAME folder.
COLLECTION_ROOT := build/ansible_collections
COLLECTION_DIR := $(COLLECTION_ROOT)/s3napback/s3napback
# Folders that hold Python (some may not exist yet in a fresh clone: empty folders are not tracked).
LINT_PATHS = $(wildcard plugins tests bench scripts)
SHELL_SCRIPTS = $(wildcard .ci/run scripts/*.sh molecule/*.sh)
ANSIBLE_CONTENT = $(wildcard roles/*/tasks playbooks/*.yml playbooks/*.yaml)

# pytest's exit code 5 means "no tests collected": fine while a test folder is still empty, but nothing else is.
define run_pytest
	@if [ ! -d $(1) ]; then echo "$(1): no such folder, nothing to test"; exit 0; fi; \
	rc=0; $(BIN)/pytest $(1) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "$(1): no tests collected (pytest exit 5), treated as success"; exit 0; fi; \
	exit $$rc
endef

.PHONY: help venv lint format unit integration sanity molecule bench test test-steps demo clean

help: ## Show this help
	@echo "Usage: make TARGET   (the README's test command is: make test)"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: PYTHON=$(PYTHON) (creates the venv), PYTEST_ARGS (extra pytest arguments, e.g. -k NAME -x),"
	@echo "           SANITY_ARGS (extra ansible-test sanity arguments, e.g. --test pylint)"

venv: $(STAMP) ## Create .venv and install requirements-dev.txt (again only when that file changes)

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

lint: venv ## ruff check + ruff format --check; shellcheck and ansible-lint where there is something to check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	@if [ -n "$(SHELL_SCRIPTS)" ]; then \
		if command -v shellcheck >/dev/null; then echo "shellcheck $(SHELL_SCRIPTS)"; shellcheck $(SHELL_SCRIPTS); \
		else echo "shellcheck not installed: skipping the shell scripts (apt-get install shellcheck)"; fi; \
	fi
	@if [ -n "$(ANSIBLE_CONTENT)" ]; then \
		mkdir -p build/lint/ansible_collections/s3napback; \
		ln -sfn "$(CURDIR)" build/lint/ansible_collections/s3napback/s3napback; \
		echo "ansible-lint --offline"; \
		ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/build/lint:$(CURDIR)/$(VENV)/collections" \
			PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --offline; \
	else echo "no roles or playbooks yet: skipping ansible-lint"; fi

format: venv ## Rewrite Python files with ruff (fixable lint findings and formatting)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

unit: venv ## Run the unit tests (tests/unit)
	$(call run_pytest,tests/unit)

integration: venv ## Run the integration tests against a real S3 server, gpg, tar, zstd (tests/integration)
	$(call run_pytest,tests/integration)

sanity: venv ## Run ansible-test sanity on a copy of the checkout under build/
	rm -rf $(COLLECTION_ROOT)
	mkdir -p $(COLLECTION_DIR)
	@# Copy what git would commit: tracked files plus untracked ones that are not ignored.
	@# Without git (e.g. an unpacked tarball), copy everything but the venv and build output.
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard \
		| while IFS= read -r -d '' f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf '%s\0' "$$f"; fi; done \
		| tar --null --no-recursion -T - -cf - | tar -xf - -C $(COLLECTION_DIR); \
	else \
		tar --exclude=./.git --exclude=./$(VENV) --exclude=./build --exclude=./tests/output \
			--exclude='__pycache__' -cf - . | tar -xf - -C $(COLLECTION_DIR); \
	fi
	@# ansible-test lists content with git when it finds a .git folder in the collection or ANY parent: here it
	@# would find this checkout's, where build/ is ignored, and skip every target. A repo of its own stops that.
	if command -v git >/dev/null; then cd $(COLLECTION_DIR) && git -c init.defaultBranch=main init -q && git add -A; fi
	$(BIN)/python tests/support/ansible_test_offline.py
	@# --python: the venv's version only (3.11 on CI). Without it ansible-test tries every Python it supports and
	@# trips over pyenv's shims for versions that are not selected (TESTBED.md section 7). --venv: no containers.
	cd $(COLLECTION_DIR) && PATH="$(CURDIR)/$(BIN):$$PATH" $(CURDIR)/$(BIN)/ansible-test sanity --color no --venv \
		--python "$$($(CURDIR)/$(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" $(SANITY_ARGS)

# What `make test` runs, in this order; .ci/run runs the same steps one by one (make test-steps) to time them.
TEST_STEPS := venv lint unit integration sanity molecule

test: $(TEST_STEPS) ## Everything CI runs: lint, unit, integration, sanity, molecule

test-steps:
	@echo $(TEST_STEPS)

molecule: venv ## Molecule scenarios on podman containers with a real S3 server (SCENARIOS="fleet systemd")
	bash molecule/run.sh

bench: venv ## Benchmark full/incremental/restore of 1 GiB against a local S3 server vs tar|zstd|gpg (BENCH_ARGS=...)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

demo: venv ## Back up a sample folder to a throwaway local S3 server and restore it (scripts/demo.sh)
	VENV=$(abspath $(VENV)) scripts/demo.sh

clean: ## Remove build output and caches (keeps .venv)
	rm -rf build tests/output .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
