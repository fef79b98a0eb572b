#!/usr/bin/env python3
"""Benchmark the plugin against its floors, in ONE run, on one machine. Prints, never asserts.

Everything runs against the same moto and the same OpenBao (``bao server -dev``,
in-memory storage), started here with the release binary registered and mounted at
``bench/``, the floor plugin (examples/floor.rs, ``make bench`` builds it) at ``floor/``
and a kv-v1 mount at ``kv/``. Each floor is the cheapest way to do the same work here:

- the AWS floor is the same IAM/STS calls as plain SigV4 HTTP requests on one keep-alive
  connection (scripts/rawaws.py, no SDK);
- the plugin floor is the floor plugin: this crate's plugin + framework layers with one
  path answering from memory, so its read minus a kv read is what any external plugin pays
  per request ("the trip").

1. creds latency (sequential, interleaved op by op in shuffled order, every floor measured
   twice, A and B, to show the noise): ``GET bench/creds/iu`` (iam_user: CreateUser +
   AttachUserPolicy + CreateAccessKey) and ``POST bench/sts/ar`` (assumed_role), each beside
   raw calls + a kv write (the lease) + the trip. Goal p50 <= 1.10x. Also plugin CPU per
   issue and where the time goes (the engine's phase timers, vault_aws_issue_phase_seconds).
1b. fan-out (printed, no goal): a role with 3 policy ARNs and 1 group, 20 ms per IAM call
   through scripts/faultproxy.py, beside the same calls one after the other.
2. storage paths: ``read bench/roles/iu`` and ``list bench/roles`` beside the floor plugin's
   read and list (goal p50 <= 1.05x); kv-v1 read and list printed for reference.
3. start-up and footprint: exec -> handshake line (median), idle RSS after Setup, RSS after
   warm-up and after two concurrent batches, binary size. Goals <= 10 ms, <= 10 MiB,
   growth <= 5 MiB, <= 30 MiB.
4. concurrency: C clients x R creds: throughput, errors (goal 0), plugin CPU beside moto's.
5. mass revoke: ``revoke-prefix bench/creds/mass`` (sync) beside as many users made the
   same way and deleted with the least raw calls (3 each), one after the other, plus the
   server's own cost of revoking as many leases (no-op leases of the floor plugin, revoked
   the same way). Goal <= 1.2x.
6. IAM at its rate limit: the fault proxy's token bucket (20 calls/s per account, burst 20,
   30 ms on every call, Throttling beyond it); (a) 20 clients issuing 500 iam_user creds,
   (b) ``lease revoke -prefix`` of all of them. Goals: 0 failures, >= 85% of the bucket's
   rate, <= 10% throttled answers.
7. scale (``--scale`` or ``--only 7``, ~15 min, a stack of its own): 50 mounts in one
   process (<= 0.2 MiB RSS per extra mount), 10,000 roles (list <= 1.2x a kv-v1 list of
   10,000 keys; RSS after reading every role <= 25 MiB above idle), 2,000 static roles
   (schedule rebuilt after ``plugin reload`` within 2 s; all falling due together at the
   rate limit: 0 failures, the last done within 1.1x of calls / rate).

moto's server closes every connection after one answer (``Connection: close``), so every AWS
call -- the plugin's and the raw floor's alike -- opens a new TCP connection. The machine's
other load shows up in every figure: the load average is printed at the start and the end.

Usage: .venv/bin/python scripts/bench.py [--plugin PATH] [--quick] [--only 1,2] [--scale]
(``make bench``; ``make bench BENCH_ARGS=--quick``). Full (1-6): under 10 min on 2 cores;
--quick: under 1 min.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import devstack  # noqa: E402
import figures  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from rawaws import RawAws, field  # noqa: E402

MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCOUNT = "123456789012"  # moto's default account
MOUNT = "bench"
FLOOR = "floor"
FLOOR_BINARY = devstack.REPO / "target" / "release" / "examples" / "floor"
WAN_MOUNT = "benchwan"
WAN_DELAY = 0.02
WAN_POLICIES = 3
WAN_GROUP = "bench-wan"
KV = "kv"
POLICY_DOC = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
})
TRUST_DOC = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                   "Action": "sts:AssumeRole"}],
})

GOAL_CREDS = 1.10
GOAL_STORAGE = 1.05
GOAL_HANDSHAKE_MS = figures.GOAL_HANDSHAKE_MS
GOAL_RSS_MIB = figures.GOAL_RSS_MIB
GOAL_GROWTH_MIB = 5.0
GOAL_SIZE_MIB = figures.GOAL_SIZE_MIB
GOAL_CPU_SHARE = 0.10
GOAL_REVOKE = 1.2
GOAL_RL_SHARE = 0.85
GOAL_RL_THROTTLED = 0.10
GOAL_PER_MOUNT_MIB = 0.2
GOAL_LIST_10K = 1.2
GOAL_ROLES_RSS_MIB = 25.0
GOAL_REBUILD_S = 2.0
GOAL_STATIC_TIME = 1.1
RL_MOUNT = "benchrl"
RL_RATE = 20.0
RL_BURST = 20.0
RL_LATENCY = 0.03

FULL = dict(launches=20, warmup=100, warmup_sts=20, samples=200, storage=500,
            clients=50, per_client=20, rl_clients=20, rl_creds=500,
            scale_mounts=50, scale_roles=10_000, scale_static=2_000)
QUICK = dict(launches=5, warmup=20, warmup_sts=5, samples=30, storage=100,
             clients=10, per_client=10, rl_clients=20, rl_creds=60,
             scale_mounts=10, scale_roles=500, scale_static=100)


def say(msg: str = "") -> None:
    print(msg, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after "pid (comm)": state is fields[0]; utime, stime are stat fields 14, 15
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    return sum(cpu_split(pid))


class Rss(float):
    """VmRSS in MiB, carrying its split: anon (heap, stacks) and file (mapped pages of the binary and libc)."""

    anon: float
    file: float

    def split(self) -> str:
        return f"(anon {self.anon:.2f}, file-backed {self.file:.2f})"


def rss_mib(pid: int) -> Rss:
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                vals[key] = int(rest.split()[0]) / 1024.0
    r = Rss(vals["VmRSS"])
    r.anon = vals.get("RssAnon", 0.0)
    r.file = vals.get("RssFile", 0.0) + vals.get("RssShmem", 0.0)
    return r


# --------------------------------------------------------------------------
# The operations being timed
# --------------------------------------------------------------------------


class Ops:
    """Every timed operation: one call, raises on a wrong answer."""

    def __init__(self, stack: devstack.Stack, policy_arn: str, role_arn: str):
        import requests

        self.bao = stack.bao
        self.base = stack.bao.addr + "/v1/"
        self.http = requests.Session()
        self.http.headers["X-Vault-Token"] = stack.bao.token
        # The floor's AWS client: plain HTTP, signed by hand, one connection (reopened when moto
        # closes it, as it does after every answer).
        self.raw_iam = RawAws(stack.moto.endpoint, "iam", region=stack.moto.region)
        self.raw_sts = RawAws(stack.moto.endpoint, "sts", region=stack.moto.region)
        self.policy_arn = policy_arn
        self.role_arn = role_arn
        self.raw_users: list[tuple[str, str]] = []
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _ok(self, r, *statuses: int):
        if r.status_code not in statuses:
            raise RuntimeError(f"{r.request.method} {r.url}: HTTP {r.status_code} {r.text[:300]}")
        return r

    # through the server
    def plugin_creds(self, role: str = "iu") -> None:
        self._ok(self.http.get(self.base + f"{MOUNT}/creds/{role}"), 200)

    def plugin_sts(self) -> None:
        self._ok(self.http.post(self.base + f"{MOUNT}/sts/ar", json={}), 200)

    def kv_write(self) -> None:
        self._ok(self.http.put(self.base + f"{KV}/w/{self._next()}",
                               json={"access_key": "AKIA" + "X" * 16, "secret_key": "s" * 40}), 204)

    def role_read(self) -> None:
        self._ok(self.http.get(self.base + f"{MOUNT}/roles/iu"), 200)

    def role_list(self) -> None:
        self._ok(self.http.request("LIST", self.base + f"{MOUNT}/roles"), 200)

    def kv_read(self) -> None:
        self._ok(self.http.get(self.base + f"{KV}/r"), 200)

    def kv_list(self) -> None:
        self._ok(self.http.request("LIST", self.base + f"{KV}/roles"), 200)

    def floor_read(self) -> None:
        self._ok(self.http.get(self.base + f"{FLOOR}/item/iu"), 200)

    def floor_write(self) -> None:
        self._ok(self.http.post(self.base + f"{FLOOR}/item/w", json={}), 204)

    def floor_lease(self) -> None:
        self._ok(self.http.get(self.base + f"{FLOOR}/lease/l{self._next()}"), 200)

    def floor_list(self) -> None:
        self._ok(self.http.request("LIST", self.base + f"{FLOOR}/items"), 200)

    # directly against moto, without an SDK (the floor)
    def raw_user(self) -> None:
        """What the plugin's iam_user issue sends to AWS for role iu."""
        name = f"bench-raw-{int(time.time())}-{uuid.uuid4().hex[:20]}"
        self.raw_iam.ok("CreateUser", UserName=name, Path="/")
        self.raw_iam.ok("AttachUserPolicy", UserName=name, PolicyArn=self.policy_arn)
        key = self.raw_iam.ok("CreateAccessKey", UserName=name)
        if not field(key, "AccessKeyId") or not field(key, "SecretAccessKey"):
            raise RuntimeError("no key")
        self.raw_users.append((name, field(key, "AccessKeyId")))

    def raw_assume(self) -> None:
        out = self.raw_sts.ok("AssumeRole", RoleArn=self.role_arn,
                              RoleSessionName=f"vault-{int(time.time())}-{uuid.uuid4().hex[:20]}"[:32],
                              DurationSeconds="3600")
        if not field(out, "SessionToken"):
            raise RuntimeError("no session token")

    def raw_teardown(self, name: str, key_id: str) -> None:
        """The least a revoke of one of those users must do: delete its key, detach its policy,
        delete it (what the engine does when nothing was added to the user by hand)."""
        self.raw_iam.ok("DeleteAccessKey", UserName=name, AccessKeyId=key_id)
        self.raw_iam.ok("DetachUserPolicy", UserName=name, PolicyArn=self.policy_arn)
        self.raw_iam.ok("DeleteUser", UserName=name)


