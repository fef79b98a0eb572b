#!/usr/bin/env python3
"""Soak suite: the engine under faults, crashes, restarts, failover, mass revocation,
bad input, and with trace logging on -- real OpenBao + moto + the release binary,
with scripts/faultproxy.py between the plugin and moto.

    python scripts/soak.py --short        # ~2 min; `make test` runs it (tests/integration/test_soak_short.py)
    python scripts/soak.py --full         # `make soak`; ~15 min
    python scripts/soak.py --short --only a,f --json out.json
    python scripts/soak.py --short --ha   # the short form plus d (HA, ~3 min more)

Every figure is printed beside its goal as soon as it is known, and again in a table
at the end. The script measures and reports; it exits 0 even when a goal is missed
(``--strict`` makes it exit 1 then). ``--json`` writes every figure (with ``invariant``
= the test wrapper asserts it) and the details (error samples, per-Action proxy counters).

Sections (sizes short / full):

a. faults      -- first, deterministic: exactly one fault (drop_after = applied but the answer
                  lost, 500, Throttling) on exactly one issue call, SDK retries on, for each
                  of CreateUser..CreateAccessKey. Then 10% injected faults (500, 503, Throttling,
                  slow answer past the plugin's
                  30 s read timeout, dropped connection before/after forwarding) over
                  100 / 1000 creds requests from 10 threads: the first half with the SDK's
                  default retries, the second with max_retries=0 (every fault reaches the
                  issue path's cleanup). Then revoke -prefix (sync, faults off), then the
                  rollback window (see "Rollback" below). Users/keys left, errors that name
                  no AWS call.
b. kill -9     -- 2 / 20 rounds: the proxy holds CreateAccessKey, 3 creds requests wait in
                  it, the plugin process (exact binary path) gets SIGKILL; the next request
                  must work (server relaunches the plugin); orphans after rollback.
c. restart     -- RaftBao with leases outstanding: restart, renew + revoke the old leases.
d. HA          -- 3-node raft cluster; active node stopped while 10 threads issue; requests
                  move to the new active node; orphans; static role (rotation_period 60)
                  keeps rotating, on the new active node only. Full form only.
e. mass revoke -- revoke -prefix of 50 / 1000 iam_user leases, timed beside boto3 doing the
                  same teardown calls for as many similar users, directly against moto.
f. bad input   -- 500 / 10,000 generated bad requests (scripts/fuzzgen.py): 0 crashes (same
                  pid), 4xx with a message each (5xx listed), config/root and roles unchanged.
                  What OpenBao itself answers before the plugin sees the request (paths that
                  are not UTF-8, bad %-escapes, NUL, unclean paths) is counted apart.
g. no leaks    -- server and plugin at trace; full workflow; every secret seen is grepped
                  for in the server log and in every response that did not issue it.
h. upgrade     -- an upgrade as operators run it (plugin register -version, secrets tune
                  -plugin-version, plugin reload) to a second binary reporting another version
                  (the same build stamped by scripts/stamp_version.py, or --upgrade-to PATH),
                  under ~10 req/s of creds / sts / revoke for 12 / 60 s: requests that failed
                  once / twice, each step's seconds, an issue held 3 s in CreateUser across the
                  reload, leases of the old version renewed and revoked under the new one, users
                  no lease or WAL entry covers; at the end, the root key (rotation_period 20 s)
                  and a static role (60 s) have rotated since the upgrade.

Rollback: the server's rollback tick runs every 60 s but only acts on WAL entries older
than 5 minutes; ``{"immediate": true}`` cannot be sent through a real server (core sends
rollback requests with no data; sys/ has no endpoint for it). So: (1) the users left
right after revoke are reported as the figure *before* rollback (what the plugin's
immediate cleanup did not handle); (2) the server is started with
``raw_storage_endpoint = true`` and the soak rewrites each remaining ``wal/<id>`` entry's
``created_at`` 10 minutes into the past through ``sys/raw`` (exactly what waiting
5 minutes would do, plugin untouched), then waits for the real 60 s rollback tick and
counts again.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import devstack  # noqa: E402
import faultproxy  # noqa: E402

ACCOUNT = "123456789012"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
INLINE_DOC = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]})
ADMIN_DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})

SIZES = {
    "short": dict(fault_n=100, kill_rounds=2, restart_leases=6, ha_n=120, mass_n=50, fuzz_n=500,
                  upgrade_s=12),
    "full": dict(fault_n=1000, kill_rounds=20, restart_leases=30, ha_n=400, mass_n=1000, fuzz_n=10000,
                 upgrade_s=60),
}
SECTIONS = "abcdefgh"
CLIENTS = 10
SLOW_SECONDS = 33.0  # past the plugin's 30 s read timeout (src/aws/clients.rs READ_TIMEOUT)
ROLLBACK_WAIT = 100.0  # one 60 s tick plus the rollback itself
# sys/raw for the rollback window; a sync revoke-prefix of 1000 leases may take longer than the
# default 90 s request limit.
SERVER_EXTRA = 'raw_storage_endpoint = true\ndefault_max_request_duration = "900s"\n'

# What "names an AWS call" means for an error text: Vault's issue prefixes, or an API name.
VAULT_PREFIXES = (
    "Error creating IAM user", "Error attaching user policy", "Error putting user policy",
    "Error adding user to group", "Error creating access keys",
    "Error assuming role", "Error generating STS keys", "Error generating session token",
)
AWS_CALLS = (
    "CreateUser", "AttachUserPolicy", "PutUserPolicy", "AddUserToGroup", "TagUser", "CreateAccessKey",
    "ListAccessKeys", "DeleteAccessKey", "DeleteUser", "DetachUserPolicy", "DeleteUserPolicy",
    "RemoveUserFromGroup", "ListGroupsForUser", "ListUserPolicies", "ListAttachedUserPolicies",
    "GetUser", "AssumeRole", "GetFederationToken", "GetSessionToken", "GetCallerIdentity",
)


def names_aws_call(msg: str) -> bool:
    return any(p in msg for p in VAULT_PREFIXES) or any(re.search(rf"\b{c}\b", msg) for c in AWS_CALLS)


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


class Figures:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.details: dict[str, Any] = {}
        self.lock = threading.Lock()

    def add(self, section: str, name: str, value: Any, goal: Any = None, met: Optional[bool] = None,
            invariant: bool = False, key: Optional[str] = None) -> Any:
        row = dict(section=section, key=key or re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"),
                   name=name, value=value, goal=goal, met=met, invariant=invariant)
        with self.lock:
            self.rows.append(row)
        print(self.line(row), flush=True)
        return value

    def check(self, section: str, name: str, value: Any, goal: Any, invariant: bool = True,
              key: Optional[str] = None) -> Any:
        """A figure whose goal is equality with ``goal``."""
        return self.add(section, name, value, goal, value == goal, invariant, key)

    def detail(self, section: str, key: str, value: Any) -> None:
        with self.lock:
            self.details.setdefault(section, {})[key] = value

    @staticmethod
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    def line(self, row: dict) -> str:
        status = "" if row["met"] is None else ("ok" if row["met"] else "MISSED")
        goal = "" if row["goal"] is None else f"goal {self.fmt(row['goal'])}"
        return f"[{row['section']}] {row['name']:<64} {self.fmt(row['value']):>14}   {goal:<18} {status}"

    def table(self) -> str:
        return "\n".join(self.line(r) for r in self.rows)

    def missed(self) -> list[dict]:
        return [r for r in self.rows if r["met"] is False]


def say(msg: str) -> None:
    print(f"    {msg}", flush=True)


# --------------------------------------------------------------------------
# HTTP against OpenBao (never raises: status 0 = no HTTP answer)
# --------------------------------------------------------------------------


def call(addr: str, token: Optional[str], method: str, path: str, data: Any = None,
         timeout: float = 120.0, raw_body: Optional[bytes] = None,
         headers: Optional[dict] = None) -> tuple[int, Any, bytes]:
    """Returns (status, parsed JSON or None, raw bytes). Status 0 = connection error/timeout."""
    h = dict(headers or {})
    if token:
        h["X-Vault-Token"] = token
    body = raw_body
    if body is None and data is not None:
        body = json.dumps(data).encode()
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    url = f"{addr}/v1/{path.lstrip('/')}" if not path.startswith("http") else path
    req = urllib.request.Request(url, data=body, method=method, headers=h)
    try:
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status = e.code
            try:
                raw = e.read()
            except (OSError, http.client.HTTPException):
                # the server answered, then reset the connection (e.g. after refusing a body it
                # would not read to the end): the status stands, the body is lost
                raw = b""
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        return 0, {"errors": [f"no HTTP answer: {e!r}"]}, b""
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, parsed, raw


def errors_text(body: Any) -> str:
    if isinstance(body, dict) and body.get("errors"):
        return "; ".join(str(e) for e in body["errors"])
    return ""


class Server:
    """addr + token of one OpenBao node, with helpers."""

    def __init__(self, addr: str, token: str, proc: Optional[devstack.Bao] = None):
        self.addr, self.token, self.proc = addr, token, proc

    def api(self, method: str, path: str, data: Any = None, timeout: float = 120.0) -> tuple[int, Any]:
        s, b, _ = call(self.addr, self.token, method, path, data, timeout)
        return s, b

    def must(self, method: str, path: str, data: Any = None, ok=(200, 204), timeout: float = 120.0) -> Any:
        s, b = self.api(method, path, data, timeout)
        if s not in ok:
            raise RuntimeError(f"{method} {path} -> HTTP {s}: {b}")
        return b

    def retry_counts(self, mount: str) -> dict[str, int]:
        """``operation/class`` -> retries so far, from the mount's ``metrics`` path."""
        _, _, raw = call(self.addr, self.token, "GET", f"{mount}/metrics", None, 30)
        out: dict[str, int] = {}
        for op, cls, n in re.findall(
                r'^vault_aws_api_retries_total\{service="[^"]*",operation="([^"]+)",class="([^"]+)"\} (\d+)$',
                raw.decode(errors="replace"), re.M):
            out[f"{op}/{cls}"] = out.get(f"{op}/{cls}", 0) + int(n)
        return out

    def mount_uuid(self, mount: str) -> str:
        return self.must("GET", "sys/mounts")["data"][mount.rstrip("/") + "/"]["uuid"]

    # -- WAL entries through sys/raw (needs raw_storage_endpoint = true) --

    def wal_ids(self, mount: str) -> list[str]:
        s, b = self.api("LIST", f"sys/raw/logical/{self.mount_uuid(mount)}/wal/")
        if s == 404:
            return []
        if s != 200:
            raise RuntimeError(f"listing WAL entries: HTTP {s} {b}")
        return [k for k in b["data"]["keys"] if not k.endswith("/")]

    def wal_entry(self, mount: str, wal_id: str) -> Optional[dict]:
        s, b = self.api("GET", f"sys/raw/logical/{self.mount_uuid(mount)}/wal/{wal_id}")
        if s != 200:
            return None
        return json.loads(b["data"]["value"])

    def backdate_wal(self, mount: str, seconds: int = 600) -> int:
        """Rewrite every wal/<id> created_at to ``seconds`` ago; returns how many."""
        uuid_ = self.mount_uuid(mount)
        n = 0
        for wal_id in self.wal_ids(mount):
            s, b = self.api("GET", f"sys/raw/logical/{uuid_}/wal/{wal_id}")
            if s != 200:
                continue  # deleted meanwhile
            entry = json.loads(b["data"]["value"])
            entry["created_at"] = int(time.time()) - seconds
            self.must("POST", f"sys/raw/logical/{uuid_}/wal/{wal_id}", {"value": json.dumps(entry)})
            n += 1
        return n

    def raw_get(self, mount: str, key: str) -> Optional[str]:
        s, b = self.api("GET", f"sys/raw/logical/{self.mount_uuid(mount)}/{key}")
        return b["data"]["value"] if s == 200 else None

    def revoke_prefix(self, prefix: str, timeout: float = 3600.0, attempts: int = 3) -> tuple[int, Any, float]:
        """Sync revoke-prefix; retried (up to ``attempts``) when it fails. Returns the first
        failure's status and body if every attempt failed, else 204; seconds in total."""
        t0 = time.monotonic()
        first = None
        for i in range(attempts):
            s, b = self.api("PUT", f"sys/leases/revoke-prefix/{prefix}", {"sync": True}, timeout=timeout)
            if s == 204:
                if i:
                    say(f"revoke-prefix {prefix}: worked on attempt {i + 1}; first: HTTP {first[0]} "
                        f"{errors_text(first[1])[:300]}")
                    self.revoke_retries = getattr(self, "revoke_retries", 0) + i
                return s, b, time.monotonic() - t0
            first = first or (s, b)
            time.sleep(2)
        return first[0], first[1], time.monotonic() - t0


