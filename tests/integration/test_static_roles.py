"""Static roles end to end: real OpenBao + moto + the release binary.

Contract: Vault's AWS engine (builtin/logical/aws: path_static_roles.go,
path_static_creds.go, rotation.go): static-roles/<name>, its LIST, static-creds/<name>,
their storage; input errors are 400; LIST, expiration, queue rebuilt on start, failed
rotations retried; cross-account fields. Engine additions (src/aws/static_roles/): ``single_key``
(opt-in: the previous key is deleted as soon as the new one works), ``rotate-role/<name>``
(rotate now), a per-mount scheduler that sleeps until the next due rotation (stored with the
creds, rebuilt from storage on Initialize), retries after 10 s doubling up to 300 s, default
mode keeps the previous engine key until the next rotation, delete removes the engine's keys
(never the user). As in Vault (builtin/logical/aws/rotation.go), a user that holds two keys
at role creation or at a rotation first loses the one with the oldest CreateDate, whoever
made it; the role-write / rotate-role response warns which key was retired.

Timing. Everything that needs a real minute to pass is started in the background as the
module starts (fixture ``_long_scenarios``), so the waits overlap with each other and with
the quick tests:

* ``sched`` -- on the session's dev server, one mount with five roles (period 60 s):
  default mode, single_key, period lowered 3600 -> 60, period raised 60 -> 3600, and a
  "flaky" role whose user is renamed away so its rotations fail. A poller thread records
  every key change of every role (with the keys moto holds at that moment) and, after the
  flaky role's second logged failure (bao log: ``static rotation failed; will retry ...
  role=<name>``), renames the user back.
* ``restarted`` -- its own single-node raft server (shares moto): role with period 60 s,
  server restarted + unsealed ~40 s before the rotation is due, then the rotation time is
  observed.

Rotation times are read from the engine itself: a rotation sets expiration = now + period,
so ``rotated_at = new expiration - period`` (same host clock as the tests).

moto 5.2.5 facts this relies on (probed): CreateAccessKey enforces the 2-keys-per-user quota
(``LimitExceeded: Cannot exceed quota for AccessKeysPerUser: 2``); ListAccessKeys' CreateDate
has microseconds (two keys made one after the other have distinct, ordered dates); the account of a request
is the account of its access key, and STS AssumeRole into ``arn:aws:iam::<other>:role/..``
returns keys of that other account (the role need not exist, its trust policy and
ExternalId are not checked without ``set_auth``) -- so the cross-account test checks the
AssumeRole parameters with moto's request recorder.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest
from botocore.exceptions import ClientError

import devstack
import faultproxy

ACCOUNT = "123456789012"  # moto's default account (the engine's root key "testing")
ACCOUNT2 = "222222222222"
PERIOD = 60
# A due rotation must have happened this long after its due time at the latest. The
# scheduler sleeps until the due time (no 1-minute tick), so it is normally ~0-1 s.
TICK_SLACK = 30.0
FIRST_RETRY = 10.0
POLL = 0.5

RANGE_ERR = "role rotation period out of range: must be greater than 60.00 seconds"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def uid() -> str:
    return uuid.uuid4().hex[:6]


def ok(status_body: tuple[int, Any], *statuses: int) -> Any:
    status, body = status_body
    assert status in (statuses or (200, 204)), f"HTTP {status}: {body}"
    return body


def bad_request(status_body: tuple[int, Any]) -> str:
    """The single error text of a 400 answer."""
    status, body = status_body
    assert status == 400, f"expected HTTP 400, got {status}: {body}"
    assert isinstance(body, dict) and len(body.get("errors") or []) == 1, body
    return body["errors"][0]


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")


def parse_utc(s: str) -> float:
    """RFC 3339 UTC ('Z') -> Unix time; fails on anything else."""
    m = _TS.match(s)
    assert m, f"not an RFC 3339 UTC timestamp: {s!r}"
    base = datetime.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return base + (float("0." + m[2]) if m[2] else 0.0)


def configure_root(api, m: str, moto) -> None:
    body = dict(access_key="testing", secret_key="testing", region="us-east-1",
                iam_endpoint=moto.endpoint, sts_endpoint=moto.endpoint)
    ok(api("POST", f"{m}/config/root", body), 204)


def new_user(iam, prefix: str = "static") -> tuple[str, str]:
    name = f"{prefix}-{uid()}"
    user = iam.create_user(UserName=name)["User"]
    return name, user["UserId"]


def aws_keys(iam, user: str) -> set[str]:
    return {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def user_exists(iam, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchEntity":
            return False
        raise


def list_roles(api, m: str) -> list[str]:
    status, body = api("LIST", f"{m}/static-roles")
    if status == 404:  # the server answers an empty LIST with 404
        return []
    assert status == 200, f"HTTP {status}: {body}"
    return body["data"]["keys"]


def creds(api, m: str, role: str) -> dict:
    return ok(api("GET", f"{m}/static-creds/{role}"), 200)["data"]


def write_role(api, m: str, role: str, **fields) -> dict:
    return ok(api("POST", f"{m}/static-roles/{role}", fields), 200)["data"]


def read_role(api, m: str, role: str) -> dict:
    return ok(api("GET", f"{m}/static-roles/{role}"), 200)["data"]


def rotate(api, m: str, role: str) -> dict:
    return ok(api("POST", f"{m}/rotate-role/{role}", {}), 200)["data"]


def assert_near(actual: float, expected: float, tol: float, what: str) -> None:
    assert abs(actual - expected) <= tol, (
        f"{what}: {actual:.3f} is {actual - expected:+.3f}s from the expected {expected:.3f} (tolerance {tol}s)")


def wait_until(check: Callable[[], Any], deadline: float, what: str) -> Any:
    """Poll ``check`` until truthy; fail at ``deadline`` (Unix time)."""
    while True:
        result = check()
        if result:
            return result
        if time.time() > deadline:
            pytest.fail(f"timed out (deadline {deadline - time.time():+.1f}s from now) waiting for {what}")
        time.sleep(0.2)


class Recorder:
    """moto's request recorder: which actions were called, with which parameters."""

    def __init__(self, moto):
        self.moto = moto

    def _post(self, what: str) -> None:
        status, body = devstack.http_request("POST", f"{self.moto.endpoint}/moto-api/recorder/{what}")
        assert status == 200, f"moto recorder {what}: HTTP {status} {body!r}"

    def __enter__(self) -> "Recorder":
        self._post("reset-recording")
        self._post("start-recording")
        return self

    def __exit__(self, *exc) -> None:
        self._post("stop-recording")

    def calls(self) -> list[tuple[str, dict]]:
        status, raw = devstack.http_request("GET", f"{self.moto.endpoint}/moto-api/recorder/download-recording")
        assert status == 200
        out = []
        for line in raw.decode().splitlines():
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode(errors="replace")
            params = urllib.parse.parse_qs(body) if "=" in body else {}
            query = urllib.parse.urlparse(entry["url"]).query
            if query:
                params.update(urllib.parse.parse_qs(query))
            flat = {k: v[0] for k, v in params.items()}
            if "Action" in flat:
                out.append((flat.pop("Action"), flat))
        return out


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iam(moto):
    return moto.client("iam")


