# One entry point for developers and CI alike. `make run` and `make test`
# set up everything they need on a fresh machine (Python >= 3.11 required).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench fuzz soak clean system-deps

# Debian packages the tests start for real (redis-server for the shared decision
# cache, etcd for the distributed policy store, docker-registry for image signature
# verification, with htpasswd for its credentials, golang-go for the Go module
# proxy's real go client) and the deploy test renders with
# (kubectl kustomize). Installed only when missing.
SYSTEM_DEPS := redis-server:redis-server etcd:etcd-server kubectl:kubernetes-client docker-registry:docker-registry htpasswd:apache2-utils go:golang-go

system-deps:
	@missing=""; for dep in $(SYSTEM_DEPS); do \
		cmd=$${dep%%:*}; pkg=$${dep##*:}; \
		command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Install kubegate and check the bundled example manifests with the built-in library.
## Exit status 1 from kubegate means "violations found", which is the point of the demo.
run: $(STAMP)
	$(BIN)/kubegate check examples/manifests --parameters examples/parameters.yaml --policies examples/policies \
		|| [ $$? -eq 1 ]

## Everything CI runs: lint, types, import layers, the whole test suite.
test: $(STAMP) system-deps lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/kubegate

unit: $(STAMP) system-deps
	$(BIN)/pytest

## Longer fuzz runs than the suite's (docs/reliability.md): the fuzz tests with 20,000 cases
## each, then 100,000 hostile requests against a real server.
fuzz: $(STAMP) system-deps
	KUBEGATE_FUZZ_EXAMPLES=20000 $(BIN)/pytest -q tests/webhook/test_fuzz_webhook.py tests/audit/test_fuzz_redact.py \
		tests/policy/test_fuzz_loading.py tests/dsl/test_fuzz_dsl.py
	$(BIN)/python benchmarks/reliability.py fuzz --requests 100000

## The 30-minute soak (RSS growth after warm-up, docs/reliability.md).
soak: $(STAMP)
	$(BIN)/python benchmarks/reliability.py soak --minutes 30

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py review

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