# --------------------------------------------------------------------------
# moto helpers (boto3, direct)
# --------------------------------------------------------------------------


def iam_direct(moto: devstack.Moto, attempts: int = 3):
    from botocore.config import Config
    return moto.client("iam", config=Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                                            max_pool_connections=32))


def all_users(iam) -> list[str]:
    names = []
    for page in iam.get_paginator("list_users").paginate():
        names.extend(u["UserName"] for u in page["Users"])
    return names


def engine_users(iam, role: Optional[str] = None) -> list[str]:
    return [n for n in all_users(iam) if n.startswith("vault-") and (role is None or f"-{role}-" in n)]


def count_keys(iam, users: list[str]) -> int:
    from botocore.exceptions import ClientError
    n = 0
    for u in users:
        try:
            n += len(iam.list_access_keys(UserName=u)["AccessKeyMetadata"])
        except ClientError:
            pass
    return n


def delete_user_fully(iam, name: str) -> None:
    from botocore.exceptions import ClientError
    try:
        for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
        for p in iam.list_user_policies(UserName=name)["PolicyNames"]:
            iam.delete_user_policy(UserName=name, PolicyName=p)
        for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
            iam.detach_user_policy(UserName=name, PolicyArn=p["PolicyArn"])
        for g in iam.list_groups_for_user(UserName=name)["Groups"]:
            iam.remove_user_from_group(UserName=name, GroupName=g["GroupName"])
        iam.delete_user(UserName=name)
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise


def make_static_user(iam, name: str) -> None:
    delete_user_fully(iam, name)
    iam.create_user(UserName=name)


# --------------------------------------------------------------------------
# Issuing from many threads
# --------------------------------------------------------------------------


class Outcome:
    __slots__ = ("status", "body", "seconds", "node")

    def __init__(self, status: int, body: Any, seconds: float, node: str = ""):
        self.status, self.body, self.seconds, self.node = status, body, seconds, node

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.body, dict) and bool(self.body.get("lease_id"))

    @property
    def error(self) -> str:
        return errors_text(self.body) or f"HTTP {self.status} without an error message"


def issue_many(n: int, one: Callable[[int], Outcome], clients: int = CLIENTS) -> list[Outcome]:
    out: list[Optional[Outcome]] = [None] * n
    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as ex:
        futs = {ex.submit(one, i): i for i in range(n)}
        for f in concurrent.futures.as_completed(futs):
            i = futs[f]
            try:
                out[i] = f.result()
            except Exception as e:  # a bug in the soak itself: keep going, show it
                out[i] = Outcome(-1, {"errors": [f"soak client crashed: {e!r}"]}, 0.0)
    return [o for o in out if o is not None]


def issuer(server: Server, path: str, timeout: float = 240.0) -> Callable[[int], Outcome]:
    def one(_i: int) -> Outcome:
        t0 = time.monotonic()
        s, b = server.api("GET", path, timeout=timeout)
        return Outcome(s, b, time.monotonic() - t0)
    return one


def summarize_failures(outcomes: list[Outcome], limit: int = 12) -> dict:
    by: dict[str, int] = {}
    for o in outcomes:
        if not o.ok:
            # collapse random user names / request ids so equal errors group together
            key = f"HTTP {o.status}: " + re.sub(r"vault-[\w.@-]+|[0-9a-f]{8}-[0-9a-f-]{27}", "<x>", o.error)[:300]
            by[key] = by.get(key, 0) + 1
    return dict(sorted(by.items(), key=lambda kv: -kv[1])[:limit])


# --------------------------------------------------------------------------
# The soak
# --------------------------------------------------------------------------


