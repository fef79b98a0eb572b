#!/usr/bin/env bash
# Install Prometheus and promtool (Debian's `prometheus` package) when missing.
#
# The monitoring tests (tests/integration/test_metrics_prometheus.py) run a real Prometheus
# against the plugin and check the rule files with promtool. Idempotent: prints nothing when
# both are on PATH. Without recommends: the package would pull in the node exporter and more.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-prometheus: install Prometheus 2.x (prometheus and promtool on PATH) and retry" >&2
    exit 1
fi
sudo=""
if [[ "$(id -u)" != 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
install() {
    $sudo apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
start=$SECONDS
echo "setup-prometheus: installing the Debian package prometheus"
# A fresh machine may have no package lists yet (or stale ones): update once and retry.
if ! install 2>/dev/null; then
    $sudo apt-get update -q >/dev/null
    install
fi
echo "setup-prometheus: done in $((SECONDS - start))s ($(prometheus --version 2>&1 | head -1))"