@pytest.fixture
def m(bao, moto, mount) -> str:
    """A fresh mount with config/root pointing at moto (dummy key, account 123456789012)."""
    path = mount(prefix="static")
    configure_root(bao.api, path, moto)
    return path


@pytest.fixture(scope="module")
def reloadable(stack, bao):
    """The same binary registered under its own catalog name: it runs in its own process, so
    reloading a mount of it (to prove something was persisted, not only held in memory)
    does not restart the process that serves every other ``aws`` mount. (OpenBao's
    ``sys/plugins/reload/backend`` with ``mounts`` kills the whole multiplexed process.)"""
    name = f"aws-static-reload-{uid()}"
    devstack.register_plugin(bao.cli, stack.plugin_path, name)
    yield name
    # registered without -version, the catalog holds it under the version the plugin reports
    status, body = bao.api("GET", "sys/plugins/catalog")
    entries = [d for d in (body or {}).get("data", {}).get("detailed", [])
               if d.get("name") == name and d.get("type") == "secret"] if status == 200 else []
    for d in entries or [{}]:
        version = d.get("version") or ""
        bao.cli("plugin", "deregister", *([f"-version={version}"] if version else []), "secret", name)


@pytest.fixture
def reloadable_mount(bao, moto, mount, reloadable) -> tuple[str, Callable[[], None]]:
    """(path, reload): a configured mount of ``reloadable`` and a function reloading it."""
    path = mount(prefix="static-rl", plugin=reloadable)
    configure_root(bao.api, path, moto)

    def reload() -> None:
        ok(bao.api("POST", "sys/plugins/reload/backend", {"mounts": [path]}), 200, 204)

    return path, reload


# -- background scenarios -----------------------------------------------------


@dataclass
class Seen:
    """One state of a role's static-creds, as the poller saw it."""
    access_key: str
    expiration: float
    seen_at: float
    keys_in_aws: set[str]

    def rotated_at(self, period: float = PERIOD) -> float:
        return self.expiration - period


@dataclass
class Watched:
    name: str
    user: str
    history: list[Seen] = field(default_factory=list)  # [0] = right after setup


class Scenario:
    """A background thread's results; ``check()`` re-raises what the thread hit."""

    def __init__(self, name: str):
        self.name = name
        self.error: Optional[BaseException] = None
        self.ready = threading.Event()  # setup finished (or failed)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread: Optional[threading.Thread] = None
        self.poll_errors: list[str] = []

    def run(self, target: Callable[[], None]) -> "Scenario":
        def body():
            try:
                target()
            except BaseException as e:  # surfaced by check()
                self.error = e
            finally:
                self.ready.set()
        self.thread = threading.Thread(target=body, name=self.name, daemon=True)
        self.thread.start()
        return self

    def check(self, timeout: float = 120) -> None:
        if not self.ready.wait(timeout):
            pytest.fail(f"{self.name}: setup did not finish in {timeout}s")
        if self.error is not None:
            raise AssertionError(f"{self.name} scenario failed: {self.error!r}") from self.error

    def join(self, timeout: float = 15) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)


class Sched(Scenario):
    """Five roles with 60 s periods on one dev-server mount, watched in the background."""

    ROLES = ("dflt", "single", "lowered", "raised", "flaky")

    def __init__(self, bao, moto, iam):
        super().__init__("sched")
        self.bao, self.moto, self.iam = bao, moto, iam
        self.mount = f"static-sched-{uid()}"
        self.roles: dict[str, Watched] = {}
        self.raised_first_expiration = 0.0
        self.lowered_at = 0.0
        self.flaky_extra_key = ""
        self.flaky_failures: list[tuple[float, str]] = []  # (log time, log line)
        self.flaky_fault_cleared_at: Optional[float] = None
        self.log_offset = bao.log_size()

    def setup(self) -> None:
        api = self.bao.api
        ok(api("POST", f"sys/mounts/{self.mount}", {"type": "aws"}), 204)
        configure_root(api, self.mount, self.moto)
        users = {r: new_user(self.iam, f"sched-{r}")[0] for r in self.ROLES}
        for r in self.ROLES:
            self.roles[r] = Watched(f"{r}-{uid()}", users[r])
        n = {r: w.name for r, w in self.roles.items()}
        write_role(api, self.mount, n["dflt"], username=users["dflt"], rotation_period=PERIOD)
        write_role(api, self.mount, n["single"], username=users["single"], rotation_period=PERIOD,
                   single_key=True)
        write_role(api, self.mount, n["lowered"], username=users["lowered"], rotation_period=3600)
        self.lowered_at = time.time()
        write_role(api, self.mount, n["lowered"], rotation_period=PERIOD)
        write_role(api, self.mount, n["raised"], username=users["raised"], rotation_period=PERIOD)
        self.raised_first_expiration = parse_utc(creds(api, self.mount, n["raised"])["expiration"])
        write_role(api, self.mount, n["raised"], rotation_period=3600)
        write_role(api, self.mount, n["flaky"], username=users["flaky"], rotation_period=PERIOD)
        # The user is renamed away, so its rotation fails until it is renamed back.
        self.iam.update_user(UserName=users["flaky"], NewUserName=users["flaky"] + "-away")
        for w in self.roles.values():
            self._observe(w)

    def _observe(self, w: Watched) -> None:
        status, body = self.bao.api("GET", f"{self.mount}/static-creds/{w.name}")
        if status != 200:
            self.poll_errors.append(f"{w.name}: HTTP {status} {body}")
            return
        d = body["data"]
        if w.history and w.history[-1].access_key == d["access_key"]:
            return
        try:
            keys = aws_keys(self.iam, w.user)
        except self.iam.exceptions.NoSuchEntityException:
            keys = aws_keys(self.iam, w.user + "-away")  # the flaky user while renamed away
        seen = Seen(d["access_key"], parse_utc(d["expiration"]), time.time(), keys)
        with self.lock:
            w.history.append(seen)

    def _watch_flaky_log(self) -> None:
        w = self.roles["flaky"]
        pattern = re.compile(rf"static rotation failed.*role={re.escape(w.name)}(\s|$)")
        lines = [ln for ln in self.bao.log_since(self.log_offset).splitlines() if pattern.search(ln)]
        if len(lines) > len(self.flaky_failures):
            with self.lock:
                self.flaky_failures = [(parse_utc(ln.split()[0]), ln) for ln in lines]
        if len(self.flaky_failures) >= 2 and self.flaky_fault_cleared_at is None:
            self.iam.update_user(UserName=w.user + "-away", NewUserName=w.user)
            self.flaky_fault_cleared_at = time.time()

    def body(self) -> None:
        self.setup()
        self.ready.set()
        while not self.stop.is_set():
            try:
                for w in self.roles.values():
                    self._observe(w)
                self._watch_flaky_log()
            except Exception as e:  # keep watching; shown by the tests if relevant
                self.poll_errors.append(repr(e))
            self.stop.wait(POLL)

    def history(self, role: str) -> list[Seen]:
        with self.lock:
            return list(self.roles[role].history)

    def wait_rotations(self, role: str, n: int, deadline: float) -> list[Seen]:
        """Wait until ``role`` has rotated ``n`` times (history of n+1 states)."""
        while True:
            h = self.history(role)
            if len(h) >= n + 1:
                return h
            if time.time() > deadline:
                name = self.roles[role].name
                pytest.fail(
                    f"role {role} ({name}): {len(h)} credential state(s) seen, {n + 1} expected by "
                    f"{time.strftime('%H:%M:%S', time.gmtime(deadline))}Z; history "
                    f"{[(s.access_key, time.strftime('%H:%M:%S', time.gmtime(s.expiration))) for s in h]}; "
                    f"poll errors {self.poll_errors[-3:]}")
            time.sleep(0.2)

    def teardown(self) -> None:
        self.join()
        self.bao.api("DELETE", f"sys/mounts/{self.mount}")


