# fargate-local: `make run` starts the emulator, `make test` runs the whole
# suite. `make help` lists every target.

CARGO ?= cargo
DATA_DIR ?= .fargate-local
LISTEN ?= 127.0.0.1:4566
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: run
run: ## Build and start the emulator on 127.0.0.1:4566 (state in .fargate-local/)
	$(CARGO) build --release -p fargate-local
	./target/release/fargate-local serve --listen $(LISTEN) --data-dir $(DATA_DIR)

.PHONY: setup
setup: ## Install test prerequisites (Debian packages, .venv, test images)
	scripts/setup.sh

.PHONY: build
build: ## Build the emulator and the test crates
	$(CARGO) build --workspace --all-targets

.PHONY: dist
dist: ## Release binaries without debug info in target/dist/, each with its .debug file beside it
	scripts/dist.sh

.PHONY: image
image: ## Build the emulator's image fargate-local:<version> and :dev, FROM scratch, offline
	scripts/build-image.sh

.PHONY: test
test: setup build ## Run the whole test suite (unit, SDK, conformance, examples)
	scripts/test.sh

.PHONY: conformance
conformance: ## Only the wire-conformance suite (botocore model, real Docker)
	$(CARGO) build -p fargate-local
	python -m pytest -q sdk-tests/conformance

.PHONY: lint
lint: ## rustfmt and clippy, as CI wants them
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: bench
bench: setup ## Benchmarks against baselines run side by side (see BENCHMARKS.md)
	scripts/bench.sh

.PHONY: cleanup
cleanup: ## Remove every Docker object labelled fargate-local.managed=true
	$(CARGO) run -q -p fargate-local -- cleanup