class Soak:
    def __init__(self, mode: str, plugin: Path, seed: int, figures: Figures):
        self.mode = mode
        self.size = SIZES[mode]
        self.plugin = plugin
        self.seed = seed
        self.fig = figures
        self.moto: Optional[devstack.Moto] = None
        self.proxy: Optional[faultproxy.FaultProxy] = None
        self.bao: Optional[devstack.Bao] = None
        self.main: Optional[Server] = None
        self.iam = None
        self.cleanups: list[Callable[[], None]] = []
        # mounts whose WAL entries still wait for the rollback window: (server, mount, role)
        self.pending_rollback: list[tuple[Server, str, str, str]] = []
        # checks that need time to pass, run after the other sections
        self.late_checks: list[Callable[[], None]] = []
        self.upgrade_to: Optional[Path] = None

    # -- stack ------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.monotonic()
        stack = devstack.start_stack(
            self.plugin, bao_kwargs=dict(extra_config=SERVER_EXTRA))
        self.cleanups.append(stack.stop)
        self.stack = stack
        self.bao, self.moto = stack.bao, stack.moto
        self.main = Server(self.bao.addr, self.bao.token, self.bao)
        self.proxy = faultproxy.FaultProxy(self.moto.endpoint, seed=self.seed, slow_seconds=SLOW_SECONDS).start()
        self.cleanups.append(self.proxy.stop)
        self.iam = iam_direct(self.moto)
        say(f"stack up in {time.monotonic() - t0:.1f}s: bao {self.bao.addr} (log {self.bao.log_path}), "
            f"moto {self.moto.endpoint}, fault proxy {self.proxy.url}")

    def stop(self) -> None:
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:
                print(f"soak: cleanup failed: {e}", file=sys.stderr)
        self.cleanups.clear()

    def plugin_pids(self, bao: Optional[devstack.Bao] = None) -> list[int]:
        b = bao or self.bao
        return devstack.find_pids_by_exe(b.plugin_dir / devstack.PLUGIN_FILE_NAME)

    def setup_mount(self, server: Server, mount: str, endpoint: Optional[str] = None, **root: Any) -> None:
        server.must("POST", f"sys/mounts/{mount}", {"type": "aws"})
        ep = endpoint or self.proxy.url
        body = dict(access_key="testing", secret_key="testing", region="us-east-1",
                    iam_endpoint=ep, sts_endpoint=ep)
        body.update(root)
        server.must("POST", f"{mount}/config/root", body)

    @staticmethod
    def iam_role(server: Server, mount: str, role: str) -> None:
        server.must("POST", f"{mount}/roles/{role}", dict(
            credential_type="iam_user", policy_arns=[READ_ONLY], policy_document=INLINE_DOC,
            iam_tags=["team=soak"]))

    def proxy_stats(self) -> dict:
        return self.proxy.stats()["actions"]

    # -- rollback window --------------------------------------------------------

    def start_rollback(self) -> None:
        """Backdate the WAL entries of every pending mount 10 minutes (sys/raw)."""
        self.rollback_started = time.monotonic()
        for server, mount, _role, _sec in self.pending_rollback:
            n = server.backdate_wal(mount)
            say(f"{mount}: {n} WAL entries backdated 10 min through sys/raw; the next 60 s tick may act")

    def finish_rollback(self) -> None:
        """Wait (at most one tick more) until the pending mounts' WAL is empty; count what is left."""
        if not self.pending_rollback:
            return
        t0 = getattr(self, "rollback_started", time.monotonic())
        deadline = max(time.monotonic() + 70, t0 + ROLLBACK_WAIT)  # at least one more tick
        while True:
            remaining: dict[str, int] = {}
            for server, mount, _role, _sec in self.pending_rollback:
                try:
                    remaining[mount] = len(server.wal_ids(mount))
                except Exception as e:  # a node went away: report, do not hang
                    remaining[mount] = -1
                    say(f"{mount}: cannot list WAL: {e}")
            if all(v == 0 for v in remaining.values()) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        waited = time.monotonic() - t0
        for server, mount, role, sec in self.pending_rollback:
            users = engine_users(self.iam, role)
            self.fig.add(sec, "rollback: s since the WAL entries were backdated", round(waited, 1))
            self.fig.check(sec, f"WAL entries left after the rollback tick", remaining.get(mount), 0,
                           key="wal_after_rollback")
            self.fig.check(sec, "IAM users left after rollback (vault-*-" + role + "-*)", len(users), 0,
                           key="users_after_rollback")
            self.fig.check(sec, "access keys left after rollback", count_keys(self.iam, users), 0,
                           key="keys_after_rollback")
            if users:
                self.fig.detail(sec, "users_after_rollback", users[:50])
        self.pending_rollback.clear()

    def run_late_checks(self) -> None:
        for check in self.late_checks:
            check()

    def final_count(self) -> None:
        users = engine_users(self.iam)
        self.fig.check("all", "IAM users named vault-* left in moto at the end", len(users), 0, key="vault_users")
        self.fig.check("all", "their access keys", count_keys(self.iam, users), 0, key="vault_keys")
        if users:
            self.fig.detail("all", "vault_users", users[:50])
        retries = getattr(self.main, "revoke_retries", 0)
        self.fig.add("all", "revoke-prefix calls that needed a retry (main server)", retries, 0, retries == 0)

    # ==========================================================================
    # a. faults
    # ==========================================================================

    def section_a(self) -> None:
        sec, m, role = "a", "soak-fault", "fault"
        s = self.main
        n = self.size["fault_n"]
        self.setup_mount(s, m)
        self.iam_role(s, m, role)
        s.must("POST", f"{m}/config/lease", {"lease": "1h", "lease_max": "2h"})
        self._targeted_faults(s, m)
        self.proxy.reset()
        self.proxy.configure(fraction=0.10, modes=list(faultproxy.DEFAULT_MODES), actions=None, delay={},
                             budget=None)
        halves = [("SDK default retries", -1, n - n // 2), ("max_retries=0", 0, n // 2)]
        outcomes: list[Outcome] = []
        t0 = time.monotonic()
        for label, retries, count in halves:
            s.must("POST", f"{m}/config/root", {"max_retries": retries})
            t1 = time.monotonic()
            before = s.retry_counts(m)
            part = issue_many(count, issuer(s, f"{m}/creds/{role}"))
            after = s.retry_counts(m)
            outcomes += part
            okc = sum(o.ok for o in part)
            self.fig.add(sec, f"creds OK with {label}", f"{okc}/{count}")
            self.fig.add(sec, f"final error rate with {label}", round((count - okc) / max(count, 1), 3))
            delta = {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] != before.get(k, 0)}
            by_class: dict[str, int] = {}
            for k, v in delta.items():
                by_class[k.split("/")[1]] = by_class.get(k.split("/")[1], 0) + v
            self.fig.add(sec, f"retries by failure class with {label}",
                         ", ".join(f"{c} {v}" for c, v in sorted(by_class.items())) or "none")
            self.fig.add(sec, f"retries by call/class with {label}",
                         ", ".join(f"{k} {v}" for k, v in delta.items()) or "none")
            self.fig.detail(sec, f"failures ({label})", summarize_failures(part, limit=30))
            say(f"{label}: {okc}/{count} OK in {time.monotonic() - t1:.1f}s")
        elapsed = time.monotonic() - t0
        self.proxy.configure(fraction=0.0)
        stats = self.proxy_stats()
        injected = {}
        calls = 0
        for a, c in stats.items():
            calls += c["calls"]
            for mode, k in c["faults"].items():
                injected[mode] = injected.get(mode, 0) + k
        failed = [o for o in outcomes if not o.ok]
        self.fig.add(sec, f"creds requests from {CLIENTS} clients", len(outcomes), n)
        self.fig.add(sec, "AWS calls seen by the proxy / faults injected",
                     f"{calls}/{sum(injected.values())}")
        self.fig.add(sec, "injected fraction", round(sum(injected.values()) / max(calls, 1), 3), 0.10)
        self.fig.detail(sec, "faults_by_mode", injected)
        self.fig.detail(sec, "proxy_counters", stats)
        self.fig.add(sec, "creds requests failed", len(failed))
        self.fig.add(sec, "issue phase wall time (s)", round(elapsed, 1))
        statuses: dict[str, int] = {}
        for o in failed:
            statuses[str(o.status)] = statuses.get(str(o.status), 0) + 1
        self.fig.detail(sec, "failed_by_status", statuses)
        unnamed = [o for o in failed if not names_aws_call(o.error)]
        self.fig.check(sec, "failed requests whose error names no AWS call", len(unnamed), 0,
                       key="errors_without_aws_call")
        bad_status = [o for o in failed if o.status not in (400, 502)]
        self.fig.check(sec, "failed requests answered other than 400/502", len(bad_status), 0,
                       key="failed_not_400_502")
        self.fig.detail(sec, "failures", summarize_failures(failed))
        self.fig.detail(sec, "unnamed_errors", summarize_failures(unnamed))
        if failed:
            say("failures by error: " + json.dumps(summarize_failures(failed), indent=1)[:3000])

        issued = sum(o.ok for o in outcomes)
        users = engine_users(self.iam, role)
        self.fig.add(sec, "IAM users before revoke (issued leases + half-created)",
                     f"{len(users)} ({issued}+{len(users) - issued})")
        wal_before = len(s.wal_ids(m))
        self.fig.add(sec, "WAL entries before revoke (half-created users awaiting rollback)", wal_before)
        st, body, secs = s.revoke_prefix(f"{m}/creds/{role}")
        self.fig.check(sec, "revoke -prefix -sync HTTP status", st, 204, key="revoke_status")
        if st != 204:
            self.fig.detail(sec, "revoke_error", body)
        self.fig.add(sec, f"revoke -prefix of {issued} leases (s)", round(secs, 1))
        users = engine_users(self.iam, role)
        # Half-created users whose WAL entries await the rollback; the goal (0) is checked after it.
        self.fig.add(sec, "IAM users left right after revoke, awaiting rollback", len(users),
                     key="users_before_rollback")
        self.fig.add(sec, "access keys left right after revoke, awaiting rollback", count_keys(self.iam, users),
                     key="keys_before_rollback")
        wal = s.wal_ids(m)
        self.fig.add(sec, "WAL entries left (cover those users until the rollback)", len(wal))
        uncovered = self._uncovered(s, m, users)
        self.fig.check(sec, "users left that no WAL entry covers (leak for good)", len(uncovered), 0,
                       key="users_without_wal")
        if uncovered:
            # evidence: what the request that made each such user was told
            evidence = {u: [f"HTTP {o.status}: {o.error}" for o in failed if u in o.error] for u in uncovered[:20]}
            self.fig.detail(sec, "users_without_wal", evidence)
            say(f"users no WAL entry covers, with the error of the request that made them: "
                f"{json.dumps(evidence, indent=1)[:3000]}")
        self.pending_rollback.append((s, m, role, sec))

    ISSUE_CALLS = ("CreateUser", "AttachUserPolicy", "PutUserPolicy", "TagUser", "CreateAccessKey")

    def _targeted_faults(self, s: Server, m: str) -> None:
        """Deterministic part of a: exactly one fault on exactly one issue call, SDK retries on.

        ``drop_after`` = AWS applied the call but the answer never arrived (the SDK retries);
        ``500``/``throttle`` = refused before AWS, retried. One creds request per (call, mode).
        """
        sec, role = "a", "targeted"
        self.iam_role(s, m, role)
        s.must("POST", f"{m}/config/root", {"max_retries": -1})
        rows = []
        for mode in ("drop_after", "500", "throttle"):
            for action in self.ISSUE_CALLS:
                self.proxy.configure(fraction=1.0, modes=[mode], actions=[action], budget=1, delay={})
                o = issuer(s, f"{m}/creds/{role}")(0)
                rows.append((mode, action, o))
        self.proxy.configure(fraction=0.0, budget=None, actions=None)
        okc = sum(o.ok for _, _, o in rows)
        self.fig.add(sec, f"targeted: one fault on one issue call, retried ({len(rows)} cases): OK",
                     f"{okc}/{len(rows)}", len(rows), okc == len(rows), key="targeted_ok")
        for mode, action, o in rows:
            if mode == "drop_after" and action == "CreateAccessKey" and o.ok:
                user = self.iam.get_access_key_last_used(AccessKeyId=o.body["data"]["access_key"])["UserName"]
                n_keys = len(self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
                self.fig.add(sec, "targeted: keys on the user after a retried CreateAccessKey (lost answer)",
                             n_keys, 1, n_keys == 1, key="targeted_extra_key")
        failed = {f"{mode} on {action}": o.error for mode, action, o in rows if not o.ok}
        if failed:
            self.fig.detail(sec, "targeted_failures", failed)
            say(f"targeted faults that failed the request: {json.dumps(failed, indent=1)}")
        st, body, _ = s.revoke_prefix(f"{m}/creds/{role}")
        users = engine_users(self.iam, role)
        uncovered = self._uncovered(s, m, users)
        self.fig.check(sec, "targeted: users left after revoke that no WAL entry covers", len(uncovered), 0,
                       key="targeted_users_without_wal")
        if uncovered:
            evidence = {u: [f"{k}: {v}" for k, v in failed.items() if u in v] for u in uncovered}
            self.fig.detail(sec, "targeted_users_without_wal", evidence)
            say(f"targeted: users no WAL entry covers: {json.dumps(evidence, indent=1)}")
        self.pending_rollback.append((s, m, role, sec))

    def _uncovered(self, s: Server, mount: str, users: list[str]) -> list[str]:
        covered = set()
        for wal_id in s.wal_ids(mount):
            e = s.wal_entry(mount, wal_id)
            if e and e.get("type") == "user":
                covered.add((e.get("data") or {}).get("UserName"))
        return [u for u in users if u not in covered]

    # ==========================================================================
    # b. kill -9 mid-request
    # ==========================================================================

    def section_b(self) -> None:
        sec, m, role = "b", "soak-kill", "kill"
        s = self.main
        rounds = self.size["kill_rounds"]
        self.setup_mount(s, m)
        self.iam_role(s, m, role)
        hold = 4.0
        self.proxy.configure(fraction=0.0, delay={})
        first = issuer(s, f"{m}/creds/{role}")(0)  # the plugin is up and the mount works
        if not first.ok:
            raise RuntimeError(f"first creds on {m} failed: {first.error}")
        inflight_results: list[Outcome] = []
        next_ok = 0
        next_attempts: list[int] = []
        relaunch: list[float] = []
        pids_seen: list[list[int]] = []
        kills = 0
        for r in range(rounds):
            self.proxy.configure(delay={"CreateAccessKey": hold})
            before = self.proxy_stats().get("CreateAccessKey", {}).get("delayed", 0)
            with concurrent.futures.ThreadPoolExecutor(max_workers=3) as ex:
                futs = [ex.submit(issuer(s, f"{m}/creds/{role}"), i) for i in range(3)]
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    if self.proxy_stats().get("CreateAccessKey", {}).get("delayed", 0) >= before + 3:
                        break
                    time.sleep(0.02)
                pids = self.plugin_pids()
                pids_seen.append(pids)
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                t_kill = time.monotonic()
                inflight_results += [f.result() for f in futs]
            self.proxy.configure(delay={})
            attempts, ok = 0, False
            while attempts < 5 and not ok:
                attempts += 1
                o = issuer(s, f"{m}/creds/{role}")(0)
                ok = o.ok
                if not ok:
                    say(f"kill round {r}: request #{attempts} after the kill: HTTP {o.status} {o.error[:200]}")
                    time.sleep(0.5)
            relaunch.append(time.monotonic() - t_kill)
            next_attempts.append(attempts)
            next_ok += ok
            new = self.plugin_pids()
            if set(new) & set(pids):
                say(f"kill round {r}: plugin pid unchanged after SIGKILL? before {pids} after {new}")
        time.sleep(hold + 0.5)  # let the held CreateAccessKey calls of killed requests land
        self.fig.add(sec, "kill -9 rounds (3 creds requests in CreateAccessKey each)", rounds)
        self.fig.add(sec, "plugin processes killed", kills, rounds, kills >= rounds)
        self.fig.detail(sec, "pids_killed", pids_seen)
        st: dict[str, int] = {}
        for o in inflight_results:
            k = "OK" if o.ok else f"HTTP {o.status}"
            st[k] = st.get(k, 0) + 1
        self.fig.add(sec, "in-flight requests at the kill: outcomes", json.dumps(st))
        self.fig.detail(sec, "inflight_errors", summarize_failures(inflight_results))
        self.fig.check(sec, "rounds where a request after the kill worked", next_ok, rounds,
                       key="next_request_works")
        self.fig.add(sec, "requests needed after the kill until one worked (max)", max(next_attempts), 1,
                     max(next_attempts) == 1)
        self.fig.add(sec, "kill -> next request OK, worst (s)", round(max(relaunch), 2))
        st_, body, secs = s.revoke_prefix(f"{m}/creds/{role}")
        self.fig.check(sec, "revoke -prefix -sync HTTP status", st_, 204, key="revoke_status")
        users = engine_users(self.iam, role)
        self.fig.add(sec, "IAM users left after revoke, before rollback (killed mid-issue)", len(users))
        self.fig.add(sec, "WAL entries covering them", len(s.wal_ids(m)), len(users))
        uncovered = self._uncovered(s, m, users)
        self.fig.check(sec, "users left that no WAL entry covers (leak for good)", len(uncovered), 0,
                       key="users_without_wal")
        if uncovered:
            self.fig.detail(sec, "users_without_wal", uncovered[:50])
        log = self.bao.log_text()
        self.fig.add(sec, "plugin panics in the server log", log.count("panicked at"), 0,
                     log.count("panicked at") == 0, invariant=True, key="panics")
        self.pending_rollback.append((s, m, role, sec))

    # ==========================================================================
    # c. server restart with leases outstanding
    # ==========================================================================

    def section_c(self) -> None:
        sec, m, role = "c", "soak-restart", "restart"
        n = self.size["restart_leases"]
        rb = devstack.RaftBao(extra_config=SERVER_EXTRA)
        self.cleanups.append(rb.close)
        t0 = time.monotonic()
        rb.start()
        devstack.install_plugin(rb, self.plugin, "aws")
        s = Server(rb.addr, rb.token, rb)
        self.proxy.configure(fraction=0.0, delay={})
        self.setup_mount(s, m)
        self.iam_role(s, m, role)
        s.must("POST", f"{m}/config/lease", {"lease": "1h", "lease_max": "24h"})
        outs = issue_many(n, issuer(s, f"{m}/creds/{role}"), clients=min(CLIENTS, n))
        leases = [(o.body["lease_id"], o.body["data"]["access_key"]) for o in outs if o.ok]
        owners = {lid: self.iam.get_access_key_last_used(AccessKeyId=ak)["UserName"] for lid, ak in leases}
        self.fig.add(sec, "leases outstanding before restart", len(leases), n, len(leases) == n)
        t1 = time.monotonic()
        rb.restart()
        self.fig.add(sec, "raft server restart (stop + start + unseal) (s)", round(time.monotonic() - t1, 1))
        s = Server(rb.addr, rb.token, rb)
        renewed = 0
        renew_errors = []
        for lid, _ in leases:
            st, b = s.api("PUT", "sys/leases/renew", {"lease_id": lid, "increment": 7200})
            if st == 200 and b.get("lease_duration", 0) > 0:
                renewed += 1
            else:
                renew_errors.append(f"HTTP {st}: {errors_text(b)}")
        self.fig.check(sec, "old leases renewed after restart", renewed, len(leases), key="renewed")
        if renew_errors:
            self.fig.detail(sec, "renew_errors", renew_errors[:10])
        new = issuer(s, f"{m}/creds/{role}")(0)
        self.fig.check(sec, "new creds request after restart works", new.ok, True, key="new_after_restart")
        revoked = 0
        revoke_errors = []
        for lid, _ in leases:
            st, b = s.api("PUT", "sys/leases/revoke", {"lease_id": lid, "sync": True})
            if st == 204:
                revoked += 1
            else:
                revoke_errors.append(f"HTTP {st}: {errors_text(b)}")
        if new.ok:
            s.api("PUT", "sys/leases/revoke", {"lease_id": new.body["lease_id"], "sync": True})
        self.fig.check(sec, "old leases revoked after restart", revoked, len(leases), key="revoked")
        if revoke_errors:
            self.fig.detail(sec, "revoke_errors", revoke_errors[:10])
        from botocore.exceptions import ClientError
        still = []
        for lid, user in owners.items():
            try:
                self.iam.get_user(UserName=user)
                still.append(user)
            except ClientError:
                pass
        self.fig.check(sec, "their IAM users still present after revoke", len(still), 0, key="users_left")
        left = engine_users(self.iam, role)
        self.fig.check(sec, "IAM users left for the role (vault-*-restart-*)", len(left), 0, key="role_users_left")
        self.fig.add(sec, "section wall time (s)", round(time.monotonic() - t0, 1))
        rb.close()

    # ==========================================================================
    # d. HA failover (3-node raft cluster)
    # ==========================================================================

    def section_d(self) -> None:
        import hacluster
        sec, m, role, srole, suser = "d", "soak-ha", "ha", "hastatic", "soak-ha-static"
        n = self.size["ha_n"]
        t0 = time.monotonic()
        cluster = hacluster.Cluster(3, extra_config=SERVER_EXTRA)
        self.cleanups.append(cluster.close)
        cluster.start()
        self.fig.add(sec, "3-node raft cluster up and joined (s)", round(time.monotonic() - t0, 1))
        leader = cluster.active()
        for node in cluster.nodes:
            devstack.copy_plugin(self.plugin, node.plugin_dir)
        devstack.register_plugin(leader.cli, Path(leader.plugin_dir) / devstack.PLUGIN_FILE_NAME, "aws")
        s = Server(leader.addr, leader.token, leader)
        self.proxy.configure(fraction=0.0, delay={}, track_users=[suser])
        self.setup_mount(s, m)
        self.iam_role(s, m, role)
        # static role on a real moto user, rotation_period 60, created before the failover
        make_static_user(self.iam, suser)
        self.cleanups.append(lambda: delete_user_fully(self.iam, suser))
        s.must("POST", f"{m}/static-roles/{srole}", {"username": suser, "rotation_period": 60})
        t_static = time.monotonic()
        k0 = s.must("GET", f"{m}/static-creds/{srole}")["data"]["access_key"]
        # every node answers (standbys forward to the active node)
        for node in cluster.nodes:
            o = issuer(Server(node.addr, leader.token), f"{m}/creds/{role}")(0)
            if not o.ok:
                raise RuntimeError(f"creds through {node.addr} failed before failover: {o.error}")

        alive = list(cluster.nodes)
        lock = threading.Lock()
        stopped_at: list[float] = []
        after_stop_first_ok: list[float] = []
        attempts_failed: list[str] = []
        served_by: dict[str, int] = {}

        def one(i: int) -> Outcome:
            tries = 0
            while True:
                with lock:
                    nodes = list(alive)
                node = nodes[(i + tries) % len(nodes)]
                t1 = time.monotonic()
                st, b, _ = call(node.addr, leader.token, "GET", f"{m}/creds/{role}", timeout=120)
                o = Outcome(st, b, time.monotonic() - t1, node.addr)
                if o.ok:
                    with lock:
                        served_by[node.addr] = served_by.get(node.addr, 0) + 1
                        # first success of a request sent after the stop began
                        if stopped_at and t1 >= stopped_at[0] and not after_stop_first_ok:
                            after_stop_first_ok.append(time.monotonic())
                    return o
                with lock:
                    attempts_failed.append(f"{node.addr} HTTP {st}: {o.error[:200]}")
                tries += 1
                if tries > 60:
                    return o
                time.sleep(0.25)

        def failover() -> None:
            # stop the active node once a third of the requests are done
            deadline = time.monotonic() + 300
            while sum(served_by.values()) < n // 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            with lock:
                stopped_at.append(time.monotonic())
            old = cluster.active()
            say(f"HA: stopping the active node {old.addr} (node {old.node_id}) mid-issue")
            with lock:
                alive.remove(old)
            old.stop()

        old_active = leader
        th = threading.Thread(target=failover, daemon=True)
        th.start()
        outs = issue_many(n, one)
        th.join(timeout=60)
        new_leader = cluster.wait_active(exclude=old_active, timeout=60)
        s = Server(new_leader.addr, leader.token, new_leader)
        okc = sum(o.ok for o in outs)
        self.fig.check(sec, f"creds requests OK across the failover (10 clients)", okc, n, key="ha_ok")
        self.fig.add(sec, "failed attempts during failover (retried on another node)", len(attempts_failed))
        self.fig.detail(sec, "failed_attempts", attempts_failed[:30])
        if stopped_at and after_stop_first_ok:
            self.fig.add(sec, "active stopped -> first creds OK on the new active (s)",
                         round(after_stop_first_ok[0] - stopped_at[0], 2))
        self.fig.add(sec, "new active node", f"{new_leader.node_id} (was {old_active.node_id})",
                     None, new_leader is not old_active)
        self.fig.detail(sec, "served_by", served_by)
        issued_by = {node.node_id: node.log_text().count("issued iam_user credentials") for node in cluster.nodes}
        self.fig.detail(sec, "issued_by_node_log", issued_by)
        standby = [nd for nd in cluster.nodes if nd is not new_leader and nd is not old_active]
        self.fig.add(sec, "creds issued by the plugin on: old active / new active / standby",
                     f"{issued_by[old_active.node_id]} / {issued_by[new_leader.node_id]} / "
                     f"{sum(issued_by[nd.node_id] for nd in standby)}")
        self.fig.check(sec, "creds issued by a standby's plugin (standbys must forward)",
                       sum(issued_by[nd.node_id] for nd in standby), 0, key="standby_issued")
        st_, body, secs = s.revoke_prefix(f"{m}/creds/{role}")
        self.fig.check(sec, "revoke -prefix -sync on the new active", st_, 204, key="revoke_status")
        if st_ != 204:
            self.fig.detail(sec, "revoke_error", body)
        users = engine_users(self.iam, role)
        self.fig.add(sec, "IAM users left after revoke, before rollback", len(users))
        uncovered = self._uncovered(s, m, users)
        self.fig.check(sec, "users left that no WAL entry covers (leak for good)", len(uncovered), 0,
                       key="users_without_wal")

        # static rotation on the new active node only
        period = 60
        wait_until = t_static + 2 * period + 20
        rotations: list[tuple[float, str]] = []
        last = k0
        while time.monotonic() < wait_until:
            st, b = s.api("GET", f"{m}/static-creds/{srole}")
            if st == 200 and b["data"]["access_key"] != last:
                last = b["data"]["access_key"]
                rotations.append((time.monotonic() - t_static, last))
                say(f"HA: static key rotated at +{rotations[-1][0]:.0f}s")
            time.sleep(2)
        self.fig.add(sec, "static key rotations seen within 2 periods + 20 s after creation",
                     len(rotations), 2, len(rotations) >= 1, invariant=True, key="static_rotations")
        tracked = self.proxy.stats().get("users", {}).get(suser, {})
        self.fig.add(sec, "CreateAccessKey calls on the static user (proxy)", tracked.get("CreateAccessKey", 0),
                     f"= rotations+1 ({len(rotations) + 1})", tracked.get("CreateAccessKey", 0) == len(rotations) + 1,
                     invariant=True, key="static_creates")
        logs = {node.node_id: node.log_text().count("static role rotated") for node in cluster.nodes}
        self.fig.detail(sec, "rotations_logged_by_node", logs)
        others = sum(v for k, v in logs.items() if k not in (new_leader.node_id, old_active.node_id))
        self.fig.check(sec, "rotations logged by the remaining standby", others, 0, key="standby_rotations")
        self.fig.add(sec, "rotations logged by the new active node", logs.get(new_leader.node_id, 0),
                     len(rotations), logs.get(new_leader.node_id, 0) == len(rotations))
        self.pending_rollback.append((s, m, role, sec))
        self.ha_cluster = cluster
        self.fig.add(sec, "section wall time (s)", round(time.monotonic() - t0, 1))

    # ==========================================================================
    # e. mass revocation
    # ==========================================================================

    def section_e(self) -> None:
        sec, m, role = "e", "soak-mass", "mass"
        n = self.size["mass_n"]
        s = self.main
        self.proxy.configure(fraction=0.0, delay={})
        # calibration through the proxy: which IAM calls does one revoke make?
        self.setup_mount(s, m)
        self.iam_role(s, m, role)
        o = issuer(s, f"{m}/creds/{role}")(0)
        if not o.ok:
            raise RuntimeError(f"calibration creds failed: {o.error}")
        self.proxy.reset()
        s.must("PUT", "sys/leases/revoke", {"lease_id": o.body["lease_id"], "sync": True})
        teardown = {a: c["calls"] for a, c in self.proxy_stats().items()}
        self.fig.detail(sec, "teardown_calls_per_user", teardown)
        say(f"one revoke makes these IAM calls: {teardown}")
        # the timed run: plugin straight at moto (no proxy), like boto3 below
        s.must("POST", f"{m}/config/root", {"iam_endpoint": self.moto.endpoint, "sts_endpoint": self.moto.endpoint})
        t0 = time.monotonic()
        outs = issue_many(n, issuer(s, f"{m}/creds/{role}"))
        t_issue = time.monotonic() - t0
        okc = sum(o.ok for o in outs)
        self.fig.check(sec, f"iam_user leases issued", okc, n, key="issued")
        self.fig.add(sec, f"issue {n} leases from {CLIENTS} clients (s)", round(t_issue, 1))
        st, body, t_plugin = s.revoke_prefix(f"{m}/creds/{role}")
        self.fig.check(sec, "revoke -prefix -sync HTTP status", st, 204, key="revoke_status")
        if st != 204:
            self.fig.detail(sec, "revoke_error", body)
        left = engine_users(self.iam, role)
        self.fig.check(sec, "IAM users left after revoke -prefix", len(left), 0, key="users_left")

        # the same deletes, done directly with boto3 against moto
        iam1 = iam_direct(self.moto, attempts=3)  # standard retries, as the plugin's SDK client
        best_effort = iam_direct(self.moto, attempts=1)  # the plugin makes these calls once
        names = [f"soak-direct-{i:05d}-{random.Random(i).randrange(16**8):08x}" for i in range(n)]

        def create(name: str) -> None:
            iam1.create_user(UserName=name, Path="/")
            iam1.attach_user_policy(UserName=name, PolicyArn=READ_ONLY)
            iam1.put_user_policy(UserName=name, PolicyName=role, PolicyDocument=INLINE_DOC)
            iam1.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "soak"}])
            iam1.create_access_key(UserName=name)

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
            list(ex.map(create, names))
        t0 = time.monotonic()
        for name in names:
            boto3_teardown(iam1, name, best_effort)
        t_direct = time.monotonic() - t0
        left_direct = [u for u in all_users(self.iam) if u.startswith("soak-direct-")]
        self.fig.add(sec, f"revoke -prefix of {n} leases through OpenBao (s)", round(t_plugin, 2))
        self.fig.add(sec, f"same teardown calls for {n} users, boto3 -> moto, sequential (s)", round(t_direct, 2))
        ratio = t_plugin / t_direct if t_direct > 0 else float("inf")
        self.fig.add(sec, "ratio OpenBao revoke / boto3 direct", round(ratio, 2), "<= 3", ratio <= 3)
        self.fig.add(sec, "per lease: OpenBao / boto3 (ms)",
                     f"{1000 * t_plugin / max(n, 1):.1f} / {1000 * t_direct / max(n, 1):.1f}")
        self.fig.check(sec, "direct users left after boto3 teardown", len(left_direct), 0, invariant=False,
                       key="direct_left")

    # ==========================================================================
    # f. bad input
    # ==========================================================================

    def section_f(self) -> None:
        import fuzzgen
        sec, m = "f", "soak-fuzz"
        n = self.size["fuzz_n"]
        s = self.main
        self.proxy.configure(fraction=0.0, delay={})
        self.setup_mount(s, m)
        self.iam_role(s, m, "fz1")
        s.must("POST", f"{m}/roles/fz2", {"credential_type": "assumed_role",
                                          "role_arns": [f"arn:aws:iam::{ACCOUNT}:role/soak"]})
        s.must("POST", f"{m}/roles/fz3", {"credential_type": "federation_token", "policy_document": INLINE_DOC})
        s.must("POST", f"{m}/config/lease", {"lease": "1h", "lease_max": "2h"})
        make_static_user(self.iam, "soak-fuzz-static")
        self.cleanups.append(lambda: delete_user_fully(self.iam, "soak-fuzz-static"))
        s.must("POST", f"{m}/static-roles/fzs", {"username": "soak-fuzz-static", "rotation_period": 3600})
        before = self._fuzz_snapshot(s, m)
        pids = self.plugin_pids()
        gen = fuzzgen.Generator(m, seed=self.seed, existing_roles=("fz1", "fz2", "fz3"), static_roles=("fzs",),
                                iam_user_roles=("fz1",))
        reqs = [gen.next() for _ in range(n)]
        results: list[tuple[fuzzgen.Req, int, Any, bytes]] = [None] * n  # type: ignore
        pid_changes = []

        def run(i: int) -> None:
            r = reqs[i]
            st, body, raw = call(s.addr, s.token, r.method, r.path, raw_body=r.body,
                                 headers=r.headers, timeout=60)
            results[i] = (r, st, body, raw)
            if i % 100 == 0:
                now = self.plugin_pids()
                if now != pids:
                    pid_changes.append((i, now))

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(run, range(n)))
        elapsed = time.monotonic() - t0
        after_pids = self.plugin_pids()
        self.fig.add(sec, "generated bad requests sent (8 clients)", n)
        self.fig.add(sec, "wall time (s)", round(elapsed, 1))
        self.fig.check(sec, "plugin crashes (pid changed or gone)", 0 if (after_pids == pids and not pid_changes) else 1,
                       0, key="crashes")
        log = self.bao.log_text()
        self.fig.check(sec, "plugin panics in the server log", log.count("panicked at"), 0, key="panics")
        by_cat: dict[str, dict[str, int]] = {}
        five, three, two, silent, noanswer = [], [], [], [], []
        for r, st, body, raw in results:
            c = by_cat.setdefault(r.category, {})
            c[str(st)] = c.get(str(st), 0) + 1
            if st == 0:
                noanswer.append((r, st, body))
            elif st >= 500:
                five.append((r, st, body))
            elif 300 <= st < 400:
                three.append((r, st, body))
            elif st < 300:
                two.append((r, st, body))
            elif not errors_text(body):
                silent.append((r, st, body))
        self.fig.detail(sec, "status_by_category", by_cat)
        # Not the plugin's doing (OpenBao answers before the plugin sees the request; checked
        # with the plugin at trace: it logs nothing for these):
        # * a path that percent-decodes to invalid UTF-8 cannot be put in the gRPC request
        #   (protobuf strings must be UTF-8): 500 "grpc: error while marshaling";
        # * a bad %-escape, a NUL byte or U+2028 in the path: a bare 400 (not even JSON) from
        #   the HTTP layer (also for sys/ paths);
        # * a path with "/./" or "//": a 307 redirect to the cleaned path.
        server_five = [x for x in five if "error while marshaling" in errors_text(x[2])]
        five = [x for x in five if x not in server_five]
        server_silent = [x for x in silent if x[2] is None]  # not even a JSON body: HTTP layer
        silent = [x for x in silent if x not in server_silent]
        # the HTTP layer refuses a bad %-escape with a bare 400 and closes at once; with a body
        # still being sent the client may only see the connection reset
        bad_escape = re.compile(r"%(?![0-9A-Fa-f]{2})")
        reset = [x for x in noanswer if bad_escape.search(x[0].path.split("?")[0])]
        noanswer = [x for x in noanswer if x not in reset]
        server_silent += reset
        four = n - len(five) - len(server_five) - len(three) - len(two) - len(noanswer) - len(reset)
        self.fig.add(sec, "answered 4xx", four, n - len(server_five) - len(three) - len(reset),
                     four == n - len(server_five) - len(three) - len(reset))
        self.fig.add(sec, "5xx by OpenBao before the plugin (path not UTF-8 -> gRPC marshal)", len(server_five))
        self.fig.add(sec, "bare 400 / reset by OpenBao's HTTP layer (bad %-escape, NUL, U+2028)",
                     len(server_silent))
        self.fig.add(sec, "3xx by OpenBao's HTTP layer (unclean path redirected)", len(three))
        self.fig.check(sec, "answered 5xx (by the plugin)", len(five), 0, key="fivexx")
        by_what: dict[str, int] = {}
        for r, st, body in five:
            k = (f"{r.method} {re.sub(r'/(fznew-|zz)[^/]*', '/<new>', r.path)} -> HTTP {st}: "
                 f"{errors_text(body)[:120]}")
            by_what[k] = by_what.get(k, 0) + 1
        if by_what:
            self.fig.detail(sec, "fivexx_by_path", dict(sorted(by_what.items(), key=lambda kv: -kv[1])))
            say(f"5xx by the plugin, grouped: {json.dumps(by_what, indent=1, ensure_ascii=False)[:2000]}")
        self.fig.check(sec, "no HTTP answer (connection dropped / timeout)", len(noanswer), 0, key="no_answer")
        self.fig.add(sec, "answered 2xx (bad input accepted)", len(two), 0, len(two) == 0, invariant=True,
                     key="twoxx")
        self.fig.check(sec, "4xx without an error message", len(silent), 0, key="silent_4xx")

        def sample(rows: list, k: int = 15) -> list:
            out = []
            seen = set()
            for r, st, body in rows:
                sig = (r.category, r.method, re.sub(r"/[^/]*$", "/*", r.path), st)
                if sig in seen:
                    continue
                seen.add(sig)
                out.append({"category": r.category, "method": r.method, "path": r.path[:200],
                            "body": (r.body or b"")[:200].decode("utf-8", "replace"), "status": st,
                            "answer": (errors_text(body) or str(body))[:300]})
                if len(out) >= k:
                    break
            return out

        for label, rows in (("fivexx", five), ("twoxx", two), ("silent_4xx", silent), ("threexx", three),
                            ("no_answer", noanswer), ("server_fivexx", server_five)):
            if rows:
                self.fig.detail(sec, label, sample(rows))
                say(f"{label}: " + json.dumps(sample(rows, 6), indent=1, ensure_ascii=False)[:4000])
        after = self._fuzz_snapshot(s, m)
        s.revoke_prefix(f"{m}/")  # anything a generated request managed to issue
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        self.fig.check(sec, "stored config/root, config/lease, roles, static roles changed", len(changed), 0,
                       key="state_changed")
        if changed:
            self.fig.detail(sec, "changed", {k: [before.get(k), after.get(k)] for k in changed})
            say(f"changed: {changed}")

    def _fuzz_snapshot(self, s: Server, m: str) -> dict:
        snap = {}
        for p in ("config/root", "config/lease"):
            snap[p] = json.dumps(s.api("GET", f"{m}/{p}")[1].get("data"), sort_keys=True)
        snap["raw:config/root"] = s.raw_get(m, "config/root")
        st, b = s.api("LIST", f"{m}/roles")
        names = sorted(b["data"]["keys"]) if st == 200 else []
        snap["roles"] = json.dumps(names)
        for name in names:
            snap[f"roles/{name}"] = json.dumps(s.api("GET", f"{m}/roles/{name}")[1].get("data"), sort_keys=True)
        st, b = s.api("LIST", f"{m}/static-roles")
        names = sorted(b["data"]["keys"]) if st == 200 else []
        snap["static-roles"] = json.dumps(names)
        for name in names:
            snap[f"static-roles/{name}"] = json.dumps(s.api("GET", f"{m}/static-roles/{name}")[1].get("data"),
                                                      sort_keys=True)
        st, b = s.api("LIST", "sys/leases/lookup/" + m + "/creds/")
        snap["leases"] = json.dumps(sorted(b["data"]["keys"]) if st == 200 else [])
        return snap

    # ==========================================================================
    # g. no secret leaks at trace
    # ==========================================================================

    def section_g(self) -> None:
        sec, m = "g", "soak-leak"
        bao = devstack.Bao(log_level="trace", log_requests_level="trace",
                           extra_env={"AWS_PLUGIN_LOG_LEVEL": "trace"},
                           extra_config=SERVER_EXTRA)
        self.cleanups.append(bao.close)
        bao.start()
        devstack.install_plugin(bao, self.plugin, "aws")
        s = Server(bao.addr, bao.token, bao)
        self.proxy.configure(fraction=0.0, delay={})
        iam = self.iam
        root_name, static_name = "soak-leak-root", "soak-leak-static"
        for u in (root_name, static_name):
            delete_user_fully(iam, u)
            self.cleanups.append(lambda u=u: delete_user_fully(iam, u))
        iam.create_user(UserName=root_name)
        iam.put_user_policy(UserName=root_name, PolicyName="admin", PolicyDocument=ADMIN_DOC)
        root_key = iam.create_access_key(UserName=root_name)["AccessKey"]
        iam.create_user(UserName=static_name)
        secrets: dict[str, str] = {}  # secret -> where it was issued
        non_issuing: list[tuple[str, bytes]] = []  # (what, raw response)

        def rec(what: str, method: str, path: str, data: Any = None, issuing: bool = False,
                ok=(200, 204)) -> Any:
            st, body, raw = call(s.addr, s.token, method, path, data)
            if st not in ok:
                raise RuntimeError(f"{what}: {method} {path} -> HTTP {st} {body}")
            if not issuing:
                non_issuing.append((what, raw))
            return body

        def keep(where: str, data: dict) -> None:
            for k in ("secret_key", "security_token", "session_token"):
                v = data.get(k)
                if isinstance(v, str) and v:
                    secrets[v] = f"{where}.{k}"

        secrets[root_key["SecretAccessKey"]] = "config/root secret_key (initial)"
        rec("enable", "POST", f"sys/mounts/{m}", {"type": "aws"})
        rec("config/root", "POST", f"{m}/config/root", dict(
            access_key=root_key["AccessKeyId"], secret_key=root_key["SecretAccessKey"], region="us-east-1",
            iam_endpoint=self.proxy.url, sts_endpoint=self.proxy.url))
        rec("read config/root", "GET", f"{m}/config/root")
        rec("config/lease", "POST", f"{m}/config/lease", {"lease": "1h", "lease_max": "2h"})
        rec("role iam_user", "POST", f"{m}/roles/li", dict(credential_type="iam_user", policy_arns=[READ_ONLY],
                                                         policy_document=INLINE_DOC))
        rec("role assumed_role", "POST", f"{m}/roles/la", dict(credential_type="assumed_role",
                                                             role_arns=[f"arn:aws:iam::{ACCOUNT}:role/soak"]))
        rec("role federation_token", "POST", f"{m}/roles/lf", dict(credential_type="federation_token",
                                                                 policy_document=INLINE_DOC))
        rec("role session_token", "POST", f"{m}/roles/ls", dict(credential_type="session_token"))
        for r in ("li", "la", "lf", "ls"):
            rec(f"read role {r}", "GET", f"{m}/roles/{r}")
        rec("list roles", "LIST", f"{m}/roles")
        leases = []
        for where, path in (("creds/li", f"{m}/creds/li"), ("sts/la", f"{m}/sts/la"), ("sts/lf", f"{m}/sts/lf"),
                            ("sts/ls", f"{m}/sts/ls"), ("creds/li#2", f"{m}/creds/li")):
            b = rec(where, "GET", path, issuing=True)
            keep(where, b["data"])
            if b.get("lease_id"):
                leases.append(b["lease_id"])
        for lid in leases:
            rec("lease lookup", "PUT", "sys/leases/lookup", {"lease_id": lid})
        rec("lease renew", "PUT", "sys/leases/renew", {"lease_id": leases[0]})
        rec("list leases", "LIST", f"sys/leases/lookup/{m}/creds/li/")
        # rotate-root: the new secret is only in storage; read it back through sys/raw
        rec("rotate-root", "POST", f"{m}/config/rotate-root")
        raw_root = json.loads(s.raw_get(m, "config/root"))
        secrets[raw_root["secret_key"]] = "config/root secret_key (after rotate-root)"
        rec("read config/root after rotate", "GET", f"{m}/config/root")
        b = rec("creds after rotate-root", "GET", f"{m}/creds/li", issuing=True)
        keep("creds/li#3", b["data"])
        leases.append(b["lease_id"])
        # static roles
        rec("static role", "POST", f"{m}/static-roles/lst", {"username": static_name, "rotation_period": 3600})
        rec("read static role", "GET", f"{m}/static-roles/lst")
        rec("list static roles", "LIST", f"{m}/static-roles")
        b = rec("static-creds", "GET", f"{m}/static-creds/lst", issuing=True)
        keep("static-creds/lst", b["data"])
        rec("rotate-role", "POST", f"{m}/rotate-role/lst", issuing=True)
        b = rec("static-creds after rotate-role", "GET", f"{m}/static-creds/lst", issuing=True)
        keep("static-creds/lst#2", b["data"])
        rec("read static role again", "GET", f"{m}/static-roles/lst")
        for lid in leases:
            rec("revoke", "PUT", "sys/leases/revoke", {"lease_id": lid, "sync": True})
        rec("delete static role", "DELETE", f"{m}/static-roles/lst")
        rec("path-help", "GET", f"{m}/creds/li?help=1")
        time.sleep(1.0)  # let the log flush
        log = bao.log_text()
        trace_lines = sum(1 for line in log.splitlines() if "[TRACE]" in line and "secrets." in line)
        self.fig.add(sec, "server log lines (plugin trace lines)", f"{len(log.splitlines())} ({trace_lines})")
        self.fig.add(sec, "distinct secrets seen (secret keys, session tokens, root secrets)", len(secrets))
        hits_log = {}
        hits_resp = {}
        for sec_value, where in secrets.items():
            variants = {sec_value, json.dumps(sec_value)[1:-1], urllib.parse.quote(sec_value, safe="")}
            c = sum(log.count(v) for v in variants)
            if c:
                hits_log[where] = c
            for what, raw in non_issuing:
                text = raw.decode("utf-8", "replace")
                if any(v in text for v in variants):
                    hits_resp.setdefault(where, []).append(what)
        self.fig.check(sec, "secrets found in the server log (trace)", sum(hits_log.values()), 0, key="log_hits")
        self.fig.check(sec, f"secrets found in {len(non_issuing)} non-issuing responses",
                       sum(len(v) for v in hits_resp.values()), 0, key="response_hits")
        if hits_log:
            self.fig.detail(sec, "log_hits", hits_log)
            say(f"secrets in the log: {hits_log}")
        if hits_resp:
            self.fig.detail(sec, "response_hits", hits_resp)
            say(f"secrets in responses: {hits_resp}")
        self.fig.check(sec, "plugin trace lines present (trace really on)", trace_lines > 0, True, key="trace_on")
        bao.close()


    # ==========================================================================
    # h. upgrade under traffic
    # ==========================================================================

    def section_h(self) -> None:
        import upgrade

        sec, m, m2, role, role2, srole = "h", "soak-upgrade", "soak-upgrade-inflight", "up", "upin", "upstatic"
        s, name = self.main, "aws-upgrade"
        installed = self.bao.plugin_dir / devstack.PLUGIN_FILE_NAME
        devstack.register_plugin(self.bao.cli, installed, name)  # this build, under its own name
        old = upgrade.reported_version(self.plugin)
        if self.upgrade_to is not None:
            new = upgrade.reported_version(self.upgrade_to)
            target = devstack.copy_plugin(self.upgrade_to, self.bao.plugin_dir)
            target = target.rename(target.with_name(f"vault-plugin-secrets-aws-{new}"))
        else:
            new = upgrade.next_version(old, "soak")
            target = upgrade.install_stamped(self.plugin, self.bao.plugin_dir, new)
        self.fig.add(sec, "versions (old -> new)", f"{old} -> {new}")
        # the traffic mount: a real root user (its key rotates every 20 s), moto directly
        root = f"soak-upgrade-root-{self.seed}"
        make_static_user(self.iam, root)
        self.iam.put_user_policy(UserName=root, PolicyName="admin", PolicyDocument=ADMIN_DOC)
        key = self.iam.create_access_key(UserName=root)["AccessKey"]
        self.cleanups.append(lambda: delete_user_fully(self.iam, root))
        s.must("POST", f"sys/mounts/{m}", {"type": name})
        s.must("POST", f"{m}/config/root", dict(
            access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"], region="us-east-1",
            iam_endpoint=self.moto.endpoint, sts_endpoint=self.moto.endpoint, rotation_period="20s"))
        self.iam_role(s, m, role)
        s.must("POST", f"{m}/roles/upsts", dict(credential_type="assumed_role",
                                                 role_arns=[f"arn:aws:iam::{ACCOUNT}:role/soak-upgrade"]))
        suser = "soak-upgrade-static"
        make_static_user(self.iam, suser)
        self.cleanups.append(lambda: delete_user_fully(self.iam, suser))
        s.must("POST", f"{m}/static-roles/{srole}", {"username": suser, "rotation_period": 60})
        # the in-flight mount: through the proxy, whose CreateUser is held across the reload
        s.must("POST", f"sys/mounts/{m2}", {"type": name})
        s.must("POST", f"{m2}/config/root", dict(access_key="testing", secret_key="testing", region="us-east-1",
                                                  iam_endpoint=self.proxy.url, sts_endpoint=self.proxy.url))
        self.iam_role(s, m2, role2)
        self.proxy.configure(fraction=0.0, delay={})
        run_s = self.size["upgrade_s"]
        traffic = upgrade.Traffic(s.api, m, role, "upsts", rate=10.0, threads=4, seed=self.seed).start()
        time.sleep(run_s / 2)
        held = 3.0
        log_at = self.bao.log_size()
        t_up = time.time()
        # the upgrade, while an issue on the other mount of the plugin waits in CreateUser
        inflight = self._inflight(s, f"{m2}/creds/{role2}", held, lambda: upgrade.upgrade(
            self.bao.cli, name, [m, m2], target, new, devstack.sha256_file(target)))
        steps = inflight["result"]
        t_done = time.time()
        time.sleep(run_s / 2)
        traffic.finish()

        sm = traffic.summary()
        during = traffic.summary(t_up - 1, t_done + 1)
        self.fig.add(sec, "operations (creds / sts / revoke)", "{creds} / {sts} / {revoke}".format(**sm["by_kind"]))
        self.fig.add(sec, "operations per second", round(sm["total"] / max(run_s, 1), 1), 10)
        self.fig.check(sec, "operations that failed twice (the client's retry did not help)", sm["failed_twice"], 0,
                       key="failed_twice")
        self.fig.add(sec, "operations that failed once, then worked on the retry", sm["failed_once"])
        self.fig.add(sec, "operations started during the upgrade steps", during["total"])
        self.fig.add(sec, "slowest operation (s)", sm["worst_seconds"])
        if sm["errors"]:
            self.fig.detail(sec, "traffic_errors", sm["errors"])
        self.fig.add(sec, "register -version / tune / reload (s)", " / ".join(
            str(steps[k]) for k in ("register_s", f"tune_{m}_s", "reload_s")))
        mounts = s.must("GET", "sys/mounts")["data"]
        running = {x: mounts.get(f"{x}/", {}).get("running_plugin_version") for x in (m, m2)}
        self.fig.check(sec, "mounts running the new version after the reload",
                       sum(v == new for v in running.values()), 2, key="running_new")
        with_v = self.bao.cli("plugin", "info", f"-version={new}", "secret", name)
        without = self.bao.cli("plugin", "info", "secret", name)
        self.fig.check(sec, "`plugin info -version=<new>` works", with_v.returncode == 0, True, key="info_version")
        self.fig.add(sec, "`plugin info` without -version (a plugin that reports one)",
                     "404" if "Code: 404" in without.stderr else f"exit {without.returncode}")
        self.fig.add(sec, f"issue held {held:.0f} s in CreateUser on the other mount across the upgrade",
                     inflight["outcome"])
        if not inflight["issued"]:  # a client retries once
            retried = issuer(s, f"{m2}/creds/{role2}")(0)
            self.fig.check(sec, "... the client's retry of it worked", retried.ok, True, key="inflight_retry")
        self.fig.add(sec, "... the reload waited for it (s)", steps["reload_s"])
        self.fig.add(sec, "old process: Shutdown request -> exit (ms)",
                     upgrade.shutdown_to_exit_ms(self.bao.log_since(log_at), name))
        # the same, with the issue on the mount being reloaded (no traffic now)
        same = self._inflight(s, f"{m2}/creds/{role2}", held,
                              lambda: self.bao.cli("plugin", "reload", f"-mounts={m2}", check=True))
        self.fig.add(sec, f"issue held {held:.0f} s on the mount being reloaded", same["outcome"])
        self.fig.add(sec, "... the reload waited for it (s)", same["seconds"])
        # leases the old version issued: renew and revoke under the new one
        old_leases = [lid for lid, at in traffic.leases if at < t_up]
        renewed = sum(1 for lid in old_leases
                      if s.api("PUT", "sys/leases/renew", {"lease_id": lid, "increment": 3600})[0] == 200)
        self.fig.check(sec, "leases of the old version renewed under the new one",
                       f"{renewed}/{len(old_leases)}", f"{len(old_leases)}/{len(old_leases)}", key="old_renewed")
        for mount, r in ((m, role), (m2, role2)):
            st_, body, _ = s.revoke_prefix(f"{mount}/creds/{r}")
            self.fig.check(sec, f"revoke -prefix {mount} (old and new leases) HTTP status", st_, 204,
                           key=f"revoke_{mount}")
            users = engine_users(self.iam, r)
            uncovered = self._uncovered(s, mount, users)
            self.fig.check(sec, f"IAM users of {mount} that no lease or WAL entry covers", len(uncovered), 0,
                           key=f"uncovered_{mount}")
            self.pending_rollback.append((s, mount, r, sec))
        self.late_checks.append(lambda: self._schedules_after_upgrade(s, m, srole, root, t_done))

    def _inflight(self, s: Server, path: str, held: float, action: Callable[[], Any]) -> dict:
        """An issue whose CreateUser the proxy holds ``held`` s, with ``action`` (a reload) run
        while it waits: what became of the issue, what the action returned and its seconds."""
        before = self.proxy_stats().get("CreateUser", {}).get("delayed", 0)
        self.proxy.configure(delay={"CreateUser": held})
        got: dict[str, Any] = {}
        th = threading.Thread(target=lambda: got.update(zip(("status", "body"), s.api("GET", path))), daemon=True)
        th.start()
        deadline = time.monotonic() + 20
        while self.proxy_stats().get("CreateUser", {}).get("delayed", 0) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        t = time.monotonic()
        try:
            result = action()
        finally:
            seconds = round(time.monotonic() - t, 2)
            th.join(60)
            self.proxy.configure(delay={})
        issued = got.get("status") == 200 and bool((got.get("body") or {}).get("lease_id"))
        outcome = "completed (lease)" if issued else (
            f"HTTP {got.get('status')}: {errors_text(got.get('body'))[:120]!r}; its user left to the WAL rollback")
        return dict(outcome=outcome, seconds=seconds, issued=issued, result=result)

    def _schedules_after_upgrade(self, s: Server, m: str, srole: str, root: str, t_done: float) -> None:
        """The root key (20 s) and the static role (60 s) rotated after the upgrade."""
        sec = "h"
        deadline = time.time() + 90
        root_ok = static_ok = False
        c: dict = {}
        while time.time() < deadline and not (root_ok and static_ok):
            c = s.must("GET", f"{m}/config/root")["data"]
            last = c.get("last_vault_rotation") or ""
            root_ok = bool(last) and parse_utc(last) > t_done
            exp = s.must("GET", f"{m}/static-creds/{srole}")["data"]["expiration"]
            static_ok = parse_utc(exp) - 60 > t_done
            time.sleep(1)
        self.fig.check(sec, "root key rotated by its schedule after the upgrade", root_ok, True, key="root_after")
        self.fig.check(sec, "static role rotated by its schedule after the upgrade", static_ok, True, key="static_after")
        # a rotation may be under way (2 keys for a moment): look until a quiet moment, bounded
        only_stored, keys = False, []
        deadline = time.time() + 20
        while time.time() < deadline and not only_stored:
            stored = s.must("GET", f"{m}/config/root")["data"]["access_key"]
            keys = [k["AccessKeyId"] for k in self.iam.list_access_keys(UserName=root)["AccessKeyMetadata"]]
            only_stored = keys == [stored] == [s.must("GET", f"{m}/config/root")["data"]["access_key"]]
            time.sleep(0.5)
        self.fig.check(sec, "root user's keys: only the stored one", only_stored, True, key="root_keys")
        if not only_stored:
            self.fig.detail(sec, "root_keys", keys)