class Restarted(Scenario):
    """A raft server: role with period 60 s; restart + unseal ~40 s before it is due."""

    RESTART_BEFORE_DUE = 40.0

    def __init__(self, plugin_binary, moto, iam):
        super().__init__("restarted")
        self.plugin_binary, self.moto, self.iam = plugin_binary, moto, iam
        self.server: Optional[devstack.RaftBao] = None
        self.mount = "aws-restart"
        self.role = f"rr-{uid()}"
        self.user = ""
        self.first: Optional[Seen] = None
        self.after: list[Seen] = []
        self.pid_before = self.pid_after = None
        self.restarted_at = 0.0
        self.plugin_pids_after_unseal: list[int] = []
        self.done = threading.Event()

    def body(self) -> None:
        rb = self.server = devstack.RaftBao()
        rb.start()
        devstack.install_plugin(rb, self.plugin_binary, "aws")
        ok(rb.api("POST", f"sys/mounts/{self.mount}", {"type": "aws"}), 204)
        configure_root(rb.api, self.mount, self.moto)
        self.user = new_user(self.iam, "restart")[0]
        write_role(rb.api, self.mount, self.role, username=self.user, rotation_period=PERIOD)
        d = creds(rb.api, self.mount, self.role)
        self.first = Seen(d["access_key"], parse_utc(d["expiration"]), time.time(), aws_keys(self.iam, self.user))
        self.ready.set()
        due = self.first.expiration
        if self.stop.wait(max(0.0, due - self.RESTART_BEFORE_DUE - time.time())):
            return
        self.pid_before = rb.pid
        rb.restart()
        self.restarted_at = time.time()
        self.pid_after = rb.pid
        # No request has reached the mount since the restart: is its plugin already running?
        self.plugin_pids_after_unseal = devstack.find_pids_by_exe(rb.plugin_dir / devstack.PLUGIN_FILE_NAME)
        # Look only from shortly before the due time (no request on the mount until then).
        if self.stop.wait(max(0.0, due - 3 - time.time())):
            return
        deadline = due + 45
        while not self.stop.is_set() and time.time() < deadline:
            status, body = rb.api("GET", f"{self.mount}/static-creds/{self.role}")
            if status == 200 and body["data"]["access_key"] != self.first.access_key:
                d = body["data"]
                self.after.append(Seen(d["access_key"], parse_utc(d["expiration"]), time.time(),
                                       aws_keys(self.iam, self.user)))
                break
            self.stop.wait(POLL)
        self.done.set()

    def teardown(self) -> None:
        self.join(30)
        if self.server is not None:
            self.server.close()


@pytest.fixture(scope="module")
def sched(bao, moto, iam):
    s = Sched(bao, moto, iam)
    s.run(s.body)
    yield s
    s.teardown()


@pytest.fixture(scope="module")
def restarted(plugin_binary, stack, moto):
    iam = moto.client("iam")  # created here: boto3 client creation is not thread-safe
    r = Restarted(plugin_binary, moto, iam)
    r.run(r.body)
    yield r
    r.teardown()


@pytest.fixture(scope="module", autouse=True)
def _long_scenarios(request):
    """Start the minute-long background scenarios as soon as the module starts, but only
    those that a selected test of this module uses."""
    here = request.module.__name__
    wanted = {name for item in request.session.items if item.module.__name__ == here
              for name in ("sched", "restarted") if name in item.fixturenames}
    for name in ("sched", "restarted"):
        if name in wanted:
            request.getfixturevalue(name)
    yield


# --------------------------------------------------------------------------
# CRUD, LIST, static-creds
# --------------------------------------------------------------------------


def test_create_read_list_update(bao, reloadable_mount, iam):
    m, reload = reloadable_mount
    user, user_id = new_user(iam)
    role = f"app-{uid()}"
    created = write_role(bao.api, m, role, username=user, rotation_period="1h")
    want = {"name": role, "id": user_id, "username": user, "rotation_period": 3600,
            "assume_role_arn": "", "assume_role_session_name": "", "external_id": "",
            "single_key": False}
    assert created == want
    assert read_role(bao.api, m, role) == want
    # the bao CLI renders it too (integer seconds, the IAM user id)
    out = bao.cli("read", "-format=json", f"{m}/static-roles/{role}", check=True).stdout
    assert json.loads(out)["data"]["rotation_period"] == 3600
    assert json.loads(out)["data"]["id"] == user_id

    second = f"other-{uid()}"
    write_role(bao.api, m, second, username=new_user(iam)[0], rotation_period=PERIOD)
    assert sorted(list_roles(bao.api, m)) == sorted([role, second])
    out = bao.cli("list", "-format=json", f"{m}/static-roles", check=True).stdout
    assert sorted(json.loads(out)) == sorted([role, second])

    # update: only supplied fields change; same username is fine
    updated = write_role(bao.api, m, role, rotation_period=7200)
    assert updated == dict(want, rotation_period=7200)
    updated = write_role(bao.api, m, role, username=user, single_key=True)
    assert updated == dict(want, rotation_period=7200, single_key=True)
    assert read_role(bao.api, m, role) == dict(want, rotation_period=7200, single_key=True)
    updated = write_role(bao.api, m, role, single_key=False)
    assert updated["single_key"] is False and updated["rotation_period"] == 7200
    # persisted (nanoseconds in storage, seconds on read): a fresh plugin process reads it back
    reload()
    assert read_role(bao.api, m, role) == dict(want, rotation_period=7200)

    assert bao.api("GET", f"{m}/static-roles/missing-{uid()}")[0] == 404
    assert bao.api("GET", f"{m}/static-creds/missing-{uid()}")[0] == 404