def timed(fn, *args) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) of one call."""
    c0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    fn(*args)
    t1 = time.perf_counter_ns()
    c1 = time.process_time_ns()
    return (t1 - t0) / 1e6, (c1 - c0) / 1e6


def interleave(ops: dict, rounds: int, rng: random.Random) -> tuple[dict, dict]:
    """Run every op once per round, in a shuffled order; wall and client-CPU ms per op."""
    wall = {k: [] for k in ops}
    cpu = {k: [] for k in ops}
    names = list(ops)
    for _ in range(rounds):
        rng.shuffle(names)
        for k in names:
            w, c = timed(ops[k])
            wall[k].append(w)
            cpu[k].append(c)
    return wall, cpu


# --------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------


def setup(stack: devstack.Stack) -> tuple[str, str]:
    bao, moto = stack.bao, stack.moto
    iam = moto.client("iam")
    policy_arn = iam.create_policy(PolicyName="bench", PolicyDocument=POLICY_DOC)["Policy"]["Arn"]
    role_arn = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=TRUST_DOC)["Role"]["Arn"]

    def ok(res, *statuses):
        status, body = res
        if status not in (statuses or (200, 204)):
            raise SystemExit(f"bench: setup failed: HTTP {status} {body}")
        return body

    devstack.enable(bao, MOUNT, "aws")
    ok(bao.api("POST", f"sys/mounts/{KV}", {"type": "kv", "options": {"version": "1"}}))
    ok(bao.api("POST", f"{MOUNT}/config/root", {
        "access_key": "testing", "secret_key": "testing", "region": moto.region,
        "iam_endpoint": moto.endpoint, "sts_endpoint": moto.endpoint}), 204)
    ok(bao.api("POST", f"{MOUNT}/config/lease", {"lease": "1h", "lease_max": "24h"}), 204)
    for name in ("iu", "mass", "mass2"):
        ok(bao.api("POST", f"{MOUNT}/roles/{name}", {"credential_type": "iam_user", "policy_arns": [policy_arn]}))
    ok(bao.api("POST", f"{MOUNT}/roles/ar", {"credential_type": "assumed_role", "role_arns": [role_arn]}))
    ok(bao.api("PUT", f"{KV}/r", {"credential_type": "iam_user", "policy_arns": [policy_arn]}))

    # The floor plugin, registered beside the engine on the same server, holding what the
    # engine's roles read answers (same bytes on the wire) and as many names as the roles list.
    install_floor(bao)
    for name in ("iu", "mass", "mass2", "ar"):
        data = ok(bao.api("GET", f"{MOUNT}/roles/{name}"))["data"]
        ok(bao.api("POST", f"{FLOOR}/item/{name}", data), 204)
        ok(bao.api("PUT", f"{KV}/roles/{name}", data), 204)
    return policy_arn, role_arn


def install_floor(bao: devstack.Bao) -> None:
    """Registers examples/floor.rs's release build as plugin ``floor`` and mounts it at FLOOR."""
    if not FLOOR_BINARY.is_file():
        raise SystemExit(f"bench: {FLOOR_BINARY} not found; run `cargo build --release --example floor` "
                         "(`make bench` does)")
    dest = bao.plugin_dir / "floor-plugin"
    shutil.copyfile(FLOOR_BINARY, dest)
    dest.chmod(0o755)
    devstack.register_plugin(bao.cli, dest, "floor")
    devstack.enable(bao, FLOOR, "floor")


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def ms(v: float) -> str:
    return f"{v:7.2f} ms"


def ratio_row(label: str, value: float, floor: float, goal: float) -> str:
    r = value / floor if floor else float("nan")
    return f"  {label:<44} {ms(value)}  floor {ms(floor)}  = {r:5.2f}x   goal <= {goal:.2f}x  {verdict(r <= goal)}"


