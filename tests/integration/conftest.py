"""Fixtures for the integration tests: real OpenBao 2.7.2 + moto + the release binary.

Session-scoped (one server pair for the whole run, started in parallel):

* ``plugin_binary`` -- Path of target/release/vault-plugin-secrets-aws
  (``PLUGIN_BINARY`` overrides); fails the test clearly if it is missing.
* ``base_stack``    -- devstack.Stack with moto + bao running, plugin NOT
  registered. For harness tests that must not depend on the plugin.
* ``stack``         -- the same Stack with the plugin registered as ``aws``
  (``stack.plugin_name``, ``stack.plugin_sha256``, ``stack.plugin_path``).
* ``bao``           -- devstack.Bao of ``stack``: ``.addr``, ``.token``,
  ``.env()``, ``.cli(*args)`` -> CompletedProcess, ``.api(method, path, data)``
  -> (status, json), ``.log_text()``, ``.plugin_dir``.
* ``moto``          -- devstack.Moto of ``stack``: ``.endpoint``,
  ``.client("iam")`` (boto3), ``.reset()``, ``.set_auth(n)``.

Function-scoped:

* ``hvac_client``   -- hvac.Client for ``bao`` with the root token.
* ``mount``         -- factory: ``path = mount()`` enables the plugin at a fresh
  unique path (``aws-<n>-<hex>``) and disables it after the test;
  ``mount(prefix="x", plugin="aws", description=..., **config)`` where config
  goes to the mount's ``config`` (e.g. ``default_lease_ttl="1h"``).
* ``plugin_pids``   -- callable: pids of processes whose /proc/<pid>/exe is the
  installed plugin binary (and nothing else), to ``kill -9`` exactly it or to
  check that one process serves several mounts.

On a failing test, the lines the OpenBao server (and moto) logged during that
test are attached to the report.
"""

from __future__ import annotations

import itertools
import re
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import devstack  # noqa: E402


def pytest_configure(config):
    # SIGTERM (e.g. a CI timeout) -> SystemExit, so fixtures/atexit stop the servers.
    devstack.handle_sigterm()


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def plugin_binary() -> Path:
    path = devstack.default_plugin_binary()
    if not path.is_file():
        pytest.fail(
            f"plugin binary {path} not found: build it first (`make build`, i.e. "
            "`cargo build --release`; `make test` does both), or set PLUGIN_BINARY",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def base_stack():
    stack = devstack.start_stack()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack(plugin_binary, base_stack):  # binary first: fail before starting servers
    if base_stack.plugin_name is None:
        base_stack.install(plugin_binary, "aws")
    return base_stack


@pytest.fixture(scope="session")
def bao(stack) -> devstack.Bao:
    return stack.bao


@pytest.fixture(scope="session")
def moto(stack) -> devstack.Moto:
    return stack.moto


@pytest.fixture
def hvac_client(bao):
    import hvac

    client = hvac.Client(url=bao.addr, token=bao.token, timeout=30)
    yield client
    client.adapter.close()


_mount_counter = itertools.count(1)


@pytest.fixture
def mount(stack):
    created: list[str] = []

    def make(prefix: str = "aws", plugin: str | None = None, description: str | None = None,
             **config) -> str:
        path = f"{prefix}-{next(_mount_counter)}-{uuid.uuid4().hex[:6]}"
        body = {"type": plugin or stack.plugin_name}
        if description:
            body["description"] = description
        if config:
            body["config"] = config
        status, resp = stack.bao.api("POST", f"sys/mounts/{path}", body)
        if status not in (200, 204):
            raise AssertionError(f"enabling {body['type']} at {path}/ failed: HTTP {status} {resp}")
        created.append(path)
        return path

    yield make
    problems = []
    for path in reversed(created):
        status, resp = stack.bao.api("DELETE", f"sys/mounts/{path}")
        if status not in (200, 204):
            problems.append(f"{path}: HTTP {status} {resp}")
    if problems:
        # Not an error of the test itself; shows up in the output.
        print("mount fixture: disabling failed for " + "; ".join(problems), file=sys.stderr)


@pytest.fixture
def plugin_pids(stack):
    return stack.plugin_pids


# --------------------------------------------------------------------------
# Show the server log of a failing test
# --------------------------------------------------------------------------

_LOG_TAIL_LINES = 150
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours moto's request log


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # Log offsets of what is running now; anything spawned later starts at 0.
    item._devstack_log_offsets = {p: p.log_size() for p in devstack.live_processes()}
    item._devstack_spawned_before = len(devstack.spawned_processes())
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = getattr(item, "_devstack_log_offsets", {})
    spawned = devstack.spawned_processes()
    relevant = list(offsets) + spawned[getattr(item, "_devstack_spawned_before", len(spawned)):]
    for proc in dict.fromkeys(relevant):  # dedup, keep order
        text = _ANSI.sub("", proc.log_since(offsets.get(proc, 0)))
        lines = text.splitlines()
        limit = _LOG_TAIL_LINES if isinstance(proc, devstack.Bao) else 30
        if not lines:
            continue
        cut = f" (last {limit} of {len(lines)} lines)" if len(lines) > limit else ""
        report.sections.append(
            (f"{proc.kind} log during this test{cut}: {proc.log_path}", "\n".join(lines[-limit:]))
        )
