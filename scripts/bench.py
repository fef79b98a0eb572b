#!/usr/bin/env python3
"""Benchmark the plugin against its floors, in ONE run, on one machine. Prints, never asserts.

Everything runs against the same moto and the same OpenBao (``bao server -dev``,
in-memory storage), started here with the release binary registered and
mounted at ``bench/`` next to a kv-v1 mount at ``kv/``.

1. creds latency (sequential, one keep-alive ``requests.Session``):
   ``GET bench/creds/iu`` (iam_user: CreateUser + AttachUserPolicy +
   CreateAccessKey) and ``POST bench/sts/ar`` (assumed_role: AssumeRole), beside
   the floor = the same AWS calls made directly with boto3 (one reused client)
   against the same moto + a kv-v1 write on the same server (its own
   request/storage cost). All operations are interleaved call by call in a
   shuffled order; the floor is measured twice (A, B) to show the machine's noise.
   Goal: p50 <= 1.10x floor.
1b. fan-out (printed, no goal): ``GET benchwan/creds/wide`` for a role with 3 policy
   ARNs and 1 group, on a mount whose IAM endpoint is scripts/faultproxy.py adding
   WAN_DELAY to every call (what a real AWS round trip costs; moto alone is
   CPU-bound and answers overlapping calls one by one), beside boto3 making the
   same 6 calls one after the other through the same proxy + a kv-v1 write.
2. storage paths: ``GET bench/roles/iu`` beside ``GET kv/<key>``. Goal p50 <= 1.05x.
3. start-up and footprint: exec -> handshake line (median, scripts/figures.py),
   plugin RSS (VmRSS, split into anon and file-backed) idle after Setup, after
   a warm-up of creds, after sections 1-2 and after the concurrent batch, then
   after a second identical batch (plateau or leak?); release binary size.
   Goals: <= 10 ms, <= 10 MiB idle, growth after warm-up <= 5 MiB, <= 30 MiB.
4. concurrency: C clients x R creds (own Session each): throughput, errors
   (goal 0), plugin CPU seconds (/proc/<pid>/stat utime+stime) beside moto's
   (goal <= 10%).
5. mass revoke: ``sys/leases/revoke-prefix/bench/creds/mass`` (sync) of the
   batch's leases, beside the same teardown calls made with boto3 against
   users created the same way (sequentially, one user after the other, as the
   server revokes). Goal <= 1.2x.

moto's server closes every connection after one answer (``Connection: close``), so
every AWS call -- the plugin's and boto3's alike -- opens a new TCP connection.
The machine's other load shows up in every figure: the load average is printed
at the start and the end.

Usage: .venv/bin/python scripts/bench.py [--plugin PATH] [--quick] (``make bench``;
``make bench BENCH_ARGS=--quick``). Full: ~3-5 min on 2 cores; --quick: ~20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCOUNT = "123456789012"  # moto's default account
MOUNT = "bench"
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

FULL = dict(launches=20, warmup=100, warmup_sts=20, samples=200, storage=500,
            clients=50, per_client=20)
QUICK = dict(launches=5, warmup=20, warmup_sts=5, samples=30, storage=100,
             clients=10, per_client=10)


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

    def __init__(self, stack: devstack.Stack, iam, sts, iam_no_retry, policy_arn: str, role_arn: str):
        import requests

        self.bao = stack.bao
        self.base = stack.bao.addr + "/v1/"
        self.http = requests.Session()
        self.http.headers["X-Vault-Token"] = stack.bao.token
        self.iam = iam
        self.iam_no_retry = iam_no_retry
        self.sts = sts
        self.policy_arn = policy_arn
        self.role_arn = role_arn
        self.sdk_users: list[str] = []
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

    def kv_read(self) -> None:
        self._ok(self.http.get(self.base + f"{KV}/r"), 200)

    # directly against moto (the floor)
    def sdk_user(self) -> None:
        """What the plugin's iam_user issue sends to AWS for role iu."""
        name = f"bench-sdk-{int(time.time())}-{uuid.uuid4().hex[:20]}"
        self.iam.create_user(UserName=name, Path="/")
        self.iam.attach_user_policy(UserName=name, PolicyArn=self.policy_arn)
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        if not key["AccessKeyId"] or not key["SecretAccessKey"]:
            raise RuntimeError("no key")
        self.sdk_users.append(name)

    def sdk_assume(self) -> None:
        out = self.sts.assume_role(RoleArn=self.role_arn,
                                   RoleSessionName=f"vault-{int(time.time())}-{uuid.uuid4().hex[:20]}"[:32],
                                   DurationSeconds=3600)
        if not out["Credentials"]["SessionToken"]:
            raise RuntimeError("no session token")

    def sdk_teardown(self, name: str) -> None:
        """The calls the plugin's revoke makes for one user (src/aws/iam_user.rs delete_user_paged),
        one after the other; best-effort steps without retries, as the plugin does."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        iam, nr = self.iam, self.iam_no_retry
        keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name, MaxItems=100)["AccessKeyMetadata"]]

        def best_effort(fn, **kw):
            try:
                return fn(**kw)
            except (ClientError, BotoCoreError, ResponseParserError):  # moto: ListServiceSpecificCredentials is a 500
                return None

        best_effort(nr.list_mfa_devices, UserName=name, MaxItems=100)
        best_effort(nr.list_ssh_public_keys, UserName=name, MaxItems=100)
        best_effort(nr.list_signing_certificates, UserName=name, MaxItems=100)
        best_effort(nr.list_service_specific_credentials, UserName=name)
        attached = iam.list_attached_user_policies(UserName=name, MaxItems=100)["AttachedPolicies"]
        inline = iam.list_user_policies(UserName=name, MaxItems=100)["PolicyNames"]
        groups = iam.list_groups_for_user(UserName=name, MaxItems=100)["Groups"]
        for k in keys:
            iam.delete_access_key(UserName=name, AccessKeyId=k)
        best_effort(nr.delete_login_profile, UserName=name)
        for p in attached:
            iam.detach_user_policy(UserName=name, PolicyArn=p["PolicyArn"])
        for p in inline:
            iam.delete_user_policy(UserName=name, PolicyName=p)
        for g in groups:
            iam.remove_user_from_group(UserName=name, GroupName=g["GroupName"])
        iam.delete_user(UserName=name)


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
    return policy_arn, role_arn


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def ms(v: float) -> str:
    return f"{v:7.2f} ms"


def ratio_row(label: str, value: float, floor: float, goal: float) -> str:
    r = value / floor if floor else float("nan")
    return f"  {label:<44} {ms(value)}  floor {ms(floor)}  = {r:5.2f}x   goal <= {goal:.2f}x  {verdict(r <= goal)}"


def section_latency(ops: Ops, n: dict, rng: random.Random) -> None:
    say(f"\n1. creds latency -- {n['samples']} rounds, every op once per round in shuffled order "
        f"(after the warm-up)")
    table = {
        "plugin_creds": ops.plugin_creds,
        "plugin_sts": ops.plugin_sts,
        "sdk_user_A": ops.sdk_user,
        "sdk_user_B": ops.sdk_user,
        "sdk_assume_A": ops.sdk_assume,
        "sdk_assume_B": ops.sdk_assume,
        "kv_write_A": ops.kv_write,
        "kv_write_B": ops.kv_write,
    }
    wall, cpu = interleave(table, n["samples"], rng)
    p50 = {k: statistics.median(v) for k, v in wall.items()}
    p95 = {k: pct(v, 95) for k, v in wall.items()}
    say(f"  {'op':<14} {'p50':>10} {'p95':>10} {'min':>10}   client CPU p50")
    for k in table:
        say(f"  {k:<14} {ms(p50[k]):>10} {ms(p95[k]):>10} {ms(min(wall[k])):>10}   {statistics.median(cpu[k]):6.2f} ms")
    pooled = {base: wall[base + "_A"] + wall[base + "_B"] for base in ("sdk_user", "sdk_assume", "kv_write")}
    for plug, sdk, what in (("plugin_creds", "sdk_user", "read bench/creds/iu (iam_user)"),
                            ("plugin_sts", "sdk_assume", "write bench/sts/ar (assumed_role)")):
        floor50 = statistics.median(pooled[sdk]) + statistics.median(pooled["kv_write"])
        floor95 = pct(pooled[sdk], 95) + pct(pooled["kv_write"], 95)
        say(f"  {what}")
        say(ratio_row("  p50 vs floor p50 (sdk + kv write, A+B)", p50[plug], floor50, GOAL_CREDS))
        say(f"    {'p95 vs floor p95':<42} {ms(p95[plug])}  floor {ms(floor95)}  = {p95[plug] / floor95:5.2f}x   (no goal)")
        fa = p50[sdk + "_A"] + p50["kv_write_A"]
        fb = p50[sdk + "_B"] + p50["kv_write_B"]
        say(f"    floor noise: A {ms(fa)}  B {ms(fb)}  spread {abs(fa - fb) / ((fa + fb) / 2) * 100:4.1f}%"
            f"  -> ratio {p50[plug] / fa:4.2f}x..{p50[plug] / fb:4.2f}x")
    sdk_cpu = statistics.median(cpu["sdk_user_A"] + cpu["sdk_user_B"])
    say(f"  note: boto3 spends ~{sdk_cpu:.1f} ms of client CPU per iam_user floor (3 calls: sign, "
        f"serialize, parse) vs ~{statistics.median(cpu['plugin_creds']):.1f} ms for one requests call; "
        "that is inside the floor and makes it generous.")


def section_fanout(stack: devstack.Stack, ops: Ops, n: dict, rng: random.Random) -> None:
    """A role with several attachments, each IAM call WAN_DELAY away: the plugin's setup calls
    overlap, boto3's floor makes them one by one."""
    import boto3

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
        iam = boto3.client("iam", endpoint_url=proxy.url, region_name=stack.moto.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing")

        def plugin_wide() -> None:
            ops._ok(ops.http.get(ops.base + f"{WAN_MOUNT}/creds/wide"), 200)

        def sdk_wide() -> None:
            name = f"bench-wan-{uuid.uuid4().hex[:20]}"
            iam.create_user(UserName=name, Path="/")
            for arn in policies:
                iam.attach_user_policy(UserName=name, PolicyArn=arn)
            iam.add_user_to_group(UserName=name, GroupName=WAN_GROUP)
            iam.create_access_key(UserName=name)

        plugin_wide(), sdk_wide()
        wall, _ = interleave({"plugin_wide": plugin_wide, "sdk_wide": sdk_wide, "kv_write": ops.kv_write},
                             rounds, rng)
    p50 = {k: statistics.median(v) for k, v in wall.items()}
    floor = p50["sdk_wide"] + p50["kv_write"]
    say(f"  {'read benchwan/creds/wide':<44} {ms(p50['plugin_wide'])}  floor {ms(floor)}  = "
        f"{p50['plugin_wide'] / floor:5.2f}x   (no goal; 6 IAM calls, 4 of them side by side in the plugin)")


def section_storage(ops: Ops, n: dict, rng: random.Random, plugin_pid: int) -> None:
    say(f"\n2. storage paths -- {n['storage']} rounds interleaved")
    wall, _ = interleave({"role_read": ops.role_read, "kv_read_A": ops.kv_read, "kv_read_B": ops.kv_read},
                         n["storage"], rng)
    p50 = {k: statistics.median(v) for k, v in wall.items()}
    floor = statistics.median(wall["kv_read_A"] + wall["kv_read_B"])
    say(ratio_row("read bench/roles/iu  vs kv-v1 read", p50["role_read"], floor, GOAL_STORAGE))
    say(f"    p95 {ms(pct(wall['role_read'], 95))} vs {ms(pct(wall['kv_read_A'] + wall['kv_read_B'], 95))};"
        f"  floor noise: A {ms(p50['kv_read_A'])}  B {ms(p50['kv_read_B'])}"
        f"  spread {abs(p50['kv_read_A'] - p50['kv_read_B']) / floor * 100:4.1f}%")
    reads = n["storage"] * 3
    u0, s0 = cpu_split(plugin_pid)
    for _ in range(reads):
        ops.role_read()
    u1, s1 = cpu_split(plugin_pid)
    say(f"    plugin CPU per roles read {(u1 - u0 + s1 - s0) / reads * 1000:.2f} ms (user {(u1 - u0) / reads * 1000:.2f},"
        f" kernel {(s1 - s0) / reads * 1000:.2f}; {reads} reads, no storage call: roles are cached)")
    say("    why the gap: OpenBao sends each request to an external plugin as two gRPC calls over mTLS"
        " (resolve-path, then the read), each answered by the plugin and each followed by grpc-go's"
        " flow-control ping; the kv read is served inside the server with none of that")


def run_batch(stack: devstack.Stack, role: str, clients: int, per: int) -> tuple[float, list[float], list[str]]:
    """clients threads x per sequential ``read <mount>/creds/<role>``: (elapsed s, latencies ms, errors)."""
    import requests

    url = stack.bao.addr + f"/v1/{MOUNT}/creds/{role}"
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


def section_revoke(stack: devstack.Stack, ops: Ops, issued: int) -> None:
    say(f"\n5. mass revoke -- revoke-prefix {MOUNT}/creds/mass (sync) of {issued} leases, "
        "beside boto3 teardown of as many users")
    s = ops.http
    t0 = time.perf_counter()
    r = s.put(stack.bao.addr + f"/v1/sys/leases/revoke-prefix/{MOUNT}/creds/mass", json={"sync": True},
              timeout=1800)
    plugin_s = time.perf_counter() - t0
    if r.status_code != 204:
        say(f"  revoke-prefix answered HTTP {r.status_code}: {r.text[:300]}")
    left = s.request("LIST", stack.bao.addr + f"/v1/sys/leases/lookup/{MOUNT}/creds/mass/")
    n_left = len(left.json()["data"]["keys"]) if left.status_code == 200 else 0
    prefix = "vault-token-mass-"
    users_left = sum(1 for page in ops.iam.get_paginator("list_users").paginate()
                     for u in page["Users"] if u["UserName"].startswith(prefix))

    # The floor: as many users made the same way, then torn down with the same calls, in sequence.
    c0 = time.perf_counter()
    ops.sdk_users.clear()
    for _ in range(issued):
        ops.sdk_user()
    names = list(ops.sdk_users)
    create_s = time.perf_counter() - c0
    t0 = time.perf_counter()
    c0 = time.process_time()
    for name in names:
        ops.sdk_teardown(name)
    sdk_s = time.perf_counter() - t0
    sdk_cpu = time.process_time() - c0
    r_ = plugin_s / sdk_s if sdk_s else float("nan")
    say(f"  {'revoke-prefix (sync)':<44} {plugin_s:7.2f} s   boto3 {sdk_s:.2f} s  = {r_:5.2f}x   "
        f"goal <= {GOAL_REVOKE:.1f}x  {verdict(r_ <= GOAL_REVOKE)}")
    say(f"    per lease {plugin_s / issued * 1000:.1f} ms vs {sdk_s / issued * 1000:.1f} ms per user "
        f"(12 IAM calls); leases left {n_left}, engine users left in moto {users_left}")
    say(f"    (boto3's own client CPU was {sdk_cpu:.2f} s of the {sdk_s:.2f} s: the plugin runs the 7 lists "
        "and the deletes concurrently, boto3 here one call after the other)")
    say(f"    (creating the {issued} floor users with boto3 took {create_s:.2f} s)")


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugin", default=str(devstack.default_plugin_binary()),
                    help="plugin binary (default target/release/...; PLUGIN_BINARY overrides)")
    ap.add_argument("--quick", action="store_true", help="small counts: a fast check, not figures to quote")
    ap.add_argument("--server-log-level", default="info",
                    help="bao -log-level (default info; debug adds a completed_request line per request)")
    ap.add_argument("--seed", type=int, default=1)
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
        from botocore.config import Config

        iam = stack.moto.client("iam")
        sts = stack.moto.client("sts")
        iam_nr = stack.moto.client("iam", config=Config(retries={"mode": "standard", "max_attempts": 1}))
        ops = Ops(stack, iam, sts, iam_nr, policy_arn, role_arn)
        time.sleep(1.0)
        rss_idle = rss_mib(plugin_pid)

        # warm-up: creds and sts through the plugin, and every other op a little
        for _ in range(n["warmup"]):
            ops.plugin_creds()
        for _ in range(n["warmup_sts"]):
            ops.plugin_sts()
        for _ in range(20 if not args.quick else 5):
            ops.sdk_user(), ops.sdk_assume(), ops.kv_write(), ops.kv_read(), ops.role_read()
        time.sleep(0.5)
        rss_warm = rss_mib(plugin_pid)
        issued_warm = n["warmup"] + n["warmup_sts"]

        section_latency(ops, n, rng)
        section_fanout(stack, ops, n, rng)
        section_storage(ops, n, rng, plugin_pid)
        rss_seq = rss_mib(plugin_pid)
        issued_seq = issued_warm + 2 * n["samples"]
        issued_ok, _ = section_concurrency(stack, plugin_pid, n)
        time.sleep(0.5)
        rss_after = rss_mib(plugin_pid)
        # A second, identical batch (role mass2, not revoked): does RSS keep growing or plateau?
        _, _, errors2 = run_batch(stack, "mass2", n["clients"], n["per_client"])
        time.sleep(0.5)
        rss_again = rss_mib(plugin_pid)
        issued_total = issued_seq + n["clients"] * n["per_client"]

        say("\n3. start-up and footprint (printed after 4: RSS is read after the concurrent batch too)")
        med = statistics.median(times)
        say(f"  {'exec -> handshake line (median of %d)' % len(times):<44} {med:7.2f} ms   "
            f"goal <= {GOAL_HANDSHAKE_MS:g} ms   {verdict(med <= GOAL_HANDSHAKE_MS)}"
            f"   (min {min(times):.2f}, max {max(times):.2f})")
        say(f"  {'idle RSS after Setup':<44} {rss_idle:7.2f} MiB  goal <= {GOAL_RSS_MIB:g} MiB  "
            f"{verdict(rss_idle <= GOAL_RSS_MIB)}   {rss_idle.split()}")
        say(f"  {'':<44} (config/root, config/lease, 3 roles written; file-backed = the binary's code "
            "pages mapped so far + libc)")
        say(f"  {'RSS after warm-up (%d creds)' % issued_warm:<44} {rss_warm:7.2f} MiB  {rss_warm.split()}")
        say(f"  {'RSS after 1-2 (%d creds, sequential)' % issued_seq:<44} {rss_seq:7.2f} MiB  "
            f"{rss_seq.split()}")
        growth = rss_after - rss_warm
        say(f"  {'RSS after %d creds in all (+ section 4)' % issued_total:<44} {rss_after:7.2f} MiB  "
            f"{rss_after.split()}")
        say(f"  {'  growth since warm-up':<44} {growth:+7.2f} MiB  goal <= {GOAL_GROWTH_MIB:g} MiB  "
            f"{verdict(growth <= GOAL_GROWTH_MIB)}   (anon {rss_after.anon - rss_warm.anon:+.2f}, "
            f"file-backed {rss_after.file - rss_warm.file:+.2f})")
        say(f"  {'RSS after a 2nd identical batch (mass2)':<44} {rss_again:7.2f} MiB  {rss_again.split()}  "
            f"{rss_again - rss_after:+.2f} MiB more; {len(errors2)} errors")
        say(f"  {'':<44} (flat = the allocator keeping its high-water mark from {n['clients']} requests in "
            "flight; rising = a leak)")
        say(f"  {'release binary size':<44} {size_mib:7.2f} MiB  goal <= {GOAL_SIZE_MIB:g} MiB  "
            f"{verdict(size_mib <= GOAL_SIZE_MIB)}")

        section_revoke(stack, ops, issued_ok)
        rss_end = rss_mib(plugin_pid)
        say(f"\n  (plugin RSS after the mass revoke: {rss_end:.2f} MiB {rss_end.split()})")

    say(f"\nbench took {time.perf_counter() - started:.0f} s; load avg now {os.getloadavg()[0]:.2f} "
        "(anything else running on this machine shows up as noise in every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