def section_latency(ops: Ops, n: dict, rng: random.Random, plugin_pid: int) -> None:
    say(f"\n1. creds latency -- {n['samples']} rounds, every op once per round in shuffled order "
        f"(after the warm-up)")
    table = {
        "plugin_creds": ops.plugin_creds,
        "plugin_sts": ops.plugin_sts,
        "raw_user_A": ops.raw_user,
        "raw_user_B": ops.raw_user,
        "raw_assume_A": ops.raw_assume,
        "raw_assume_B": ops.raw_assume,
        "kv_write_A": ops.kv_write,
        "kv_write_B": ops.kv_write,
        "floor_read": ops.floor_read,
        "floor_lease": ops.floor_lease,
        "floor_write": ops.floor_write,
        "kv_read": ops.kv_read,
    }
    cpu0 = cpu_split(plugin_pid)
    phases0 = issue_phases(ops)
    wall, cpu = interleave(table, n["samples"], rng)
    phases1 = issue_phases(ops)
    cpu1 = cpu_split(plugin_pid)
    p50 = {k: statistics.median(v) for k, v in wall.items()}
    p95 = {k: pct(v, 95) for k, v in wall.items()}
    say(f"  {'op':<14} {'p50':>10} {'p95':>10} {'min':>10}   client CPU p50")
    for k in table:
        say(f"  {k:<14} {ms(p50[k]):>10} {ms(p95[k]):>10} {ms(min(wall[k])):>10}   {statistics.median(cpu[k]):6.2f} ms")
    pooled = {base: wall[base + "_A"] + wall[base + "_B"] for base in ("raw_user", "raw_assume", "kv_write")}
    # What every external plugin pays on top of a built-in engine: the floor plugin's read minus
    # a kv read (both answer from memory, one through the plugin protocol).
    trip = max(0.0, p50["floor_read"] - p50["kv_read"])
    say(f"  plugin round trip (floor plugin read {ms(p50['floor_read'])} - kv read {ms(p50['kv_read'])}) "
        f"= {trip:.2f} ms")
    # A write costs an external plugin one more call than a read: the server asks it for the
    # path's existence check (HandleExistenceCheck) before every create/update.
    kv_write50 = statistics.median(wall["kv_write_A"] + wall["kv_write_B"])
    trip_write = max(0.0, p50["floor_write"] - kv_write50)
    say(f"  plugin round trip of a write (floor plugin write {ms(p50['floor_write'])} - kv write {ms(kv_write50)}) "
        f"= {trip_write:.2f} ms (the existence check is one more call)")
    lease = p50["floor_lease"] - p50["floor_read"]
    say(f"  the server registering a lease (floor plugin's no-op lease {ms(p50['floor_lease'])} - its read) "
        f"= {lease:.2f} ms, beside the kv write the floors below count for it: "
        f"{statistics.median(wall['kv_write_A'] + wall['kv_write_B']):.2f} ms (for reference, no goal)")
    # Those leases go, so the mass revoke of section 5 finds only its own.
    ops._ok(ops.http.put(ops.base + f"sys/leases/revoke-prefix/{FLOOR}/lease", json={"sync": True}, timeout=600),
            204)
    trips = {"plugin_creds": trip, "plugin_sts": trip_write}
    for plug, raw, what in (("plugin_creds", "raw_user", "read bench/creds/iu (iam_user: 3 IAM calls; read trip)"),
                            ("plugin_sts", "raw_assume", "write bench/sts/ar (assumed_role: 1 STS call; write trip)")):
        t = trips[plug]
        floor50 = statistics.median(pooled[raw]) + statistics.median(pooled["kv_write"]) + t
        floor95 = pct(pooled[raw], 95) + pct(pooled["kv_write"], 95) + t
        say(f"  {what}")
        say(ratio_row("  p50 vs floor p50 (raw calls + kv write + trip)", p50[plug], floor50, GOAL_CREDS))
        say(f"    {'p95 vs floor p95':<42} {ms(p95[plug])}  floor {ms(floor95)}  = {p95[plug] / floor95:5.2f}x   (no goal)")
        fa = p50[raw + "_A"] + p50["kv_write_A"] + t
        fb = p50[raw + "_B"] + p50["kv_write_B"] + t
        say(f"    floor noise: A {ms(fa)}  B {ms(fb)}  spread {abs(fa - fb) / ((fa + fb) / 2) * 100:4.1f}%"
            f"  -> ratio {p50[plug] / fa:4.2f}x..{p50[plug] / fb:4.2f}x")
    issued = 2 * n["samples"]  # creds + sts rounds; the plugin did nothing else meanwhile
    used_u, used_s = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    say(f"  plugin CPU per issue (mean of creds and sts): user {used_u / issued * 1000:.2f} ms + kernel "
        f"{used_s / issued * 1000:.2f} ms")
    # Where the time goes, from the engine's own phase timers (vault_aws_issue_phase_seconds).
    mean = {k: (phases1[k][0] - phases0.get(k, (0, 0))[0]) / max(phases1[k][1] - phases0.get(k, (0, 0))[1], 1) * 1000
            for k in phases1}
    raw_user = statistics.median(pooled["raw_user"])
    raw_assume = statistics.median(pooled["raw_assume"])
    if ("iam_user", "aws") in mean:
        wal = mean.get(("iam_user", "wal_put"), 0) + mean.get(("iam_user", "wal_delete"), 0)
        aws = mean[("iam_user", "aws")]
        rest = p50["plugin_creds"] - trip - statistics.median(pooled["kv_write"]) - wal - aws
        say(f"  where an iam_user creds' time goes (means): WAL put {mean.get(('iam_user', 'wal_put'), 0):.2f} ms + "
            f"WAL delete {mean.get(('iam_user', 'wal_delete'), 0):.2f} ms (storage RPCs to the server); "
            f"AWS calls through the SDK {aws:.2f} ms vs {raw_user:.2f} ms raw (SDK and connections: "
            f"{aws - raw_user:+.2f} ms); plugin round trip {trip:.2f} ms and the lease write (~kv write) are in "
            f"the floor; the rest {rest:+.2f} ms (routing, role cache, name template, encoding)")
    if ("assumed_role", "aws") in mean:
        aws = mean[("assumed_role", "aws")]
        rest = p50["plugin_sts"] - trip_write - statistics.median(pooled["kv_write"]) - aws
        say(f"  where an assumed_role's time goes (means): AssumeRole through the SDK {aws:.2f} ms vs "
            f"{raw_assume:.2f} ms raw ({aws - raw_assume:+.2f} ms); the rest {rest:+.2f} ms")