def test_static_creds_are_a_real_key_with_expiration_now_plus_period(bao, m, iam):
    user, _ = new_user(iam)
    role = f"c-{uid()}"
    before = time.time()
    write_role(bao.api, m, role, username=user, rotation_period="5m")
    after = time.time()
    d = creds(bao.api, m, role)
    assert set(d) == {"access_key", "secret_key", "expiration"}, d
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", d["access_key"]), d
    assert len(d["secret_key"]) == 40, d
    assert aws_keys(iam, user) == {d["access_key"]}
    exp = parse_utc(d["expiration"])  # RFC 3339, UTC
    assert before + 300 - 1 <= exp <= after + 300 + 1, (before, exp, after)
    # reading creds never rotates and carries no lease
    status, body = bao.api("GET", f"{m}/static-creds/{role}")
    assert body["data"] == d
    assert body["lease_id"] == "" and body["lease_duration"] == 0 and body["renewable"] is False


def test_delete_removes_engine_keys_but_never_the_user(bao, m, iam):
    user, user_id = new_user(iam)
    own = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]  # not the engine's
    role = f"d-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period=PERIOD)
    k1 = creds(bao.api, m, role)["access_key"]
    # make the engine hold two keys (current + previous): free the quota for a moment
    iam.delete_access_key(UserName=user, AccessKeyId=own)
    k2 = rotate(bao.api, m, role)["access_key"]
    assert aws_keys(iam, user) == {k1, k2}
    # the previous engine key deleted out of band (NoSuchEntity on delete is fine)
    iam.delete_access_key(UserName=user, AccessKeyId=k1)
    own = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]

    ok(bao.api("DELETE", f"{m}/static-roles/{role}"), 204)
    assert aws_keys(iam, user) == {own}, "the engine's keys must be gone, the user's own key kept"
    assert iam.get_user(UserName=user)["User"]["UserId"] == user_id
    assert bao.api("GET", f"{m}/static-roles/{role}")[0] == 404
    assert bao.api("GET", f"{m}/static-creds/{role}")[0] == 404
    assert role not in list_roles(bao.api, m)
    # deleting again (absent role) is a no-op
    ok(bao.api("DELETE", f"{m}/static-roles/{role}"), 204)
    # the name can be reused for the same user
    write_role(bao.api, m, role, username=user, rotation_period=PERIOD)
    assert creds(bao.api, m, role)["access_key"] in aws_keys(iam, user)


# --------------------------------------------------------------------------
# Validation: every rule answers 400 and stores nothing
# --------------------------------------------------------------------------


def _assert_nothing_stored(bao, m, role, iam=None, user=None):
    assert bao.api("GET", f"{m}/static-roles/{role}")[0] == 404
    assert bao.api("GET", f"{m}/static-creds/{role}")[0] == 404
    assert role not in list_roles(bao.api, m)
    if iam is not None and user is not None:
        assert aws_keys(iam, user) == set(), "no key may be created for a refused role"


@pytest.mark.parametrize("fields, text", [
    ({"rotation_period": PERIOD}, 'missing "username" parameter'),
    ({"username": "", "rotation_period": PERIOD}, 'missing "username" parameter'),
    ({"username": "$USER"}, 'missing "rotation_period" parameter'),
    ({"username": "$USER", "rotation_period": 59}, RANGE_ERR),
    ({"username": "$USER", "rotation_period": "59s"}, RANGE_ERR),
    ({"username": "$USER", "rotation_period": 0}, RANGE_ERR),
    ({"username": "$USER", "rotation_period": PERIOD, "assume_role_session_name": "s"},
     "assume_role_session_name requires assume_role_arn"),
    ({"username": "$USER", "rotation_period": PERIOD, "external_id": "e"},
     "external_id requires assume_role_arn"),
], ids=["no-username", "empty-username", "no-period", "period-59", "period-59s", "period-0",
        "session-without-arn", "external-id-without-arn"])
def test_create_input_errors_are_400_and_store_nothing(bao, m, iam, fields, text):
    user, _ = new_user(iam)
    fields = {k: (user if v == "$USER" else v) for k, v in fields.items()}
    role = f"v-{uid()}"
    assert bad_request(bao.api("POST", f"{m}/static-roles/{role}", fields)) == text
    _assert_nothing_stored(bao, m, role, iam, user)


def test_period_of_exactly_60s_is_accepted(bao, m, iam):
    user, _ = new_user(iam)
    assert write_role(bao.api, m, f"p-{uid()}", username=user, rotation_period="1m")["rotation_period"] == 60


def test_unparsable_period_is_400(bao, m, iam):
    user, _ = new_user(iam)
    role = f"v-{uid()}"
    status, body = bao.api("POST", f"{m}/static-roles/{role}", {"username": user, "rotation_period": "soon"})
    assert status == 400, body
    _assert_nothing_stored(bao, m, role, iam, user)


def test_missing_user_is_400_naming_the_user(bao, m):
    ghost = f"ghost-{uid()}"
    role = f"v-{uid()}"
    text = bad_request(bao.api("POST", f"{m}/static-roles/{role}",
                               {"username": ghost, "rotation_period": PERIOD}))
    assert text.startswith(f'unable to validate username "{ghost}": '), text
    assert "NoSuchEntity" in text, text
    _assert_nothing_stored(bao, m, role)


def test_update_input_errors_are_400_and_change_nothing(bao, m, iam):
    user, _ = new_user(iam)
    other, _ = new_user(iam)
    role = f"u-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period=PERIOD)
    before_role = read_role(bao.api, m, role)
    before_creds = creds(bao.api, m, role)

    text = bad_request(bao.api("POST", f"{m}/static-roles/{role}", {"username": other}))
    assert text.startswith("username cannot be changed"), text
    assert bad_request(bao.api("POST", f"{m}/static-roles/{role}", {"rotation_period": 30})) == RANGE_ERR
    assert bad_request(bao.api("POST", f"{m}/static-roles/{role}", {"external_id": "x"})) == \
        "external_id requires assume_role_arn"
    assert bad_request(bao.api("POST", f"{m}/static-roles/{role}", {"assume_role_session_name": "x"})) == \
        "assume_role_session_name requires assume_role_arn"
    # an error in one field does not let the valid ones through
    assert bad_request(bao.api("POST", f"{m}/static-roles/{role}",
                               {"rotation_period": 30, "single_key": True})) == RANGE_ERR

    assert read_role(bao.api, m, role) == before_role
    assert creds(bao.api, m, role) == before_creds
    assert aws_keys(iam, user) == {before_creds["access_key"]}
    assert aws_keys(iam, other) == set()