def parse_utc(text: str) -> float:
    import datetime
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def boto3_teardown(iam, name: str, best_effort=None) -> None:
    """The plugin's revoke sequence (src/aws/iam_user/teardown.rs), one call after the other.

    ``best_effort`` (a client without retries) makes the calls the plugin makes once and
    whose failure it ignores (moto does not implement ListServiceSpecificCredentials)."""
    be = best_effort or iam
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    def quiet(f, **kw):  # the plugin's best-effort steps (moto lacks some; NoSuchEntity is fine)
        try:
            return f(**kw)
        except (ClientError, BotoCoreError, ResponseParserError):
            return None

    keys = iam.list_access_keys(UserName=name, MaxItems=1000)["AccessKeyMetadata"]
    quiet(be.list_mfa_devices, UserName=name, MaxItems=1000)
    quiet(be.list_ssh_public_keys, UserName=name, MaxItems=1000)
    quiet(be.list_signing_certificates, UserName=name, MaxItems=1000)
    quiet(be.list_service_specific_credentials, UserName=name)
    attached = iam.list_attached_user_policies(UserName=name, MaxItems=1000)["AttachedPolicies"]
    inline = iam.list_user_policies(UserName=name, MaxItems=1000)["PolicyNames"]
    groups = iam.list_groups_for_user(UserName=name, MaxItems=1000)["Groups"]
    for k in keys:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    quiet(be.delete_login_profile, UserName=name)
    for p in attached:
        iam.detach_user_policy(UserName=name, PolicyArn=p["PolicyArn"])
    for p in inline:
        iam.delete_user_policy(UserName=name, PolicyName=p)
    for g in groups:
        iam.remove_user_from_group(UserName=name, GroupName=g["GroupName"])
    iam.delete_user(UserName=name)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--short", action="store_const", dest="mode", const="short")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    ap.add_argument("--only", default="", help="comma list of sections to run (default: all of the form's)")
    ap.add_argument("--ha", action="store_true", help="include d (HA) in --short too")
    ap.add_argument("--plugin", default=str(devstack.default_plugin_binary()))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--upgrade-to", help="h: upgrade to this binary (default: the plugin stamped with the "
                                         "next version by scripts/stamp_version.py)")
    ap.add_argument("--json", help="write figures and details here")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    a = ap.parse_args(argv)
    devstack.handle_sigterm()
    plugin = Path(a.plugin)
    if not plugin.is_file():
        print(f"soak: plugin binary {plugin} not found (make build)", file=sys.stderr)
        return 2
    wanted = [x.strip() for x in a.only.split(",") if x.strip()] or list(SECTIONS)
    if a.mode == "short" and not a.ha and not a.only:
        wanted = [x for x in wanted if x != "d"]
    fig = Figures()
    soak = Soak(a.mode, plugin, a.seed, fig)
    soak.upgrade_to = Path(a.upgrade_to) if a.upgrade_to else None
    t0 = time.monotonic()
    print(f"soak --{a.mode}: sections {','.join(wanted)}; plugin {plugin}; seed {a.seed}", flush=True)
    errors = {}
    try:
        soak.start()
        # a, b and d leave WAL entries for the rollback window: they run first, their entries are
        # backdated, and the real 60 s tick runs while c, e, f and g do; counted at the end.
        order = [x for x in "abdh" if x in wanted]
        later = [x for x in "cefg" if x in wanted]
        for name in order + ["rollback-start"] + later + ["rollback-finish", "late", "final"]:
            if name == "late":
                if not soak.late_checks:
                    continue
                print("\n== late: checks that needed time to pass", flush=True)
                fn = soak.run_late_checks
            elif name == "final":
                print("\n== final: every vault-* user in moto", flush=True)
                fn = soak.final_count
            elif name.startswith("rollback"):
                if not soak.pending_rollback:
                    continue
                print(f"\n== {name}: WAL entries of {', '.join(p[1] for p in soak.pending_rollback)}", flush=True)
                fn = soak.start_rollback if name == "rollback-start" else soak.finish_rollback
            else:
                print(f"\n== {name}: {TITLES[name]}", flush=True)
                fn = getattr(soak, f"section_{name}")
            t1 = time.monotonic()
            try:
                fn()
            except Exception as e:
                errors[name] = f"{e!r}"
                traceback.print_exc()
                fig.add(name if len(name) == 1 else "all", "finished without a soak error",
                        False, True, False, invariant=True, key="section_ran")
            print(f"   ({name} took {time.monotonic() - t1:.1f}s)", flush=True)
    except KeyboardInterrupt:
        errors["interrupted"] = "KeyboardInterrupt"
        raise
    finally:
        total = time.monotonic() - t0
        print(f"\n== figures (soak --{a.mode}, {total:.0f}s)\n{fig.table()}", flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(dict(mode=a.mode, seconds=total, sections=wanted, errors=errors,
                                                    figures=fig.rows, details=fig.details), indent=1, default=str))
        soak.stop()
    missed = fig.missed()
    if missed:
        print(f"\n{len(missed)} goal(s) missed: " + "; ".join(f"[{r['section']}] {r['name']}" for r in missed))
    return 1 if (a.strict and (missed or errors)) else 0


TITLES = {
    "a": "10% AWS faults while 10 clients issue iam_user creds",
    "b": "kill -9 of the plugin mid-issue",
    "c": "server restart with leases outstanding",
    "d": "HA failover in a 3-node raft cluster",
    "e": "mass revocation vs boto3 direct",
    "f": "generated bad input",
    "g": "no secret leaks at trace",
    "h": "plugin upgrade (register -version, tune, reload) under traffic",
}

if __name__ == "__main__":
    sys.exit(main())