def section_fanout(stack: devstack.Stack, ops: Ops, n: dict, rng: random.Random) -> None:
    """A role with several attachments, each IAM call WAN_DELAY away: the plugin's setup calls
    overlap, the raw floor makes them one by one."""

    rounds = max(5, n["samples"] // 10)
    say(f"\n1b. fan-out -- role with {WAN_POLICIES} policy ARNs + 1 group, {WAN_DELAY * 1000:.0f} ms added "
        f"to every IAM call by the fault proxy; {rounds} rounds interleaved")
    with FaultProxy(stack.moto.endpoint) as proxy:
        proxy.configure(delay={a: WAN_DELAY for a in ("CreateUser", "AttachUserPolicy", "AddUserToGroup",
                                                      "CreateAccessKey")})
        moto_iam = stack.moto.client("iam")
        moto_iam.create_group(GroupName=WAN_GROUP)
        policies = [moto_iam.create_policy(PolicyName=f"bench-wan-{i}", PolicyDocument=POLICY_DOC)["Policy"]["Arn"]
                    for i in range(WAN_POLICIES)]
        devstack.enable(stack.bao, WAN_MOUNT, "aws")
        for path, body in ((f"{WAN_MOUNT}/config/root", {
                "access_key": "testing", "secret_key": "testing", "region": stack.moto.region,
                "iam_endpoint": proxy.url, "sts_endpoint": stack.moto.endpoint}),
                (f"{WAN_MOUNT}/roles/wide", {"credential_type": "iam_user", "policy_arns": policies,
                                             "iam_groups": [WAN_GROUP]})):
            status, out = stack.bao.api("POST", path, body)
            if status not in (200, 204):
                raise SystemExit(f"bench: setup failed: HTTP {status} {out}")
        raw = RawAws(proxy.url, "iam", region=stack.moto.region)

        def plugin_wide() -> None:
            ops._ok(ops.http.get(ops.base + f"{WAN_MOUNT}/creds/wide"), 200)

        def raw_wide() -> None:
            name = f"bench-wan-{uuid.uuid4().hex[:20]}"
            raw.ok("CreateUser", UserName=name, Path="/")
            for arn in policies:
                raw.ok("AttachUserPolicy", UserName=name, PolicyArn=arn)
            raw.ok("AddUserToGroup", UserName=name, GroupName=WAN_GROUP)
            raw.ok("CreateAccessKey", UserName=name)

        plugin_wide(), raw_wide()
        wall, _ = interleave({"plugin_wide": plugin_wide, "raw_wide": raw_wide, "kv_write": ops.kv_write},
                             rounds, rng)
    p50 = {k: statistics.median(v) for k, v in wall.items()}
    floor = p50["raw_wide"] + p50["kv_write"]
    say(f"  {'read benchwan/creds/wide':<44} {ms(p50['plugin_wide'])}  floor {ms(floor)}  = "
        f"{p50['plugin_wide'] / floor:5.2f}x   (no goal; 6 IAM calls, 4 of them side by side in the plugin)")


def section_storage(ops: Ops, n: dict, rng: random.Random, plugin_pid: int) -> None:
    say(f"\n2. storage paths -- {n['storage']} rounds interleaved; the floor is the floor plugin "
        "(examples/floor.rs: this crate's plugin + framework layers, answering from memory)")
    table = {"role_read": ops.role_read, "role_list": ops.role_list,
             "floor_read_A": ops.floor_read, "floor_read_B": ops.floor_read,
             "floor_list_A": ops.floor_list, "floor_list_B": ops.floor_list,
             "kv_read": ops.kv_read, "kv_list": ops.kv_list}
    wall, _ = interleave(table, n["storage"], rng)
    p50 = {k: statistics.median(v) for k, v in wall.items()}
    for mine, floor_op, what in (("role_read", "floor_read", "read bench/roles/iu  vs floor read"),
                                 ("role_list", "floor_list", "list bench/roles    vs floor list")):
        floor = statistics.median(wall[floor_op + "_A"] + wall[floor_op + "_B"])
        fa, fb = p50[floor_op + "_A"], p50[floor_op + "_B"]
        say(ratio_row(what, p50[mine], floor, GOAL_STORAGE))
        say(f"    p95 {ms(pct(wall[mine], 95))} vs {ms(pct(wall[floor_op + '_A'] + wall[floor_op + '_B'], 95))};"
            f"  floor noise: A {ms(fa)}  B {ms(fb)}  spread {abs(fa - fb) / floor * 100:4.1f}%")
    say(f"    for reference, built-in kv-v1: read {ms(p50['kv_read'])}, list {ms(p50['kv_list'])} "
        f"(no plugin protocol: the floor's difference to these is what any external plugin pays)")
    reads = n["storage"] * 3
    u0, s0 = cpu_split(plugin_pid)
    for _ in range(reads):
        ops.role_read()
    u1, s1 = cpu_split(plugin_pid)
    say(f"    plugin CPU per roles read {(u1 - u0 + s1 - s0) / reads * 1000:.2f} ms (user {(u1 - u0) / reads * 1000:.2f},"
        f" kernel {(s1 - s0) / reads * 1000:.2f}; {reads} reads)")


def run_batch(stack: devstack.Stack, role: str, clients: int, per: int,
              mount: str = MOUNT) -> tuple[float, list[float], list[str]]:
    """clients threads x per sequential ``read <mount>/creds/<role>``: (elapsed s, latencies ms, errors)."""
    import requests

    url = stack.bao.addr + f"/v1/{mount}/creds/{role}"
    barrier = threading.Barrier(clients)
    errors: list[str] = []
    lat: list[float] = []
    lock = threading.Lock()

    def worker(_: int) -> None:
        s = requests.Session()
        s.headers["X-Vault-Token"] = stack.bao.token
        barrier.wait()
        for _ in range(per):
            t0 = time.perf_counter()
            try:
                r = s.get(url, timeout=120)
                bad = None if r.status_code == 200 else f"HTTP {r.status_code} {r.text[:200]}"
            except Exception as e:  # noqa: BLE001 -- counted, shown
                bad = repr(e)
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                lat.append(dt)
                if bad:
                    errors.append(bad)
        s.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as ex:
        list(ex.map(worker, range(clients)))
    return time.perf_counter() - t0, lat, errors


def section_concurrency(stack: devstack.Stack, plugin_pid: int, n: dict) -> tuple[int, float]:
    clients, per = n["clients"], n["per_client"]
    total = clients * per
    say(f"\n4. concurrency -- {clients} clients x {per} creds (read {MOUNT}/creds/mass), own Session each")
    pids = {"plugin": plugin_pid, "moto": stack.moto.pid, "bao": stack.bao.pid}
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    split0 = cpu_split(plugin_pid)
    self0 = time.process_time()
    elapsed, lat, errors = run_batch(stack, "mass", clients, per)
    self_cpu = time.process_time() - self0
    split1 = cpu_split(plugin_pid)
    after = {k: cpu_seconds(p) for k, p in pids.items()}
    used = {k: after[k] - before[k] for k in pids}
    share = used["plugin"] / used["moto"] if used["moto"] else float("nan")
    say(f"  {'throughput':<44} {total / elapsed:7.1f} creds/s  ({total} in {elapsed:.2f} s; "
        f"latency p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 95):.1f} ms)")
    say(f"  {'errors':<44} {len(errors):7d}           goal 0         {verdict(not errors)}")
    for e in sorted(set(errors))[:5]:
        say(f"      {e}")
    say(f"  {'plugin CPU vs moto CPU':<44} {used['plugin']:7.2f} s  moto {used['moto']:.2f} s  = "
        f"{share * 100:5.1f}%   goal <= {GOAL_CPU_SHARE * 100:.0f}%  {verdict(share <= GOAL_CPU_SHARE)}")
    say(f"    (bao server {used['bao']:.2f} s, this client {self_cpu:.2f} s; plugin "
        f"{used['plugin'] / total * 1000:.2f} ms CPU per creds, moto {used['moto'] / total * 1000:.2f} ms)")
    say(f"    (plugin user {(split1[0] - split0[0]) / total * 1000:.2f} ms + kernel {(split1[1] - split0[1]) / total * 1000:.2f} ms"
        " per creds: 4 gRPC calls with OpenBao and 3 IAM calls, each IAM call on a new TCP connection"
        " because moto's server closes every connection)")
    return total - len(errors), elapsed


def section_footprint(times: list[float], size_mib: float, rss: dict, counts: dict, errors2: int,
                      n: dict) -> None:
    say("\n3. start-up and footprint (printed after 4: RSS is read after the concurrent batch too)")
    med = statistics.median(times)
    say(f"  {'exec -> handshake line (median of %d)' % len(times):<44} {med:7.2f} ms   "
        f"goal <= {GOAL_HANDSHAKE_MS:g} ms   {verdict(med <= GOAL_HANDSHAKE_MS)}"
        f"   (min {min(times):.2f}, max {max(times):.2f})")
    idle, warm, seq, after, again = rss["idle"], rss["warm"], rss["seq"], rss["after"], rss["again"]
    say(f"  {'idle RSS after Setup':<44} {idle:7.2f} MiB  goal <= {GOAL_RSS_MIB:g} MiB  "
        f"{verdict(idle <= GOAL_RSS_MIB)}   {idle.split()}")
    say(f"  {'':<44} (config/root, config/lease, 4 roles written; file-backed = the binary's code "
        "pages mapped so far + libc)")
    say(f"  {'RSS after warm-up (%d creds)' % counts['warm']:<44} {warm:7.2f} MiB  {warm.split()}")
    say(f"  {'RSS after 1-2 (%d creds, sequential)' % counts['seq']:<44} {seq:7.2f} MiB  {seq.split()}")
    growth = after - warm
    say(f"  {'RSS after %d creds in all (+ section 4)' % counts['total']:<44} {after:7.2f} MiB  {after.split()}")
    say(f"  {'  growth since warm-up':<44} {growth:+7.2f} MiB  goal <= {GOAL_GROWTH_MIB:g} MiB  "
        f"{verdict(growth <= GOAL_GROWTH_MIB)}   (anon {after.anon - warm.anon:+.2f}, "
        f"file-backed {after.file - warm.file:+.2f})")
    say(f"  {'RSS after a 2nd identical batch (mass2)':<44} {again:7.2f} MiB  {again.split()}  "
        f"{again - after:+.2f} MiB more; {errors2} errors")
    say(f"  {'':<44} (flat = the allocator keeping its high-water mark from {n['clients']} requests in "
        "flight; rising = a leak)")
    say(f"  {'release binary size':<44} {size_mib:7.2f} MiB  goal <= {GOAL_SIZE_MIB:g} MiB  "
        f"{verdict(size_mib <= GOAL_SIZE_MIB)}")


def section_revoke(stack: devstack.Stack, ops: Ops, issued: int) -> None:
    say(f"\n5. mass revoke -- revoke-prefix {MOUNT}/creds/mass (sync) of {issued} leases, "
        "beside the least AWS calls that delete as many users made the same way (raw HTTP)")
    s = ops.http
    before = plugin_iam_calls(stack)
    t0 = time.perf_counter()
    r = s.put(stack.bao.addr + f"/v1/sys/leases/revoke-prefix/{MOUNT}/creds/mass", json={"sync": True},
              timeout=1800)
    plugin_s = time.perf_counter() - t0
    calls = plugin_iam_calls(stack) - before
    if r.status_code != 204:
        say(f"  revoke-prefix answered HTTP {r.status_code}: {r.text[:300]}")
    left = s.request("LIST", stack.bao.addr + f"/v1/sys/leases/lookup/{MOUNT}/creds/mass/")
    n_left = len(left.json()["data"]["keys"]) if left.status_code == 200 else 0
    users_left = count_users(ops.raw_iam, "vault-token-mass-")

    # The floor: as many users made the same way, then deleted with the least calls, one after
    # the other (a sync revoke-prefix revokes one lease after the other).
    c0 = time.perf_counter()
    ops.raw_users.clear()
    for _ in range(issued):
        ops.raw_user()
    users = list(ops.raw_users)
    create_s = time.perf_counter() - c0
    t0 = time.perf_counter()
    for name, key in users:
        ops.raw_teardown(name, key)
    raw_s = time.perf_counter() - t0
    # What the server spends per lease on its own (lease lookup, the revoke call to a plugin,
    # deleting the lease): as many no-op leases of the floor plugin, revoked the same way.
    sessions = SessionPerThread(stack.bao.token)
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: sessions.session().get(stack.bao.addr + f"/v1/{FLOOR}/lease/l{i}",
                                                     timeout=60).raise_for_status(), range(issued)))
    t0 = time.perf_counter()
    r = s.put(stack.bao.addr + f"/v1/sys/leases/revoke-prefix/{FLOOR}/lease", json={"sync": True}, timeout=1800)
    server_s = time.perf_counter() - t0
    if r.status_code != 204:
        say(f"  floor revoke-prefix answered HTTP {r.status_code}: {r.text[:300]}")
    floor_s = raw_s + server_s
    r_ = plugin_s / floor_s if floor_s else float("nan")
    say(f"  {'revoke-prefix (sync)':<44} {plugin_s:7.2f} s   floor {floor_s:.2f} s  = {r_:5.2f}x   "
        f"goal <= {GOAL_REVOKE:.1f}x  {verdict(r_ <= GOAL_REVOKE)}")
    say(f"    floor = raw teardown {raw_s:.2f} s (3 calls per user) + the server revoking as many no-op leases "
        f"of the floor plugin {server_s:.2f} s; against the raw teardown alone {plugin_s / raw_s:.2f}x")
    say(f"    per lease {plugin_s / issued * 1000:.1f} ms ({calls / max(issued, 1):.1f} IAM calls) vs "
        f"{floor_s / issued * 1000:.1f} ms; leases left {n_left}, engine users left in moto {users_left}")
    say(f"    (creating the {issued} floor users took {create_s:.2f} s)")