def test_recreated_user_with_same_name_is_refused(bao, m, iam):
    """The role is bound to the IAM user id, not just the name (§1.7)."""
    user, old_id = new_user(iam)
    role = f"id-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period=PERIOD)
    for k in aws_keys(iam, user):
        iam.delete_access_key(UserName=user, AccessKeyId=k)
    iam.delete_user(UserName=user)
    new_id = iam.create_user(UserName=user)["User"]["UserId"]
    assert new_id != old_id
    mismatch = (f'AWS GetUser returned a user, but the ID did not match: "{old_id}" was requested, '
                f'but "{new_id}" was returned')
    assert bad_request(bao.api("POST", f"{m}/static-roles/{role}", {"rotation_period": 120})) == mismatch
    assert read_role(bao.api, m, role)["rotation_period"] == PERIOD
    status, body = bao.api("POST", f"{m}/rotate-role/{role}", {})
    assert status in (400, 500) and "ID did not match" in json.dumps(body), (status, body)
    assert aws_keys(iam, user) == set(), "no key may be created for the impostor user"


# --------------------------------------------------------------------------
# rotate-role
# --------------------------------------------------------------------------


def test_rotate_role_default_mode_keeps_previous_key_at_most_two(bao, m, iam):
    user, _ = new_user(iam)
    role = f"r-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period="1h")
    c = creds(bao.api, m, role)
    keys = [c["access_key"]]
    exp = parse_utc(c["expiration"])
    for i in range(3):
        time.sleep(1.1)  # expiration has to move visibly
        t0 = time.time()
        out = rotate(bao.api, m, role)
        assert set(out) == {"access_key", "expiration"}, out
        assert out["access_key"] not in keys
        new_exp = parse_utc(out["expiration"])
        assert new_exp > exp
        assert_near(new_exp, t0 + 3600, 2, "expiration after rotate-role")
        now = creds(bao.api, m, role)
        assert now["access_key"] == out["access_key"] and now["expiration"] == out["expiration"]
        keys.append(out["access_key"])
        exp = new_exp
        # the previous engine key stays until the next rotation; older ones are gone
        assert aws_keys(iam, user) == set(keys[-2:]), f"after rotation {i + 1}"


def test_rotate_role_single_key_leaves_exactly_one_key(bao, m, iam):
    user, _ = new_user(iam)
    role = f"s-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period="1h", single_key=True)
    current = creds(bao.api, m, role)["access_key"]
    assert aws_keys(iam, user) == {current}
    for _ in range(3):
        out = rotate(bao.api, m, role)
        assert out["access_key"] != current
        current = out["access_key"]
        assert aws_keys(iam, user) == {current}
        assert creds(bao.api, m, role)["access_key"] == current


def test_rotate_role_unknown_role(bao, m):
    name = f"nope-{uid()}"
    status, body = bao.api("POST", f"{m}/rotate-role/{name}", {})
    assert status == 400, body
    assert name in body["errors"][0]


def test_rotate_role_failure_is_reported_and_keeps_the_role(bao, m, iam):
    user, _ = new_user(iam)
    role = f"f-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period="1h")
    c0 = creds(bao.api, m, role)
    iam.update_user(UserName=user, NewUserName=user + "-away")  # the managed user is gone

    status, body = bao.api("POST", f"{m}/rotate-role/{role}", {})
    assert status == 400, body
    text = body["errors"][0]
    assert "iam user didn't exist" in text and "NoSuchEntity" in text, text
    # nothing changed: same creds, same keys, role intact
    assert creds(bao.api, m, role) == c0
    assert aws_keys(iam, user + "-away") == {c0["access_key"]}
    assert role in list_roles(bao.api, m)

    iam.update_user(UserName=user + "-away", NewUserName=user)
    out = rotate(bao.api, m, role)
    assert out["access_key"] != c0["access_key"]
    assert aws_keys(iam, user) == {c0["access_key"], out["access_key"]}


# --------------------------------------------------------------------------
# Changing rotation_period
# --------------------------------------------------------------------------


def test_changing_period_resets_expiration_now_and_persists(bao, reloadable_mount, iam):
    m, reload = reloadable_mount
    user, _ = new_user(iam)
    role = f"p-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period="1h")
    c0 = creds(bao.api, m, role)

    t0 = time.time()
    write_role(bao.api, m, role, rotation_period="2m")  # lower
    c1 = creds(bao.api, m, role)
    assert_near(parse_utc(c1["expiration"]), t0 + 120, 2, "expiration after lowering to 2m")
    assert c1["access_key"] == c0["access_key"], "changing the period must not rotate"

    t1 = time.time()
    write_role(bao.api, m, role, rotation_period="3h")  # raise
    c2 = creds(bao.api, m, role)
    assert_near(parse_utc(c2["expiration"]), t1 + 3 * 3600, 2, "expiration after raising to 3h")
    assert c2["access_key"] == c0["access_key"]

    # an update that does not change the period leaves the schedule alone
    time.sleep(1.1)
    write_role(bao.api, m, role, rotation_period="3h", single_key=True)
    assert creds(bao.api, m, role)["expiration"] == c2["expiration"]

    # persisted, not only in memory: a fresh plugin process reads it back
    reload()
    assert creds(bao.api, m, role)["expiration"] == c2["expiration"]
    assert read_role(bao.api, m, role)["rotation_period"] == 3 * 3600
    assert aws_keys(iam, user) == {c0["access_key"]}


# --------------------------------------------------------------------------
# Cross-account (assume_role_arn)
# --------------------------------------------------------------------------


