# dockyard build/test harness. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Prerequisites are ordered steps (engine before base image, lint before tests).
.NOTPARALLEL:

VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
TEST_LABEL := dev.dockyard.test

.PHONY: help deps venv engine base-image lint docs test run clean

help:
	@echo "make deps        install docker.io, busybox-static, git (apt, if missing)"
	@echo "make venv        create .venv and install .[dev]"
	@echo "make engine      start dockerd if no engine answers"
	@echo "make base-image  build dockyard.local/busybox:latest"
	@echo "make lint        ruff + mypy"
	@echo "make docs        mkdocs build --strict"
	@echo "make test        everything above, then pytest (PYTEST_ARGS=... passed through)"
	@echo "make run         apply examples/hello/ to the local engine"
	@echo "make clean       remove containers/networks/volumes labelled $(TEST_LABEL)"

deps:
	bash scripts/ensure-deps.sh

venv:
	bash scripts/ensure-venv.sh

engine: deps
	bash scripts/ensure-engine.sh

base-image: engine
	bash scripts/base-image.sh

lint: venv
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy

docs: venv
	@if [[ -f mkdocs.yml ]]; then \
		$(BIN)/mkdocs build --strict -q -d /tmp/dockyard-site; \
	else \
		echo "docs: no mkdocs.yml, skipping"; \
	fi

test: deps venv engine base-image lint docs
	$(BIN)/pytest -q -ra --durations=20 tests $(PYTEST_ARGS)

run: deps venv engine base-image
	$(BIN)/dockyard apply -f examples/hello/
	@echo
	@echo "hello is running on the local Docker engine:"
	@echo "  open http://127.0.0.1:8080/"
	@echo "  $(BIN)/dockyard status hello"

clean:
	docker ps -aq --filter label=$(TEST_LABEL) | xargs -r docker rm -f -v
	docker network ls -q --filter label=$(TEST_LABEL) | xargs -r docker network rm
	docker volume ls -q --filter label=$(TEST_LABEL) | xargs -r docker volume rm -f
	docker image ls -q --filter label=$(TEST_LABEL) | sort -u | xargs -r docker image rm -f