def issue_phases(ops: "Ops") -> dict:
    """{(type, phase): (sum seconds, count)} of the engine's issue phase histogram."""
    r = ops.http.get(ops.base + f"{MOUNT}/metrics", timeout=30)
    out: dict = {}
    for line in r.text.splitlines():
        for suffix, idx in (("_sum{", 0), ("_count{", 1)):
            head = "vault_aws_issue_phase_seconds" + suffix
            if line.startswith(head):
                labels = dict(kv.split("=", 1) for kv in line[len(head):].split("}", 1)[0].split(","))
                key = (labels["type"].strip('"'), labels["phase"].strip('"'))
                cur = list(out.get(key, (0.0, 0)))
                cur[idx] = float(line.rsplit(" ", 1)[1])
                out[key] = tuple(cur)
    return out


def plugin_iam_calls(stack: devstack.Stack) -> int:
    """IAM calls the plugin made so far, from its own metrics."""
    import requests

    r = requests.get(stack.bao.addr + f"/v1/{MOUNT}/metrics", headers={"X-Vault-Token": stack.bao.token},
                     timeout=30)
    total = 0
    for line in r.text.splitlines():
        if line.startswith("vault_aws_api_calls_total{") and 'service="IAM"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def count_users(iam: RawAws, prefix: str) -> int:
    """IAM users whose name starts with ``prefix`` (every page)."""
    n, marker = 0, None
    while True:
        params = {"MaxItems": "1000"}
        if marker:
            params["Marker"] = marker
        body = iam.ok("ListUsers", **params)
        n += body.count(b"<UserName>" + prefix.encode())
        if field(body, "IsTruncated") != "true":
            return n
        marker = field(body, "Marker")