def test_cross_account_static_role(bao, m, moto, iam):
    # Set up account 2 with keys of account 2 (moto: the account of a request is the
    # account its access key belongs to; AssumeRole into account 2 yields such keys).
    c = moto.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT2}:role/test-setup",
                                       RoleSessionName="setup")["Credentials"]
    iam2 = moto.client("iam", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                       session_token=c["SessionToken"])
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "ext-42"}}}]}
    role_arn = iam2.create_role(RoleName=f"vault-static-{uid()}",
                                AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert role_arn.startswith(f"arn:aws:iam::{ACCOUNT2}:role/")
    user = f"x-{uid()}"
    user_id = iam2.create_user(UserName=user)["User"]["UserId"]
    assert not user_exists(iam, user), "the user must exist only in account 2"

    role = f"xr-{uid()}"
    with Recorder(moto) as rec:
        data = write_role(bao.api, m, role, username=user, rotation_period="1h",
                          assume_role_arn=role_arn, assume_role_session_name="vault-x",
                          external_id="ext-42")
        assumed = [p for a, p in rec.calls() if a == "AssumeRole" and p.get("RoleArn") == role_arn]
    assert data["id"] == user_id
    assert (data["assume_role_arn"], data["assume_role_session_name"], data["external_id"]) == \
        (role_arn, "vault-x", "ext-42")
    assert assumed, "the engine never called AssumeRole for the role"
    assert all(p.get("RoleSessionName") == "vault-x" and p.get("ExternalId") == "ext-42"
               for p in assumed), assumed

    k1 = creds(bao.api, m, role)["access_key"]
    assert aws_keys(iam2, user) == {k1}
    who = moto.client("sts", access_key=k1, secret_key="x").get_caller_identity()
    assert who["Account"] == ACCOUNT2 and who["Arn"] == f"arn:aws:iam::{ACCOUNT2}:user/{user}"

    k2 = rotate(bao.api, m, role)["access_key"]
    assert k2 != k1
    assert aws_keys(iam2, user) == {k1, k2}
    k3 = rotate(bao.api, m, role)["access_key"]
    assert aws_keys(iam2, user) == {k2, k3}

    # single_key works across accounts too
    write_role(bao.api, m, role, single_key=True)
    k4 = rotate(bao.api, m, role)["access_key"]
    assert aws_keys(iam2, user) == {k4}

    ok(bao.api("DELETE", f"{m}/static-roles/{role}"), 204)
    assert aws_keys(iam2, user) == set()
    assert iam2.get_user(UserName=user)["User"]["UserId"] == user_id


def test_cross_account_user_is_looked_up_in_the_target_account(bao, m, moto, iam):
    """A user that exists only in account 1 is not found through a role in account 2."""
    user, _ = new_user(iam)
    role = f"xr-{uid()}"
    text = bad_request(bao.api("POST", f"{m}/static-roles/{role}", {
        "username": user, "rotation_period": PERIOD,
        "assume_role_arn": f"arn:aws:iam::{ACCOUNT2}:role/vault-static-none"}))
    assert text.startswith(f'unable to validate username "{user}": '), text
    _assert_nothing_stored(bao, m, role, iam, user)


# --------------------------------------------------------------------------
# Restart: the schedule is rebuilt from storage (raft server, background)
# --------------------------------------------------------------------------


def test_rotation_after_restart_happens_at_the_persisted_time(restarted):
    r = restarted
    r.check()
    due = r.first.expiration
    # the scenario thread polls until due + 45 s
    r.thread.join(max(0.0, due + 60 - time.time()))
    assert not r.thread.is_alive(), "restart scenario thread did not finish"
    assert r.error is None, repr(r.error)
    assert r.pid_after is not None and r.pid_after != r.pid_before, "the server was not restarted"
    assert r.restarted_at < due - 20, "restart must happen well before the rotation is due"
    print(f"\nrestart: server restarted {due - r.restarted_at:.1f}s before the due time; plugin "
          f"processes right after unseal (no request yet): {r.plugin_pids_after_unseal}")
    assert r.after, (f"no rotation by due + 45 s after a restart (due "
                     f"{time.strftime('%H:%M:%S', time.gmtime(due))}Z): the schedule was not rebuilt")
    rotated_at = r.after[0].rotated_at()
    print(f"restart: rotated {rotated_at - due:+.3f}s after the persisted due time")
    # not early (due 'now' on start) and not at restart + period (schedule not persisted)
    assert rotated_at >= due - 0.5, f"rotated {due - rotated_at:.1f}s before the persisted time"
    assert rotated_at <= due + 10, (f"rotated {rotated_at - due:.1f}s after the persisted time "
                                    f"(restart + period would be +{r.restarted_at + PERIOD - due:.1f}s)")
    assert r.after[0].keys_in_aws == {r.first.access_key, r.after[0].access_key}


# --------------------------------------------------------------------------
# The scheduler (dev server, background): several roles at once
# --------------------------------------------------------------------------


def _first_rotation(sched, role: str) -> tuple[Seen, Seen]:
    sched.check()
    h0 = sched.history(role)[0]
    h = sched.wait_rotations(role, 1, h0.expiration + TICK_SLACK)
    return h[0], h[1]


def test_scheduled_rotation_default_mode(sched):
    before, after = _first_rotation(sched, "dflt")
    tick = after.rotated_at() - before.expiration
    print(f"\nscheduler: default-mode role rotated {tick:+.3f}s after its due time")
    assert tick >= -0.5, "rotated before it was due"
    assert after.access_key != before.access_key
    # default mode: the previous engine key is kept until the next rotation
    assert after.keys_in_aws == {before.access_key, after.access_key}
    assert_near(after.expiration, after.rotated_at() + PERIOD, 0.01, "next expiration")


def test_scheduled_rotation_single_key(sched):
    before, after = _first_rotation(sched, "single")
    tick = after.rotated_at() - before.expiration
    print(f"\nscheduler: single_key role rotated {tick:+.3f}s after its due time")
    assert tick >= -0.5, "rotated before it was due"
    # the old key is deleted as soon as the new one works
    assert after.keys_in_aws == {after.access_key}
    assert before.access_key not in aws_keys(sched.iam, sched.roles["single"].user)


def test_lowered_period_next_rotation_follows_new_value(sched):
    sched.check()
    h0 = sched.history("lowered")[0]
    # right after lowering 3600 -> 60 the expiration was now + 60, not the old + 3600
    assert_near(h0.expiration, sched.lowered_at + PERIOD, 3, "expiration after lowering")
    before, after = _first_rotation(sched, "lowered")
    assert after.rotated_at() - before.expiration >= -0.5
    assert_near(after.expiration - after.rotated_at(), PERIOD, 0.01, "new period used")


def test_raised_period_postpones_rotation(sched):
    sched.check()
    h0 = sched.history("raised")[0]
    assert_near(h0.expiration, sched.raised_first_expiration + 3600 - PERIOD, 5,
                "expiration after raising 60 -> 3600")
    # wait past the old due time (+ slack): no rotation may happen
    wait_until(lambda: time.time() > sched.raised_first_expiration + TICK_SLACK,
               sched.raised_first_expiration + TICK_SLACK + 5, "the old due time to pass")
    h = sched.history("raised")
    assert len(h) == 1, f"rotated although the period was raised: {h}"
    assert len(sched.history("dflt")) >= 2, (
        "inconclusive: the scheduler rotated nothing at all in this window (see the "
        "default-mode test)")
    assert creds(sched.bao.api, sched.mount, sched.roles["raised"].name)["access_key"] == h0.access_key


def test_failed_scheduled_rotation_is_retried_with_backoff_and_role_kept(sched):
    sched.check()
    w = sched.roles["flaky"]
    h0 = sched.history("flaky")[0]
    due = h0.expiration
    # 1. the scheduled rotation fails (user renamed away) and is retried after 10 s, then 20 s
    wait_until(lambda: len(sched.flaky_failures) >= 2, due + TICK_SLACK + FIRST_RETRY + 5,
               f"two logged failures of the scheduled rotation of {w.name} "
               "('static rotation failed; will retry ... role=<name>')")
    (f1, line1), (f2, line2) = sched.flaky_failures[:2]
    print(f"\nscheduler: flaky role failed {f1 - due:+.3f}s after due, retried {f2 - f1:.3f}s later")
    assert "didn't exist" in line1 and "NoSuchEntity" in line1, line1
    assert "retry_in_secs=10" in line1 and "retry_in_secs=20" in line2, (line1, line2)
    assert f1 >= due - 0.5
    assert_near(f2 - f1, FIRST_RETRY, 3, "first retry delay")
    # 2. the fault is gone after the 2nd failure: the next retry (20 s later) succeeds
    h = sched.wait_rotations("flaky", 1, f2 + 2 * FIRST_RETRY + TICK_SLACK)
    ok_at = h[1].rotated_at()
    print(f"scheduler: flaky role rotated {ok_at - f2:.3f}s after its 2nd failure")
    assert_near(ok_at - f2, 2 * FIRST_RETRY, 3, "second retry delay (doubled)")
    assert h[1].keys_in_aws == {h0.access_key, h[1].access_key}
    assert w.name in list_roles(sched.bao.api, sched.mount)
    # 3. never dropped: the regular schedule goes on one period later
    h = sched.wait_rotations("flaky", 2, h[1].expiration + TICK_SLACK)
    assert_near(h[2].rotated_at() - ok_at, PERIOD, TICK_SLACK, "next regular rotation")
    assert h[2].rotated_at() >= h[1].expiration - 0.5
    assert h[2].keys_in_aws == {h[1].access_key, h[2].access_key}


# --------------------------------------------------------------------------
# Retiring the keys a role takes over (Vault: delete the oldest key when the user holds two)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(moto):
    with faultproxy.FaultProxy(moto.endpoint) as p:
        yield p


@pytest.fixture
def pm(bao, moto, mount, proxy) -> str:
    """A fresh mount whose IAM calls go through the fault proxy; no fault until a test sets one."""
    proxy.quiet()
    path = mount(prefix="static-px")
    ok(bao.api("POST", f"{path}/config/root", dict(
        access_key="testing", secret_key="testing", region="us-east-1",
        iam_endpoint=proxy.url, sts_endpoint=moto.endpoint)), 204)
    yield path
    proxy.quiet()


def refuse(proxy, action: str, code: str = "AccessDenied", status: int = 403) -> None:
    """Every call of ``action`` through the proxy is refused by "AWS" until the stub is lifted."""
    xml = faultproxy.aws_error_xml("Sender", code, f"fault proxy: {action} refused").decode()
    proxy.configure(stub={action: [status, xml]})
    proxy.reset()


def proxy_calls(proxy, action: str) -> int:
    return proxy.stats()["actions"].get(action, {}).get("calls", 0)


def dated_keys(iam, user: str) -> list[tuple[str, float]]:
    """(access key id, CreateDate as Unix time) of the user's keys, oldest first."""
    ks = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return sorted(((k["AccessKeyId"], k["CreateDate"].timestamp()) for k in ks), key=lambda t: t[1])


def own_keys(iam, user: str, n: int) -> list[tuple[str, float]]:
    """Gives the user ``n`` keys of its own (as a person would before handing it to the engine);
    returns them oldest first."""
    for _ in range(n):
        iam.create_access_key(UserName=user)
    keys = dated_keys(iam, user)
    assert len(keys) == n and len({t for _, t in keys}) == n, f"need distinct CreateDates: {keys}"
    return keys


_RETIRED = re.compile(r'^retired access key (\S+) of IAM user "([^"]+)" \(created (\S+), the oldest of '
                      r"the user's 2 access keys(, and the role's current key)?\) to make room for the "
                      r"new key: IAM allows 2 access keys per user$")


def retired(body: dict, user: str, key: tuple[str, float], own: bool = False) -> None:
    """The response warns, in one warning, that ``key`` of ``user`` was retired."""
    warnings = body.get("warnings") or []
    assert len(warnings) == 1, f"expected one warning naming {key[0]}: {body}"
    m = _RETIRED.match(warnings[0])
    assert m, warnings[0]
    assert (m[1], m[2]) == (key[0], user), warnings[0]
    assert_near(parse_utc(m[3]), key[1], 0.001, "CreateDate in the warning")
    assert bool(m[4]) == own, warnings[0]


def test_role_on_a_user_with_two_keys_retires_the_oldest(bao, m, moto, iam):
    user, _ = new_user(iam)
    oldest, newer = own_keys(iam, user, 2)
    role = f"two-{uid()}"
    # no more "LimitExceeded: Cannot exceed quota for AccessKeysPerUser: 2"
    body = ok(bao.api("POST", f"{m}/static-roles/{role}", {"username": user, "rotation_period": "1h"}), 200)
    assert body["data"]["username"] == user
    retired(body, user, oldest)
    c1 = creds(bao.api, m, role)
    e1 = c1["access_key"]
    assert e1 not in (oldest[0], newer[0])
    assert aws_keys(iam, user) == {newer[0], e1}, "the oldest key is gone, the newer one and ours stay"
    who = moto.client("sts", access_key=e1, secret_key=c1["secret_key"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}", who

    # the next rotation: the other key of the user's own is now the oldest of two
    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    retired(body, user, newer)
    e2 = body["data"]["access_key"]
    assert aws_keys(iam, user) == {e1, e2}
    # from then on only the engine's own keys rotate, and nothing is warned about
    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    assert not body.get("warnings"), body
    assert aws_keys(iam, user) == {e2, body["data"]["access_key"]}


def test_user_with_one_key_keeps_it_at_creation_and_loses_it_at_the_next_rotation(bao, m, iam):
    user, _ = new_user(iam)
    [own] = own_keys(iam, user, 1)
    role = f"one-{uid()}"
    body = ok(bao.api("POST", f"{m}/static-roles/{role}", {"username": user, "rotation_period": "1h"}), 200)
    assert not body.get("warnings"), "room for one more key: nothing may be retired"
    e1 = creds(bao.api, m, role)["access_key"]
    assert aws_keys(iam, user) == {own[0], e1}

    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    retired(body, user, own)
    e2 = body["data"]["access_key"]
    assert creds(bao.api, m, role)["access_key"] == e2
    # default two-key mode: the engine's previous key stays until the next rotation
    assert aws_keys(iam, user) == {e1, e2}
    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    assert not body.get("warnings"), body
    assert aws_keys(iam, user) == {e2, body["data"]["access_key"]}


def test_single_key_role_on_a_user_with_two_keys(bao, m, iam):
    user, _ = new_user(iam)
    oldest, newer = own_keys(iam, user, 2)
    role = f"sk-{uid()}"
    body = ok(bao.api("POST", f"{m}/static-roles/{role}",
                      {"username": user, "rotation_period": "1h", "single_key": True}), 200)
    retired(body, user, oldest)
    e1 = creds(bao.api, m, role)["access_key"]
    assert aws_keys(iam, user) == {newer[0], e1}
    # two keys again: the user's newer key is the oldest; ours goes once the new one works
    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    retired(body, user, newer)
    assert aws_keys(iam, user) == {body["data"]["access_key"]}


def test_key_made_after_the_role_goes_by_age_too(bao, m, iam):
    """Was ``test_user_with_its_own_key_still_rotates_in_default_mode``, which asserted that a
    key of the user's own is never touched; as in Vault the oldest of two keys goes, whoever
    made it: first the role's key (older), at the next rotation the user's."""
    user, _ = new_user(iam)
    role = f"own-{uid()}"
    write_role(bao.api, m, role, username=user, rotation_period="1h")
    c0 = creds(bao.api, m, role)["access_key"]
    iam.create_access_key(UserName=user)  # quota now full; the engine's key is the older
    c0_dated, own = dated_keys(iam, user)
    assert c0_dated[0] == c0 and c0_dated[1] < own[1], (c0_dated, own)
    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    retired(body, user, c0_dated, own=True)
    out = body["data"]["access_key"]
    assert aws_keys(iam, user) == {own[0], out}
    body = ok(bao.api("POST", f"{m}/rotate-role/{role}", {}), 200)
    retired(body, user, own)
    assert aws_keys(iam, user) == {out, body["data"]["access_key"]}


def test_refused_retire_at_role_write_fails_and_stores_nothing(bao, pm, proxy, iam):
    user, _ = new_user(iam)
    oldest, newer = own_keys(iam, user, 2)
    role = f"rf-{uid()}"
    refuse(proxy, "DeleteAccessKey")
    status, body = bao.api("POST", f"{pm}/static-roles/{role}", {"username": user, "rotation_period": "1h"})
    assert status == 500, body
    text = body["errors"][0]  # a 500: the server wraps it ("1 error occurred: * ...")
    assert re.search(rf'unable to delete the oldest access key {oldest[0]} \(created \S+\) of IAM user '
                     rf'"{user}" to make room for the new key: AccessDenied: ', text), text
    _assert_nothing_stored(bao, pm, role)
    assert aws_keys(iam, user) == {oldest[0], newer[0]}
    assert proxy_calls(proxy, "CreateAccessKey") == 0
    # once AWS allows the delete, the same write works
    proxy.configure(stub={})
    body = ok(bao.api("POST", f"{pm}/static-roles/{role}", {"username": user, "rotation_period": "1h"}), 200)
    retired(body, user, oldest)
    assert aws_keys(iam, user) == {newer[0], creds(bao.api, pm, role)["access_key"]}


def test_refused_retire_at_rotation_fails_and_changes_nothing(bao, pm, proxy, iam):
    user, _ = new_user(iam)
    [own] = own_keys(iam, user, 1)
    role = f"rr-{uid()}"
    write_role(bao.api, pm, role, username=user, rotation_period="1h")
    role_before, c0 = read_role(bao.api, pm, role), creds(bao.api, pm, role)
    refuse(proxy, "DeleteAccessKey")
    status, body = bao.api("POST", f"{pm}/rotate-role/{role}", {})
    assert status == 500, body
    text = body["errors"][0]
    assert re.search(rf'unable to delete the oldest access key {own[0]} \(created \S+\) of IAM user '
                     rf'"{user}" to make room for the new key: AccessDenied: ', text), text
    assert creds(bao.api, pm, role) == c0 and read_role(bao.api, pm, role) == role_before
    assert aws_keys(iam, user) == {own[0], c0["access_key"]}
    assert proxy_calls(proxy, "CreateAccessKey") == 0
    proxy.configure(stub={})
    body = ok(bao.api("POST", f"{pm}/rotate-role/{role}", {}), 200)
    retired(body, user, own)
    assert aws_keys(iam, user) == {c0["access_key"], body["data"]["access_key"]}


def test_role_whose_first_key_cannot_be_made_is_not_kept(bao, pm, proxy, iam):
    """Was the scheduler scenario's "unborn" role, made to fail by a user holding two keys of
    its own; such a user is now adopted (its oldest key retired), so the proxy refuses
    CreateAccessKey instead."""
    user, _ = new_user(iam)
    [own] = own_keys(iam, user, 1)
    role = f"ub-{uid()}"
    refuse(proxy, "CreateAccessKey", "LimitExceeded", 409)
    status, body = bao.api("POST", f"{pm}/static-roles/{role}", {"username": user, "rotation_period": PERIOD})
    assert status == 500, body
    assert "CreateAccessKey" in body["errors"][0] and "LimitExceeded" in body["errors"][0], body
    _assert_nothing_stored(bao, pm, role)
    assert aws_keys(iam, user) == {own[0]}, "nothing retired when there was room"


def test_lost_create_answer_after_a_retire_keeps_the_users_newer_key(bao, pm, proxy, iam):
    """The keys the rotation treats as known (its WAL entry, and the clean-up of a key made by a
    CreateAccessKey whose answer was lost) are those left after the retirement: the lost
    answer's key is deleted, the user's newer key is not."""
    user, _ = new_user(iam)
    oldest, newer = own_keys(iam, user, 2)
    role = f"la-{uid()}"
    proxy.configure(fraction=1.0, budget=1, actions=["CreateAccessKey"], modes=["drop_after"])
    proxy.reset()
    body = ok(bao.api("POST", f"{pm}/static-roles/{role}", {"username": user, "rotation_period": "1h"}), 200)
    retired(body, user, oldest)
    # lost answer (a key was made), the retry refused (two keys), that key deleted, one more try
    assert proxy_calls(proxy, "CreateAccessKey") == 3, proxy.stats()["actions"]
    assert proxy_calls(proxy, "DeleteAccessKey") == 2, "the retired key and the lost answer's key"
    assert aws_keys(iam, user) == {newer[0], creds(bao.api, pm, role)["access_key"]}
