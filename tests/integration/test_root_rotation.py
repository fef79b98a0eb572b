"""Automated rotation of the engine's own key: real OpenBao + moto + the release binary.

Fields (Vault Enterprise's names): ``rotation_period``, ``rotation_schedule`` (5-field cron,
UTC), ``rotation_window``, ``disable_automated_rotation`` on ``config/root``; reads add
``next_vault_rotation``, ``last_vault_rotation``, ``last_rotation_outcome``,
``last_rotation_error``, ``old_access_keys_pending_delete`` and ``old_access_key_delete_error``.

Every scenario that needs time to pass starts in the background when the module starts
(fixture ``_scenarios``), so the waits overlap; each test then waits for its scenario and
asserts. The root user is a real moto IAM user; calls go through scripts/faultproxy.py where a
scenario refuses a call (``stub``) or counts the root user's calls (``track_users``):

* ``refused``  -- rotation_period 20 s, DeleteAccessKey refused: the rotation happens, the old
  key is recorded and shown until a retry (after the refusal is lifted) deletes it; the next
  rotation follows on time.
* ``failing``  -- rotation_period 20 s, CreateAccessKey refused: the outcome "error" shows, the
  key stays; once the refusal is lifted the retry after the 10 s backoff rotates.
* ``cron``     -- rotation_schedule "* * * * *": the rotation lands on the next minute.
* ``restart``  -- single-node raft, rotation_period 30 s: the server restarts just before the
  first rotation is due, the mount's plugin is reloaded just before the second: exactly two
  CreateAccessKey calls for the root user; then a reload while the third rotation waits in
  CreateAccessKey: the reload waits for it (Cleanup), one call more, no orphan key.
* ``failover`` -- 3-node raft cluster, rotation_period 30 s: the active node is killed (-9)
  right after the first rotation; the new active node does not rotate again but makes the
  second rotation on time: exactly two CreateAccessKey calls.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import threading
import time
import uuid
from typing import Any, Callable, Optional

import pytest

import devstack
import faultproxy

ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}
PERIOD = 20
SLOW_PERIOD = 30
# How late an automated rotation may land after its due time (the task sleeps until then).
SLACK = 8.0
POLL = 0.3


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def uid() -> str:
    return uuid.uuid4().hex[:8]


def ok(status_body: tuple[int, Any], *statuses: int) -> Any:
    status, body = status_body
    assert status in (statuses or (200,)), f"HTTP {status}: {body}"
    return body


def errors_of(status_body: tuple[int, Any], status: int = 400) -> list[str]:
    st, body = status_body
    assert st == status, f"expected HTTP {status}, got {st}: {body}"
    return body["errors"]


def parse_utc(s: str) -> float:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def wait_until(check: Callable[[], Any], deadline: float, what: str) -> Any:
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(POLL)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class RootUser:
    """A moto IAM user with an admin policy and one access key: the engine's root."""

    def __init__(self, iam, prefix: str):
        self.iam = iam
        self.name = f"{prefix}-{uid()}"
        iam.create_user(UserName=self.name)
        iam.put_user_policy(UserName=self.name, PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [ADMIN]}))
        key = iam.create_access_key(UserName=self.name)["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def keys(self) -> set[str]:
        return {k["AccessKeyId"] for k in self.iam.list_access_keys(UserName=self.name)["AccessKeyMetadata"]}

    def delete(self) -> None:
        for k in self.keys():
            self.iam.delete_access_key(UserName=self.name, AccessKeyId=k)
        self.iam.delete_user_policy(UserName=self.name, PolicyName="admin")
        self.iam.delete_user(UserName=self.name)


def configure(api, m: str, endpoint: str, root: RootUser, **rotation) -> None:
    ok(api("POST", f"{m}/config/root", dict(
        access_key=root.access_key, secret_key=root.secret_key, region="us-east-1",
        iam_endpoint=endpoint, sts_endpoint=endpoint, **rotation)), 204)


def root_config(api, m: str) -> dict:
    return ok(api("GET", f"{m}/config/root"))["data"]


def wait_rotated(api, m: str, old_key: str, deadline: float, what: str) -> dict:
    """config/root once its access key is no longer ``old_key``."""
    def check() -> Optional[dict]:
        c = root_config(api, m)
        return c if c["access_key"] != old_key else None
    return wait_until(check, deadline, what)


def metric(api, m: str, series: str) -> Optional[float]:
    """The value of ``series`` (name with labels, as printed) in the mount's metrics."""
    status, body = api("GET", f"{m}/metrics")
    assert status == 200, body
    text = body if isinstance(body, str) else json.dumps(body)
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def create_calls(proxy: faultproxy.FaultProxy, user: str) -> int:
    return proxy.stats().get("users", {}).get(user, {}).get("CreateAccessKey", 0)


# --------------------------------------------------------------------------
# Background scenarios
# --------------------------------------------------------------------------


class Scenario:
    """Runs ``body`` in a thread; ``result()`` waits for it and re-raises what it hit."""

    def __init__(self, name: str):
        self.name = name
        self.error: Optional[BaseException] = None
        self.done = threading.Event()
        self.stop = threading.Event()
        self.cleanups: list[Callable[[], None]] = []
        self.seen: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self.body()
        except BaseException as e:  # shown by result()
            self.error = e
        finally:
            self.done.set()

    def body(self) -> None:
        raise NotImplementedError

    def result(self, timeout: float = 300) -> dict[str, Any]:
        assert self.done.wait(timeout), f"{self.name}: did not finish in {timeout}s ({self.seen})"
        if self.error is not None:
            raise AssertionError(f"{self.name}: {self.error!r}; seen {self.seen}") from self.error
        return self.seen

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:  # cleanup must not hide the test's outcome
                print(f"{self.name}: cleanup failed: {e!r}")


class DevMount(Scenario):
    """A mount on the session's dev server whose config/root is a fresh moto root user."""

    def __init__(self, name: str, bao, moto, proxied: bool):
        super().__init__(name)
        self.bao, self.moto, self.proxied = bao, moto, proxied
        self.iam = moto.client("iam")  # boto3 clients are made here: not thread-safe to create
        self.proxy: Optional[faultproxy.FaultProxy] = None
        self.mount = f"root-{name}-{uid()}"

    def setup(self, **rotation) -> RootUser:
        endpoint = self.moto.endpoint
        if self.proxied:
            self.proxy = faultproxy.FaultProxy(self.moto.endpoint).start()
            self.cleanups.append(self.proxy.stop)
            endpoint = self.proxy.url
        root = RootUser(self.iam, f"root-{self.name}")
        self.cleanups.append(root.delete)
        ok(self.bao.api("POST", f"sys/mounts/{self.mount}", {"type": "aws"}), 204)
        self.cleanups.append(lambda: self.bao.api("DELETE", f"sys/mounts/{self.mount}"))
        configure(self.bao.api, self.mount, endpoint, root, **rotation)
        return root

    def config(self) -> dict:
        return root_config(self.bao.api, self.mount)

    def wait_rotated(self, old_key: str, deadline: float, what: str) -> dict:
        return wait_rotated(self.bao.api, self.mount, old_key, deadline, what)


class Refused(DevMount):
    def body(self) -> None:
        s = self.seen
        xml = faultproxy.aws_error_xml("Sender", "AccessDenied", "fault proxy: delete refused").decode()
        self.proxy_stub = {"DeleteAccessKey": [403, xml]}
        root = self.setup()
        self.proxy.configure(stub=self.proxy_stub)
        configure(self.bao.api, self.mount, self.proxy.url, root, rotation_period=PERIOD)
        s["configured_at"] = time.time()
        s["first_next"] = parse_utc(self.config()["next_vault_rotation"])
        c = self.wait_rotated(root.access_key, s["first_next"] + 30, "the first rotation")
        s["rotated_at"] = time.time()
        s["after_rotation"] = c
        s["keys_after_rotation"] = root.keys()
        s["gauge_pending"] = metric(self.bao.api, self.mount, "vault_aws_root_key_delete_pending")
        s["rotations_ok"] = metric(self.bao.api, self.mount, 'vault_aws_root_rotations_total{outcome="success"}')
        self.proxy.configure(stub={})
        s["refusal_lifted_at"] = time.time()
        c = wait_until(lambda: (lambda c: c if not c["old_access_keys_pending_delete"] else None)(self.config()),
                       time.time() + 45, "the retried delete of the old key")
        s["deleted_at"] = time.time()
        s["after_delete"] = c
        s["keys_after_delete"] = root.keys()
        s["gauge_after_delete"] = metric(self.bao.api, self.mount, "vault_aws_root_key_delete_pending")
        first_key = c["access_key"]
        c2 = self.wait_rotated(first_key, parse_utc(c["next_vault_rotation"]) + 30, "the second rotation")
        s["second_rotation"] = c2
        s["keys_after_second"] = wait_until(lambda: (lambda k: k if k == {c2["access_key"]} else None)(root.keys()),
                                            time.time() + 20, "only the newest key left")


class Failing(DevMount):
    def body(self) -> None:
        s = self.seen
        xml = faultproxy.aws_error_xml("Sender", "LimitExceeded",
                                       "Cannot exceed quota for AccessKeysPerUser: 2").decode()
        root = self.setup()
        self.proxy.configure(stub={"CreateAccessKey": [409, xml]})
        configure(self.bao.api, self.mount, self.proxy.url, root, rotation_period=PERIOD)
        s["due"] = parse_utc(self.config()["next_vault_rotation"])
        c = wait_until(lambda: (lambda c: c if c["last_rotation_outcome"] == "error" else None)(self.config()),
                       s["due"] + 30, "a failed rotation")
        s["failed_seen_at"] = time.time()
        s["after_failure"] = c
        s["keys_after_failure"] = root.keys()
        s["rotations_error"] = metric(self.bao.api, self.mount, 'vault_aws_root_rotations_total{outcome="error"}')
        s["failing_gauge"] = metric(self.bao.api, self.mount, "vault_aws_root_rotation_failing")
        self.proxy.configure(stub={})
        c = self.wait_rotated(root.access_key, time.time() + 40, "the retried rotation")
        s["failing_gauge_after"] = metric(self.bao.api, self.mount, "vault_aws_root_rotation_failing")
        s["rotated_at"] = time.time()
        s["after_rotation"] = c
        s["keys_after_rotation"] = root.keys()


class Cron(DevMount):
    def body(self) -> None:
        s = self.seen
        root = self.setup(rotation_schedule="* * * * *", rotation_window="1h")
        c = self.config()
        s["configured"] = c
        due = parse_utc(c["next_vault_rotation"])
        c = self.wait_rotated(root.access_key, due + 20, "the scheduled rotation")
        s["rotated_at"] = time.time()
        s["after"] = c
        s["keys"] = root.keys()
        s["due"] = due


class OwnServer(Scenario):
    """A scenario with servers of its own, the release binary, and a fault proxy before moto."""

    def __init__(self, name: str, plugin_binary, moto):
        super().__init__(name)
        self.plugin_binary, self.moto = plugin_binary, moto
        self.iam = moto.client("iam")

    def proxy(self) -> faultproxy.FaultProxy:
        proxy = faultproxy.FaultProxy(self.moto.endpoint).start()
        self.cleanups.append(proxy.stop)
        return proxy


class Restart(OwnServer):
    """Single-node raft: restart before the first due time, plugin reload before the second."""

    def body(self) -> None:
        s = self.seen
        proxy = self.proxy()
        rb = devstack.RaftBao()
        self.cleanups.append(rb.close)
        rb.start()
        name = f"aws-rr-{uid()}"  # its own catalog name, so a reload restarts only this mount's process
        devstack.install_plugin(rb, self.plugin_binary, name)
        root = RootUser(self.iam, "root-restart")
        self.cleanups.append(root.delete)
        proxy.configure(track_users=[root.name])
        m = "rr"
        ok(rb.api("POST", f"sys/mounts/{m}", {"type": name}), 204)
        configure(rb.api, m, proxy.url, root, rotation_period=SLOW_PERIOD)
        due1 = parse_utc(root_config(rb.api, m)["next_vault_rotation"])
        s["due1"] = due1
        time.sleep(max(0.0, due1 - 6 - time.time()))
        t = time.time()
        rb.restart()
        s["restart_seconds"] = time.time() - t
        c = wait_rotated(rb.api, m, root.access_key, due1 + 40, "the rotation after the restart")
        s["first"] = c
        s["first_seen_at"] = time.time()
        due2 = parse_utc(c["next_vault_rotation"])
        s["due2"] = due2
        time.sleep(max(0.0, due2 - 3 - time.time()))
        ok(rb.api("POST", "sys/plugins/reload/backend", {"mounts": [m]}), 200, 204)
        s["reloaded_at"] = time.time()
        key1 = c["access_key"]
        c = wait_rotated(rb.api, m, key1, due2 + 30, "the rotation after the reload")
        s["second"] = c
        time.sleep(5)  # a second rotation for the same slot would show by now
        s["create_calls"] = create_calls(proxy, root.name)
        s["keys"] = root.keys()
        # A reload while a rotation is under way (its CreateAccessKey held 3 s): Cleanup lets it
        # finish, so the slot is rotated once and no key is left to the rollback.
        key2, due3 = c["access_key"], parse_utc(c["next_vault_rotation"])
        proxy.configure(delay={"CreateAccessKey": 3.0})
        wait_until(lambda: proxy.stats()["actions"].get("CreateAccessKey", {}).get("delayed", 0) >= 1,
                   due3 + 20, "the third rotation's CreateAccessKey")
        t = time.time()
        ok(rb.api("POST", "sys/plugins/reload/backend", {"mounts": [m]}), 200, 204)
        s["reload_during_rotation_s"] = time.time() - t
        proxy.configure(delay={})
        s["third"] = wait_rotated(rb.api, m, key2, time.time() + 20, "the third rotation")
        time.sleep(3)
        s["create_calls_after_third"] = create_calls(proxy, root.name)
        s["keys_after_third"] = root.keys()
        s["final"] = root_config(rb.api, m)


SWEEP_EVERY = 3


def list_users_calls(proxy: faultproxy.FaultProxy) -> int:
    return proxy.stats().get("actions", {}).get("ListUsers", {}).get("calls", 0)


class Failover(OwnServer):
    """3-node raft: kill -9 the active node right after the first rotation."""

    def body(self) -> None:
        import hacluster

        s = self.seen
        proxy = self.proxy()
        cluster = hacluster.Cluster(3, log_level="info")
        self.cleanups.append(cluster.close)
        t = time.time()
        cluster.start()
        s["cluster_start_seconds"] = time.time() - t
        leader = cluster.active()
        assert leader is not None
        for node in cluster.nodes:
            devstack.copy_plugin(self.plugin_binary, node.plugin_dir)
        devstack.register_plugin(leader.cli, leader.plugin_dir / devstack.PLUGIN_FILE_NAME, "aws")
        root = RootUser(self.iam, "root-failover")
        self.cleanups.append(root.delete)
        proxy.configure(track_users=[root.name])
        m = "ha"
        ok(leader.api("POST", f"sys/mounts/{m}", {"type": "aws"}), 204)
        configure(leader.api, m, proxy.url, root, rotation_period=SLOW_PERIOD)
        # The periodic orphan sweep on the same mount (issue 14): once per interval across the
        # cluster, and on the new active node after the failover.
        ok(leader.api("POST", f"{m}/config/tidy", {"interval": f"{SWEEP_EVERY}s", "min_age": 0}), 204)
        tag = ok(leader.api("GET", f"{m}/config/tidy"), 200)["data"]["mount_tag_value"]
        sweeps_from, s["sweep_window_started"] = list_users_calls(proxy), time.time()
        due1 = parse_utc(root_config(leader.api, m)["next_vault_rotation"])
        c = wait_rotated(leader.api, m, root.access_key, due1 + 30, "the first rotation")
        s["sweeps_before_kill"] = list_users_calls(proxy) - sweeps_from
        s["sweep_window"] = time.time() - s["sweep_window_started"]
        os.kill(leader.pid, signal.SIGKILL)
        s["killed_at"] = time.time()
        s["first"] = c
        new = cluster.wait_active(exclude=leader, timeout=60)
        s["new_active_after"] = time.time() - s["killed_at"]
        orphan = f"ha-tagged-orphan-{int(time.time())}"
        self.iam.create_user(UserName=orphan, Tags=[{"Key": "vault-secrets-aws-mount", "Value": tag}])
        s["orphan_swept_after_failover"] = wait_until(
            lambda: orphan not in {u["UserName"] for p in self.iam.get_paginator("list_users").paginate()
                                   for u in p["Users"]},
            time.time() + 60, "the new active node's sweep to delete a tagged orphan")
        s["calls_after_failover"] = None
        due2 = parse_utc(c["next_vault_rotation"])
        time.sleep(max(0.0, due2 - 2 - time.time()))
        s["calls_before_due2"] = create_calls(proxy, root.name)
        key1 = c["access_key"]
        c = wait_rotated(new.api, m, key1, due2 + 40, "the second rotation on the new active node")
        s["second"] = c
        time.sleep(5)
        s["create_calls"] = create_calls(proxy, root.name)
        s["keys"] = wait_until(lambda: (lambda k: k if k == {c["access_key"]} else None)(root.keys()),
                               time.time() + 30, "only the newest key left")


SCENARIOS = ("refused", "failing", "cron", "restart", "failover")


def _started(sc: Scenario):
    sc.thread.start()
    yield sc
    sc.close()


@pytest.fixture(scope="module")
def refused(bao, moto):
    yield from _started(Refused("refused", bao, moto, proxied=True))


@pytest.fixture(scope="module")
def failing(bao, moto):
    yield from _started(Failing("failing", bao, moto, proxied=True))


@pytest.fixture(scope="module")
def cron(bao, moto):
    yield from _started(Cron("cron", bao, moto, proxied=False))


@pytest.fixture(scope="module")
def restart(plugin_binary, moto):
    yield from _started(Restart("restart", plugin_binary, moto))


@pytest.fixture(scope="module")
def failover(plugin_binary, moto):
    yield from _started(Failover("failover", plugin_binary, moto))


@pytest.fixture(scope="module", autouse=True)
def _scenarios(request):
    """Start, as the module starts, the scenarios that its selected tests use."""
    here = request.module.__name__
    wanted = {name for item in request.session.items if item.module.__name__ == here
              for name in SCENARIOS if name in item.fixturenames}
    for name in SCENARIOS:
        if name in wanted:
            request.getfixturevalue(name)
    yield


# --------------------------------------------------------------------------
# Fields, rules, reads (quick)
# --------------------------------------------------------------------------


@pytest.fixture
def m(bao, moto, mount) -> str:
    path = mount(prefix="rootrot")
    ok(bao.api("POST", f"{path}/config/root", dict(
        access_key="testing", secret_key="testing", region="us-east-1", iam_endpoint=moto.endpoint)), 204)
    return path


@pytest.mark.parametrize("fields,text", [
    ({"rotation_period": "1h", "rotation_schedule": "0 * * * *"},
     "mutually exclusive fields rotation_schedule and rotation_period were both specified; "
     "only one of them can be provided"),
    ({"rotation_period": "1h", "rotation_window": "2h"}, "rotation_window does not apply to period"),
    ({"rotation_window": "2h"}, "cannot use rotation_window without rotation_schedule"),
    ({"rotation_schedule": "0 * * * *", "rotation_window": "10m"}, "rotation_window must be 3600 seconds or more"),
    ({"rotation_period": "5s"}, "rotation_period must be 10 seconds or more"),
    ({"rotation_schedule": "0 * * *"}, "failed to parse provided rotation_schedule: expected exactly 5 fields"),
    ({"rotation_schedule": "@hourly"}, "failed to parse provided rotation_schedule: parser does not accept"),
    ({"rotation_schedule": "0 25 * * *"}, "failed to parse provided rotation_schedule"),
])
def test_bad_rotation_fields_are_400_naming_the_field_and_change_nothing(bao, m, fields, text):
    before = root_config(bao.api, m)
    errs = errors_of(bao.api("POST", f"{m}/config/root", fields))
    assert len(errs) == 1 and errs[0].startswith(text), errs
    assert root_config(bao.api, m) == before


def test_negative_duration_is_refused_by_the_field_parser(bao, m):
    st, body = bao.api("POST", f"{m}/config/root", {"rotation_period": -60})
    assert st == 400 and "rotation_period" in json.dumps(body), body


def test_reads_show_the_fields_and_the_next_rotation(bao, m):
    c = root_config(bao.api, m)
    assert (c["rotation_period"], c["rotation_schedule"], c["rotation_window"],
            c["disable_automated_rotation"]) == (0, "", 0, False)
    assert c["next_vault_rotation"] == "" and c["last_rotation_outcome"] == ""
    assert c["old_access_keys_pending_delete"] == []

    t0 = time.time()
    ok(bao.api("POST", f"{m}/config/root", {"rotation_period": "1h"}), 204)
    c = root_config(bao.api, m)
    assert c["rotation_period"] == 3600
    assert abs(parse_utc(c["next_vault_rotation"]) - (t0 + 3600)) < 5, c
    # The same value again (Terraform re-applies every field) keeps the due time.
    ok(bao.api("POST", f"{m}/config/root", {"rotation_period": 3600, "region": "us-east-1"}), 204)
    assert root_config(bao.api, m)["next_vault_rotation"] == c["next_vault_rotation"]

    # Switch to a schedule (period 0 in the same write): the next 03:00 UTC.
    ok(bao.api("POST", f"{m}/config/root", {"rotation_period": 0, "rotation_schedule": "0 3 * * *",
                                             "rotation_window": "2h"}), 204)
    c = root_config(bao.api, m)
    assert (c["rotation_period"], c["rotation_schedule"], c["rotation_window"]) == (0, "0 3 * * *", 7200)
    nxt = datetime.datetime.fromtimestamp(parse_utc(c["next_vault_rotation"]), datetime.timezone.utc)
    assert (nxt.hour, nxt.minute, nxt.second) == (3, 0, 0) and 0 < nxt.timestamp() - time.time() <= 86400

    ok(bao.api("POST", f"{m}/config/root", {"disable_automated_rotation": True}), 204)
    c = root_config(bao.api, m)
    assert c["disable_automated_rotation"] is True and c["next_vault_rotation"] == ""
    assert c["rotation_schedule"] == "0 3 * * *"  # kept, only switched off
    assert "secret_key" not in c


def test_manual_rotate_root_moves_the_schedule_on(bao, moto, mount):
    iam = moto.client("iam")
    root = RootUser(iam, "root-manual")
    try:
        m = mount(prefix="rootrot-manual")
        configure(bao.api, m, moto.endpoint, root, rotation_period="1h")
        before = root_config(bao.api, m)
        time.sleep(1.1)  # next_vault_rotation has whole seconds
        t = time.time()
        new = ok(bao.api("POST", f"{m}/config/rotate-root"))["data"]["access_key"]
        c = root_config(bao.api, m)
        assert c["access_key"] == new != root.access_key
        assert root.keys() == {new}
        assert c["last_rotation_outcome"] == "success" and c["last_rotation_error"] == ""
        assert abs(parse_utc(c["last_vault_rotation"]) - t) < 3
        assert parse_utc(c["next_vault_rotation"]) > parse_utc(before["next_vault_rotation"])
        assert abs(parse_utc(c["next_vault_rotation"]) - (t + 3600)) < 5
        assert c["old_access_keys_pending_delete"] == []
    finally:
        root.delete()


# --------------------------------------------------------------------------
# Scheduled rotations (background scenarios)
# --------------------------------------------------------------------------


def test_refused_old_key_delete_is_recorded_shown_and_retried(refused):
    s = refused.result()
    c = s["after_rotation"]
    old, new = c["old_access_keys_pending_delete"], c["access_key"]
    assert old and new not in old, c
    assert s["keys_after_rotation"] == {new, *old}, "the old key still exists while its delete is refused"
    assert "AccessDenied" in c["old_access_key_delete_error"], c
    assert c["last_rotation_outcome"] == "success"
    assert s["rotated_at"] - s["first_next"] < SLACK + POLL * 2, s
    # after the refusal is lifted, the retry (10 s backoff) deletes it
    d = s["after_delete"]
    assert d["old_access_keys_pending_delete"] == [] and d["old_access_key_delete_error"] == ""
    assert s["keys_after_delete"] == {d["access_key"]}
    assert s["deleted_at"] - s["refusal_lifted_at"] < 25, s
    # the schedule carried on: the second rotation follows one period after the first
    c2 = s["second_rotation"]
    assert abs(parse_utc(c2["last_vault_rotation"]) - parse_utc(c["last_vault_rotation"]) - PERIOD) < SLACK
    assert s["keys_after_second"] == {c2["access_key"]}


def test_pending_delete_and_rotations_in_metrics(refused, failing):
    s = refused.result()
    assert s["gauge_pending"] == 1, s
    assert s["gauge_after_delete"] == 0, s
    assert s["rotations_ok"] is not None and s["rotations_ok"] >= 1, s
    f = failing.result()
    assert f["rotations_error"] is not None and f["rotations_error"] >= 1, f


def test_failed_rotation_is_shown_and_retried_with_backoff(failing):
    s = failing.result()
    f = s["after_failure"]
    assert f["last_rotation_outcome"] == "error" and "CreateAccessKey" in f["last_rotation_error"], f
    assert "LimitExceeded" in f["last_rotation_error"], f
    assert len(s["keys_after_failure"]) == 1, "no key made by the failed attempt"
    assert (s["failing_gauge"], s["failing_gauge_after"]) == (1, 0), s
    r = s["after_rotation"]
    assert r["last_rotation_outcome"] == "success" and r["last_rotation_error"] == ""
    assert s["keys_after_rotation"] == {r["access_key"]}
    # not retried at once: the first retry waits 10 s after the failed attempt
    assert parse_utc(r["last_vault_rotation"]) - parse_utc(f["last_vault_rotation"] or f["next_vault_rotation"]) >= 9
    assert abs(parse_utc(r["next_vault_rotation"]) - parse_utc(r["last_vault_rotation"]) - PERIOD) < 2


def test_schedule_rotates_on_the_next_minute(cron):
    s = cron.result()
    due = s["due"]
    assert due % 60 == 0 and 0 < due - parse_utc(s["configured"]["last_vault_rotation"] or "1970-01-01T00:00:00Z")
    a = s["after"]
    assert 0 <= parse_utc(a["last_vault_rotation"]) - due < SLACK, (a, due)
    assert parse_utc(a["next_vault_rotation"]) == due + 60
    assert s["keys"] == {a["access_key"]}


def test_rotation_happens_once_across_a_restart_and_a_reload(restart):
    s = restart.result()
    first, second = s["first"], s["second"]
    assert 0 <= parse_utc(first["last_vault_rotation"]) - s["due1"] < SLACK + 10, s  # unseal time included
    assert 0 <= parse_utc(second["last_vault_rotation"]) - s["due2"] < SLACK, s
    assert s["create_calls"] == 2, f"CreateAccessKey calls for the root user: {s['create_calls']}"
    assert s["keys"] == {second["access_key"]}
    # the reload during the third rotation waited for it: one more call, one key, no orphan
    assert s["reload_during_rotation_s"] >= 1.5, s
    assert s["create_calls_after_third"] == 3, s
    assert s["third"]["last_rotation_outcome"] == "success"
    assert s["keys_after_third"] == {s["third"]["access_key"]} == {s["final"]["access_key"]}


def test_the_periodic_orphan_sweep_runs_once_per_interval_and_carries_on_after_failover(failover):
    s = failover.result()
    expected = s["sweep_window"] / SWEEP_EVERY
    assert expected >= 3, s
    # One node sweeps: about one ListUsers per interval, not one per node.
    assert 0.5 * expected <= s["sweeps_before_kill"] <= expected + 2, s
    assert s["orphan_swept_after_failover"], s


def test_rotation_happens_once_across_an_active_node_failover(failover):
    s = failover.result()
    assert s["calls_before_due2"] == 1, f"the new active node rotated again: {s}"
    assert s["create_calls"] == 2, s
    assert 0 <= parse_utc(s["second"]["last_vault_rotation"]) - parse_utc(s["first"]["next_vault_rotation"]) < SLACK
    assert s["keys"] == {s["second"]["access_key"]}