def section_ratelimit(stack: devstack.Stack, n: dict) -> None:
    """IAM at its account rate limit: a token bucket in the fault proxy (rate, burst) answering
    Throttling beyond it, and a round trip of latency on every call."""
    rate, burst, latency = RL_RATE, RL_BURST, RL_LATENCY
    clients, total = n["rl_clients"], n["rl_creds"]
    say(f"\n6. at IAM's rate limit -- fault proxy: {rate:g} calls/s per account (burst {burst:g}), "
        f"{latency * 1000:.0f} ms latency on every call, Throttling beyond the bucket")
    bao = stack.bao
    with FaultProxy(stack.moto.endpoint) as proxy:
        devstack.enable(bao, RL_MOUNT, "aws")
        for path, body in ((f"{RL_MOUNT}/config/root", {
                "access_key": "testing", "secret_key": "testing", "region": stack.moto.region,
                "iam_endpoint": proxy.url, "sts_endpoint": stack.moto.endpoint}),
                (f"{RL_MOUNT}/config/lease", {"lease": "1h", "lease_max": "24h"}),
                (f"{RL_MOUNT}/roles/rl", {"credential_type": "iam_user", "policy_document": POLICY_DOC})):
            status, out = bao.api("POST", path, body)
            if status not in (200, 204):
                raise SystemExit(f"bench: setup failed: HTTP {status} {out}")
        proxy.configure(rate_limit={"rate": rate, "burst": burst, "latency": latency})
        time.sleep(burst / rate)  # a full bucket to start with

        # (a) a burst of issues
        proxy.reset()
        per = max(1, total // clients)
        elapsed, lat, errors = run_batch(stack, "rl", clients, per, mount=RL_MOUNT)
        st = proxy.stats()["rate_limit_stats"]
        issued = clients * per - len(errors)
        report_rate("(a) %d clients, %d iam_user creds" % (clients, clients * per), elapsed, st, rate,
                    f"{len(errors)} failed requests", not errors)
        say(f"      latency p50 {statistics.median(lat) / 1000:.2f} s, p95 {pct(lat, 95) / 1000:.2f} s; "
            f"{(st['allowed'] + st['throttled']) / max(issued, 1):.2f} IAM calls per creds")
        for e in sorted(set(errors))[:3]:
            say(f"      {e}")

        # (b) revoke them all at once, the way an operator does (queued, not -sync)
        proxy.reset()
        before = revocation_errors(stack, RL_MOUNT)
        t0 = time.perf_counter()
        bao.cli("lease", "revoke", "-prefix", f"{RL_MOUNT}/creds/rl", check=True)
        deadline = t0 + 1800
        while time.perf_counter() < deadline:
            status, body = bao.api("LIST", f"sys/leases/lookup/{RL_MOUNT}/creds/rl/")
            if status == 404 or not (body or {}).get("data", {}).get("keys"):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - t0
        st = proxy.stats()["rate_limit_stats"]
        failed = revocation_errors(stack, RL_MOUNT) - before
        left = count_users(RawAws(stack.moto.endpoint, "iam", region=stack.moto.region), "vault-token-rl-")
        report_rate(f"(b) lease revoke -prefix of {issued} leases", elapsed, st, rate,
                    f"{failed} failed revocation attempts, {left} users left", failed == 0 and left == 0)
        proxy.configure(rate_limit=None)


def report_rate(what: str, elapsed: float, st: dict, rate: float, failures: str, ok: bool) -> None:
    calls = st["allowed"] + st["throttled"]
    achieved = st["allowed"] / elapsed if elapsed else float("nan")
    throttled = st["throttled"] / calls if calls else 0.0
    say(f"  {what}: {elapsed:.1f} s")
    say(f"    {'failures':<42} {failures}   goal 0  {verdict(ok)}")
    say(f"    {'IAM calls/s that got through':<42} {achieved:7.2f} = {achieved / rate * 100:5.1f}% of the bucket's "
        f"{rate:g}/s   goal >= {GOAL_RL_SHARE * 100:.0f}%  {verdict(achieved / rate >= GOAL_RL_SHARE)}")
    say(f"    {'throttled answers':<42} {st['throttled']} of {calls} calls = {throttled * 100:5.1f}%   "
        f"goal <= {GOAL_RL_THROTTLED * 100:.0f}%  {verdict(throttled <= GOAL_RL_THROTTLED)}")


def revocation_errors(stack: devstack.Stack, mount: str) -> int:
    """Failed revocations the plugin counted on ``mount`` (each failed attempt once)."""
    import requests

    r = requests.get(stack.bao.addr + f"/v1/{mount}/metrics", headers={"X-Vault-Token": stack.bao.token},
                     timeout=30)
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in r.text.splitlines()
               if line.startswith("vault_aws_revocations_total{") and 'outcome="error"' in line)


def section_scale(binary: Path, n: dict) -> None:
    """Flat as things grow: 50 mounts in one process, 10,000 roles, 2,000 static roles falling
    due together at the rate limit. A stack of its own, so its memory figures start clean."""
    say("\n7. scale -- a stack of its own (raw storage endpoint on, to make static roles fall due)")
    with devstack.start_stack(binary, name="aws", bao_kwargs={
            "log_level": "warn", "log_requests_level": None,
            "extra_config": "raw_storage_endpoint = true\n"},
            moto_kwargs={"load_aws_managed_policies": False}) as stack:
        with FaultProxy(stack.moto.endpoint) as proxy:
            scale_mounts(stack, proxy, n["scale_mounts"])
            scale_roles(stack, n["scale_roles"])
            scale_static(stack, proxy, n["scale_static"])


