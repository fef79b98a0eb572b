"""Transport + framework, observed from outside against the real OpenBao 2.7.2.

Everything here goes through what an operator sees: the ``bao`` CLI, the HTTP
API, hvac, the server log and the process table. The only engine path used is
``config/lease`` (it needs no AWS), so these tests say nothing about AWS calls.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import time
import tomllib

import pytest

import devstack

# The version the plugin reports is Cargo.toml's.
PLUGIN_VERSION = "v" + tomllib.loads((devstack.REPO / "Cargo.toml").read_text())["package"]["version"]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    """Poll ``pred`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def write_lease(bao, mount: str, **data):
    return bao.api("POST", f"{mount}/config/lease", data)


def read_lease(bao, mount: str, query: str = ""):
    return bao.api("GET", f"{mount}/config/lease{query}")


def assert_lease(bao, mount: str, lease: str, lease_max: str) -> None:
    status, body = read_lease(bao, mount)
    assert status == 200, (mount, status, body)
    assert body["data"] == {"lease": lease, "lease_max": lease_max}, (mount, body)


def configured_mount(mount, bao, lease: str = "1h", lease_max: str = "24h") -> str:
    path = mount()
    status, body = write_lease(bao, path, lease=lease, lease_max=lease_max)
    assert status == 204, (status, body)
    return path


def errors_of(body) -> list[str]:
    return (body or {}).get("errors") or []


def unix_socket_paths(pid: int) -> list[str]:
    """Filesystem paths of the unix sockets ``pid`` holds open (its go-plugin listener)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    paths = []
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[6] in inodes and parts[7].startswith("/"):
                paths.append(parts[7])
    return sorted(set(paths))


# --------------------------------------------------------------------------
# registration, mounts, one process
# --------------------------------------------------------------------------


def test_registered_by_sha256_with_version(stack, bao, plugin_binary):
    sha = devstack.sha256_file(plugin_binary)
    assert stack.plugin_sha256 == sha
    assert devstack.sha256_file(stack.plugin_path) == sha

    res = bao.cli("plugin", "info", f"-version={PLUGIN_VERSION}", "secret", stack.plugin_name)
    assert res.returncode == 0, res.stdout + res.stderr
    table = dict(
        line.split(None, 1) for line in res.stdout.splitlines() if len(line.split(None, 1)) == 2
    )
    assert table["sha256"].strip() == sha
    assert table["version"].strip() == PLUGIN_VERSION
    assert table["command"].strip() == devstack.PLUGIN_FILE_NAME
    assert table["builtin"].strip() == "false"

    # The plugin reported its version at registration: without -version the
    # unversioned catalog entry does not exist.
    res = bao.cli("plugin", "info", "secret", stack.plugin_name)
    assert res.returncode != 0
    assert "404" in res.stdout + res.stderr


def test_mount_runs_the_registered_binary_and_version(stack, bao, mount):
    path = mount()
    status, body = bao.api("GET", f"sys/mounts/{path}")
    assert status == 200, body
    assert body["data"]["type"] == stack.plugin_name
    assert body["data"]["running_sha256"] == stack.plugin_sha256
    assert body["data"]["running_plugin_version"] == PLUGIN_VERSION


def test_two_mounts_are_served_by_one_process(bao, mount, plugin_pids):
    a = configured_mount(mount, bao, "1h", "24h")
    b = configured_mount(mount, bao, "30m", "2h")
    pids = plugin_pids()
    assert len(pids) == 1, f"expected one plugin process for {a} and {b}, got {pids}"
    assert_lease(bao, a, "1h0m0s", "24h0m0s")
    assert_lease(bao, b, "30m0s", "2h0m0s")
    assert plugin_pids() == pids  # both answered by that same process, no relaunch


# --------------------------------------------------------------------------
# config/lease through the framework
# --------------------------------------------------------------------------


def test_config_lease_is_per_mount(bao, mount):
    a = configured_mount(mount, bao, "1h", "24h")
    b = configured_mount(mount, bao, "30m", "2h")
    untouched = mount()

    assert_lease(bao, a, "1h0m0s", "24h0m0s")
    assert_lease(bao, b, "30m0s", "2h0m0s")

    # Changing a leaves b alone.
    status, body = write_lease(bao, a, lease="90s", lease_max="36h")
    assert status == 204, body
    assert_lease(bao, a, "1m30s", "36h0m0s")
    assert_lease(bao, b, "30m0s", "2h0m0s")

    # A mount nobody configured has nothing stored: read answers 404 without errors.
    status, body = read_lease(bao, untouched)
    assert status == 404, body
    assert errors_of(body) == []


def test_cli_read_shows_go_style_durations(bao, mount):
    path = configured_mount(mount, bao, "1h", "24h")
    res = bao.cli("read", f"{path}/config/lease")
    assert res.returncode == 0, res.stderr
    assert re.search(r"^lease\s+1h0m0s$", res.stdout, re.M), res.stdout
    assert re.search(r"^lease_max\s+24h0m0s$", res.stdout, re.M), res.stdout

    res = bao.cli("read", "-format=json", f"{path}/config/lease")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["data"] == {"lease": "1h0m0s", "lease_max": "24h0m0s"}


def test_path_help_lists_fields_with_types(bao, mount):
    path = mount()
    res = bao.cli("path-help", f"{path}/config/lease")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert re.search(r"^\s+lease \(string\)$", out, re.M), out
    assert re.search(r"^\s+lease_max \(string\)$", out, re.M), out
    assert "Default lease for roles." in out
    assert "Maximum time a credential is valid for." in out
    assert re.search(r"^Matching Route: \^config/lease\$$", out, re.M), out


def test_invalid_duration_is_400_naming_the_field_and_keeps_value(bao, mount):
    path = configured_mount(mount, bao, "1h", "24h")

    status, body = write_lease(bao, path, lease="soon", lease_max="24h")
    assert status == 400, body
    assert len(errors_of(body)) == 1, body
    assert errors_of(body)[0].startswith("Invalid lease: "), body
    assert "soon" in errors_of(body)[0]

    status, body = write_lease(bao, path, lease="2h", lease_max="forever")
    assert status == 400, body
    assert errors_of(body)[0].startswith("Invalid lease_max: "), body

    assert_lease(bao, path, "1h0m0s", "24h0m0s")  # neither write stored anything

    # The CLI shows the same message and fails.
    res = bao.cli("write", f"{path}/config/lease", "lease=soon", "lease_max=1h")
    assert res.returncode != 0
    assert "Code: 400" in res.stderr and "Invalid lease: " in res.stderr, res.stderr
    assert_lease(bao, path, "1h0m0s", "24h0m0s")


def test_missing_lease_is_400_required_parameter(bao, mount):
    path = configured_mount(mount, bao, "1h", "24h")
    status, body = write_lease(bao, path, lease_max="2h")
    assert status == 400, body
    assert errors_of(body) == ["'lease' is a required parameter"]
    assert_lease(bao, path, "1h0m0s", "24h0m0s")


def test_unknown_path_is_404_and_unsupported_operation_is_405(bao, mount):
    path = configured_mount(mount, bao)

    status, body = bao.api("GET", f"{path}/no/such/path")
    assert status == 404, body
    assert any("unsupported path" in e for e in errors_of(body)), body

    status, body = bao.api("DELETE", f"{path}/config/lease")
    assert status == 405, body
    assert any("unsupported operation" in e for e in errors_of(body)), body

    assert_lease(bao, path, "1h0m0s", "24h0m0s")  # the DELETE deleted nothing


def test_unknown_field_warns_only_when_a_response_is_returned(bao, mount):
    path = configured_mount(mount, bao, "1h", "24h")

    # A write answers no response (204): nothing to hang a warning on, and the
    # known fields are still applied.
    status, body = write_lease(bao, path, lease="2h", lease_max="24h", bogus="1")
    assert status == 204, body
    assert body is None

    status, body = read_lease(bao, path, "?bogus=1")
    assert status == 200, body
    assert body["data"] == {"lease": "2h0m0s", "lease_max": "24h0m0s"}
    assert body["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus]"]

    status, body = read_lease(bao, path)
    assert status == 200, body
    assert not body.get("warnings"), body


def test_a_body_field_replaced_by_the_path_capture_warns_as_the_sdk_does(bao, mount):
    path = mount()
    status, body = bao.api("POST", f"{path}/roles/captured", {"credential_type": "iam_user"})
    assert status == 204, body
    # `name` in the query is overridden by the name captured from the path.
    status, body = bao.api("GET", f"{path}/roles/captured?name=other")
    assert status == 200, body
    assert body["data"]["credential_type"] == "iam_user"
    assert body["warnings"] == [
        "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]"
    ]


def test_openapi_document_contains_the_mount_paths(bao, mount):
    a, b = mount(), mount()
    status, body = bao.api("GET", "sys/internal/specs/openapi")
    assert status == 200, body
    paths = body["paths"]
    for m in (a, b):
        assert f"/{m}/config/lease" in paths, sorted(p for p in paths if "lease" in p)
    props = paths[f"/{a}/config/lease"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert props["lease"]["type"] == "string"
    assert props["lease_max"]["type"] == "string"


def test_hvac_read_and_write(hvac_client, mount):
    import hvac.exceptions

    path = mount()
    hvac_client.write(f"{path}/config/lease", lease="2h", lease_max="12h")
    assert hvac_client.read(f"{path}/config/lease")["data"] == {
        "lease": "2h0m0s", "lease_max": "12h0m0s"}

    with pytest.raises(hvac.exceptions.InvalidRequest, match="Invalid lease: "):
        hvac_client.write(f"{path}/config/lease", lease="soon", lease_max="12h")
    assert hvac_client.read(f"{path}/config/lease")["data"]["lease"] == "2h0m0s"


# --------------------------------------------------------------------------
# life cycle: reload, crash
# --------------------------------------------------------------------------


def test_plugin_reload_keeps_mounts_and_data(stack, bao, mount, plugin_pids):
    a = configured_mount(mount, bao, "1h", "24h")
    b = configured_mount(mount, bao, "30m", "2h")
    before = plugin_pids()
    assert len(before) == 1, before

    res = bao.cli("plugin", "reload", f"-plugin={stack.plugin_name}")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Success" in res.stdout

    assert_lease(bao, a, "1h0m0s", "24h0m0s")
    assert_lease(bao, b, "30m0s", "2h0m0s")
    wait_for(lambda: not devstack.pid_alive(before[0]), what=f"old plugin pid {before[0]} to exit")
    after = plugin_pids()
    assert len(after) == 1 and after != before, (before, after)


def test_kill_9_then_next_request_works_in_a_new_process(bao, mount, plugin_pids):
    path = configured_mount(mount, bao, "45m", "3h")
    pids = plugin_pids()
    assert len(pids) == 1, pids
    old = pids[0]
    sockets = unix_socket_paths(old)  # a killed plugin cannot unlink its listener
    offset = bao.log_size()

    os.kill(old, signal.SIGKILL)  # exactly the plugin's pid (found by its binary path)
    wait_for(lambda: not devstack.pid_alive(old), what=f"plugin pid {old} to die")
    for sock in sockets:
        if os.path.exists(sock) and stat.S_ISSOCK(os.lstat(sock).st_mode):
            os.unlink(sock)
    wait_for(lambda: "signal: killed" in bao.log_since(offset), what="the server to notice the crash")

    # Relaunched on demand. OpenBao may first dial the dead plugin's socket once more and answer
    # that one request 500 ("dial unix ...: connect: ..."), a race inside the server that the
    # plugin cannot see; the request after it must work, in a new process.
    status, body = read_lease(bao, path)
    if status != 200:
        assert status == 500 and "dial unix" in json.dumps(body), (status, body)
    assert_lease(bao, path, "45m0s", "3h0m0s")
    new = plugin_pids()
    assert len(new) == 1 and new[0] != old, (old, new)
    assert_lease(bao, path, "45m0s", "3h0m0s")
    assert plugin_pids() == new


# --------------------------------------------------------------------------
# logging
# --------------------------------------------------------------------------

# "2026-11-23T12:09:09.526Z [DEBUG] secrets.aws.aws_1dff72c2.aws.vault-plugin-secrets-aws: msg: k=v ..."
_SERVER_LINE = re.compile(r"^(?P<ts>\S+) \[(?P<level>[A-Z]+)\]\s+(?P<logger>[^\s:]+): (?P<rest>.*)$")


def plugin_logger_re(name: str) -> re.Pattern:
    return re.compile(
        rf"^secrets\.{re.escape(name)}\.{re.escape(name)}_[0-9a-f]{{8}}\.{re.escape(name)}\."
        rf"{re.escape(devstack.PLUGIN_FILE_NAME)}$"
    )


def test_server_log_shows_parsed_plugin_log_lines(stack, bao, mount):
    offset = bao.log_size()
    path = configured_mount(mount, bao)
    assert_lease(bao, path, "1h0m0s", "24h0m0s")
    logger = plugin_logger_re(stack.plugin_name)

    def plugin_lines():
        out = []
        for line in bao.log_since(offset).splitlines():
            m = _SERVER_LINE.match(line)
            if m and logger.match(m["logger"]):
                out.append(m)
        return out

    lines = wait_for(lambda: [m for m in plugin_lines() if "@module=aws" in m["rest"]],
                     what="a plugin log line with @module=aws")
    for m in lines:
        # hclog JSON was parsed by the host: level, message and fields re-emitted,
        # the plugin's @timestamp shown as a field -- not a raw JSON line.
        assert m["level"] in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR"), m.string
        assert not m["rest"].lstrip().startswith("{"), m.string
        assert re.search(r"\btimestamp=\d{4}-\d\d-\d\dT", m["rest"]), m.string
    # Nothing the plugin wrote came out unparsed (raw JSON is logged verbatim).
    raw = [l for l in bao.log_since(offset).splitlines() if '{"@level"' in l or '"@message"' in l]
    assert raw == [], raw