def configure_mount(stack: devstack.Stack, mount: str, iam_endpoint: str) -> None:
    bao = stack.bao
    devstack.enable(bao, mount, "aws")
    for path, body in ((f"{mount}/config/root", {
            "access_key": "testing", "secret_key": "testing", "region": stack.moto.region,
            "iam_endpoint": iam_endpoint, "sts_endpoint": stack.moto.endpoint}),
            (f"{mount}/config/lease", {"lease": "1h", "lease_max": "24h"}),
            (f"{mount}/roles/r", {"credential_type": "iam_user", "policy_document": POLICY_DOC})):
        status, out = bao.api("POST", path, body)
        if status not in (200, 204):
            raise SystemExit(f"bench: setup failed: HTTP {status} {out}")


def scale_mounts(stack: devstack.Stack, proxy: FaultProxy, count: int) -> None:
    bao = stack.bao

    def mount_one(i: int) -> None:
        configure_mount(stack, f"scale{i}", proxy.url)
        status, out = bao.api("GET", f"scale{i}/creds/r")
        if status != 200:
            raise SystemExit(f"bench: creds on scale{i}: HTTP {status} {out}")

    mount_one(0)
    pid = one_plugin_pid(stack)
    time.sleep(0.5)
    one = rss_mib(pid)
    for i in range(1, count):
        mount_one(i)
    time.sleep(0.5)
    if one_plugin_pid(stack) != pid:
        say("  (the plugin process changed while mounting: figures below are not comparable)")
    many = rss_mib(pid)
    per = (many - one) / max(count - 1, 1)
    say(f"  {'%d mounts in one process (each: config, a role, one creds)' % count:<44} RSS {one:.2f} MiB with 1, "
        f"{many:.2f} MiB with {count}")
    say(f"    {'per extra mount':<42} {per:7.3f} MiB  goal <= {GOAL_PER_MOUNT_MIB:g} MiB  "
        f"{verdict(per <= GOAL_PER_MOUNT_MIB)}   (anon {(many.anon - one.anon) / max(count - 1, 1):.3f})")


def one_plugin_pid(stack: devstack.Stack) -> int:
    pids = stack.plugin_pids()
    if len(pids) != 1:
        raise SystemExit(f"bench: expected one plugin process, found {pids}")
    return pids[0]


def scale_roles(stack: devstack.Stack, count: int) -> None:
    import requests

    bao = stack.bao
    mount, kv = "scaleroles", "kvscale"
    configure_mount(stack, mount, stack.moto.endpoint)
    status, out = bao.api("POST", f"sys/mounts/{kv}", {"type": "kv", "options": {"version": "1"}})
    if status not in (200, 204):
        raise SystemExit(f"bench: kv mount: HTTP {status} {out}")
    body = {"credential_type": "iam_user", "policy_document": POLICY_DOC}
    t0 = time.perf_counter()

    def put(i: int) -> None:
        s = sessions.session()
        for path in (f"{mount}/roles/role-{i:05d}", f"{kv}/role-{i:05d}"):
            r = s.put(f"{bao.addr}/v1/{path}", json=body, timeout=60)
            if r.status_code not in (200, 204):
                raise SystemExit(f"bench: write {path}: HTTP {r.status_code} {r.text[:200]}")

    sessions = SessionPerThread(bao.token)
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(put, range(count)))
    say(f"  {count} roles (and as many kv-v1 keys) written in {time.perf_counter() - t0:.1f} s")
    http = requests.Session()
    http.headers["X-Vault-Token"] = bao.token
    pid = one_plugin_pid(stack)
    idle = rss_mib(pid)

    def listed(path: str) -> None:
        r = http.request("LIST", f"{bao.addr}/v1/{path}", timeout=60)
        if r.status_code != 200 or len(r.json()["data"]["keys"]) < count:
            raise RuntimeError(f"LIST {path}: HTTP {r.status_code}")

    table = {"roles": lambda: listed(f"{mount}/roles"), "kv_A": lambda: listed(f"{kv}/"),
             "kv_B": lambda: listed(f"{kv}/")}
    wall, _ = interleave(table, 30, random.Random(7))
    floor = statistics.median(wall["kv_A"] + wall["kv_B"])
    say(ratio_row(f"list {count} roles vs kv-v1 list of {count} keys", statistics.median(wall["roles"]), floor,
                  GOAL_LIST_10K))
    fa, fb = statistics.median(wall["kv_A"]), statistics.median(wall["kv_B"])
    say(f"    floor noise: A {ms(fa)}  B {ms(fb)}  spread {abs(fa - fb) / floor * 100:4.1f}%")
    t0 = time.perf_counter()
    for i in range(count):
        r = http.get(f"{bao.addr}/v1/{mount}/roles/role-{i:05d}", timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"read role-{i}: HTTP {r.status_code}")
    took = time.perf_counter() - t0
    time.sleep(0.5)
    after = rss_mib(pid)
    say(f"  {'read every role once (%d reads, %.1f s)' % (count, took):<44} RSS {idle:.2f} -> {after:.2f} MiB = "
        f"{after - idle:+.2f} MiB  goal <= +{GOAL_ROLES_RSS_MIB:g} MiB  {verdict(after - idle <= GOAL_ROLES_RSS_MIB)}")


class SessionPerThread:
    """One requests.Session per worker thread, with the token set."""

    def __init__(self, token: str):
        self.token = token
        self.local = threading.local()

    def session(self):
        import requests

        s = getattr(self.local, "s", None)
        if s is None:
            s = self.local.s = requests.Session()
            s.headers["X-Vault-Token"] = self.token
        return s


def scale_static(stack: devstack.Stack, proxy: FaultProxy, count: int) -> None:
    import requests

    bao = stack.bao
    mount = "scalestatic"
    configure_mount(stack, mount, proxy.url)
    raw = RawAws(stack.moto.endpoint, "iam", region=stack.moto.region)
    t0 = time.perf_counter()
    names = [f"static-{i:05d}" for i in range(count)]
    for name in names:
        raw.ok("CreateUser", UserName=name, Path="/")
    sessions = SessionPerThread(bao.token)

    def write(name: str) -> None:
        r = sessions.session().post(f"{bao.addr}/v1/{mount}/static-roles/{name}",
                                    json={"username": name, "rotation_period": "1h"}, timeout=120)
        if r.status_code not in (200, 204):
            raise SystemExit(f"bench: static role {name}: HTTP {r.status_code} {r.text[:200]}")

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(write, names))
    say(f"  {count} static roles created (users, first keys) in {time.perf_counter() - t0:.1f} s")

    # Everything falls due at once, as after an outage: every stored next rotation is put in the
    # past (through the server's raw storage), then the plugin is reloaded and rebuilds its
    # schedule from storage.
    status, mounts = bao.api("GET", "sys/mounts")
    uuid_ = mounts["data"][f"{mount}/"]["uuid"]
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    http = requests.Session()
    http.headers["X-Vault-Token"] = bao.token
    for name in names:
        key = f"{bao.addr}/v1/sys/raw/logical/{uuid_}/static-creds/{name}"
        r = http.get(key, timeout=30)
        if r.status_code != 200:
            raise SystemExit(f"bench: raw read {name}: HTTP {r.status_code} {r.text[:200]}")
        value = json.loads(r.json()["data"]["value"])
        value["expiration"] = past
        w = http.put(key, json={"value": json.dumps(value)}, timeout=30)
        if w.status_code not in (200, 204):
            raise SystemExit(f"bench: raw write {name}: HTTP {w.status_code} {w.text[:200]}")
    proxy.configure(rate_limit={"rate": RL_RATE, "burst": RL_BURST, "latency": RL_LATENCY})
    time.sleep(RL_BURST / RL_RATE)
    proxy.reset()
    t0 = time.perf_counter()
    bao.cli("plugin", "reload", "-plugin=aws", check=True)

    def scrape_value(series: str) -> float:
        try:
            r = http.get(f"{bao.addr}/v1/{mount}/metrics", timeout=30)
        except requests.RequestException:
            return -1.0
        if r.status_code != 200:
            return -1.0
        for line in r.text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    rebuilt = None
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        if scrape_value("vault_aws_static_queue_depth") >= count:
            rebuilt = time.perf_counter() - t0
            break
        time.sleep(0.05)
    say(f"  {'after plugin reload: schedule of %d rebuilt' % count:<44} "
        + (f"{rebuilt:7.2f} s  goal <= {GOAL_REBUILD_S:g} s  {verdict(rebuilt <= GOAL_REBUILD_S)}" if rebuilt
           else "NOT within 120 s"))
    done_series = 'vault_aws_static_rotations_total{outcome="success"}'
    fail_series = 'vault_aws_static_rotations_total{outcome="error"}'
    deadline = time.perf_counter() + 3600
    while time.perf_counter() < deadline and scrape_value(done_series) < count:
        time.sleep(1.0)
    elapsed = time.perf_counter() - t0
    done, failed = scrape_value(done_series), scrape_value(fail_series)
    st = proxy.stats()["rate_limit_stats"]
    needed = st["allowed"]
    bound = needed / RL_RATE
    proxy.configure(rate_limit=None)
    say(f"  all {count} due at once, at the rate limit ({RL_RATE:g}/s, {RL_LATENCY * 1000:.0f} ms latency): "
        f"{done:.0f} rotated, {failed:.0f} failed rotations   goal 0 failed  {verdict(failed == 0 and done >= count)}")
    say(f"    {'last rotation finished after':<42} {elapsed:7.1f} s vs {needed} calls / {RL_RATE:g} per s = "
        f"{bound:.1f} s  = {elapsed / bound:5.2f}x   goal <= {GOAL_STATIC_TIME:.1f}x  "
        f"{verdict(elapsed / bound <= GOAL_STATIC_TIME)}")
    say(f"    ({st['throttled']} throttled answers of {st['allowed'] + st['throttled']} calls)")


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugin", default=str(devstack.default_plugin_binary()),
                    help="plugin binary (default target/release/...; PLUGIN_BINARY overrides)")
    ap.add_argument("--quick", action="store_true", help="small counts: a fast check, not figures to quote")
    ap.add_argument("--server-log-level", default="info",
                    help="bao -log-level (default info; debug adds a completed_request line per request)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated sections to run, e.g. 1,2 or 6 (default: "
                    "1-6; 7 only with --scale or when named here)")
    ap.add_argument("--scale", action="store_true",
                    help="also run section 7 (50 mounts, 10,000 roles, 2,000 static roles; ~15 min)")
    args = ap.parse_args()
    n = QUICK if args.quick else FULL
    binary = Path(args.plugin).resolve()
    if not binary.is_file():
        print(f"bench: {binary} not found; run `make build`", file=sys.stderr)
        return 1
    devstack.handle_sigterm()
    rng = random.Random(args.seed)
    started = time.perf_counter()

    say(f"bench for {binary} ({'quick' if args.quick else 'full'}; {os.cpu_count()} CPUs, "
        f"load avg {os.getloadavg()[0]:.2f}); measures and prints, never asserts")

    # 3a. before any server: exec -> handshake, binary size
    times, _ = figures.measure_handshake(binary, n["launches"])
    size_mib = binary.stat().st_size / MIB

    bao_kwargs = {"log_level": args.server_log_level,
                  "log_requests_level": "debug" if args.server_log_level in ("debug", "trace") else None}
    with devstack.start_stack(binary, name="aws", bao_kwargs=bao_kwargs,
                              moto_kwargs={"load_aws_managed_policies": False}) as stack:
        policy_arn, role_arn = setup(stack)
        pids = stack.plugin_pids()
        if len(pids) != 1:
            raise SystemExit(f"bench: expected one plugin process, found {pids}")
        plugin_pid = pids[0]
        say(f"stack: bao pid {stack.bao.pid} (log level {args.server_log_level}), moto pid {stack.moto.pid}, "
            f"plugin pid {plugin_pid}; bao log {stack.bao.log_path}")
        ops = Ops(stack, policy_arn, role_arn)
        time.sleep(1.0)
        rss = {"idle": rss_mib(plugin_pid)}
        want = (lambda k: k != "7") if not args.only else (lambda k: k in args.only.split(","))

        if want("1") or want("2") or want("3") or want("4") or want("5"):
            # warm-up: creds and sts through the plugin, and every other op a little
            for _ in range(n["warmup"]):
                ops.plugin_creds()
            for _ in range(n["warmup_sts"]):
                ops.plugin_sts()
            for _ in range(20 if not args.quick else 5):
                ops.raw_user(), ops.raw_assume(), ops.kv_write(), ops.kv_read(), ops.role_read()
                ops.floor_read(), ops.floor_list(), ops.kv_list(), ops.role_list()
            time.sleep(0.5)
        rss["warm"] = rss_mib(plugin_pid)
        counts = {"warm": n["warmup"] + n["warmup_sts"]}

        if want("1"):
            section_latency(ops, n, rng, plugin_pid)
            section_fanout(stack, ops, n, rng)
        if want("2"):
            section_storage(ops, n, rng, plugin_pid)
        rss["seq"] = rss_mib(plugin_pid)
        counts["seq"] = counts["warm"] + (2 * n["samples"] if want("1") else 0)
        issued_ok = 0
        if want("4") or want("3") or want("5"):
            issued_ok, _ = section_concurrency(stack, plugin_pid, n)
            time.sleep(0.5)
            rss["after"] = rss_mib(plugin_pid)
            # A second, identical batch (role mass2, not revoked): does RSS keep growing or plateau?
            _, _, errors2 = run_batch(stack, "mass2", n["clients"], n["per_client"])
            time.sleep(0.5)
            rss["again"] = rss_mib(plugin_pid)
            counts["total"] = counts["seq"] + n["clients"] * n["per_client"]
            section_footprint(times, size_mib, rss, counts, len(errors2), n)
        if want("5"):
            section_revoke(stack, ops, issued_ok)
        if want("6"):
            section_ratelimit(stack, n)
        rss_end = rss_mib(plugin_pid)
        say(f"\n  (plugin RSS at the end: {rss_end:.2f} MiB {rss_end.split()})")

    if (args.only and "7" in args.only.split(",")) or (args.scale and not args.only):
        section_scale(binary, n)

    say(f"\nbench took {time.perf_counter() - started:.0f} s; load avg now {os.getloadavg()[0]:.2f} "
        "(anything else running on this machine shows up as noise in every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
