"""A plugin upgrade as operators run it, under client traffic (scripts/soak.py section h).

The steps (README "Upgrade"):

    bao plugin register -sha256=<new sum> -command=<new file> -version=<new> secret <name>
    bao secrets tune -plugin-version=<new> <mount>
    bao plugin reload -plugin=<name>

The second binary is the same build with another version stamped into it
(scripts/stamp_version.py): it reports a different version and has another SHA-256, which
is all the server sees of an upgrade. ``--to PATH`` in the soak takes any other build instead.

``Traffic`` sends a mix of ``creds`` (iam_user), ``sts`` (assumed_role) and revokes from a few
threads at a fixed rate; each operation may fail once and is then retried once, as a client
would; what failed and why is kept.
"""

from __future__ import annotations

import datetime
import random
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import stamp_version

WEIGHTS = (("creds", 4), ("sts", 4), ("revoke", 2))


def reported_version(binary: Path) -> str:
    """What ``binary -version`` prints last (``vault-plugin-secrets-aws v0.1.0`` -> ``v0.1.0``)."""
    out = subprocess.run([str(binary), "-version"], capture_output=True, text=True, timeout=10)
    return out.stdout.split()[-1]


def next_version(version: str, tag: str) -> str:
    """``v0.1.0`` -> ``v0.1.1-<tag>``: a higher semantic version for the upgrade."""
    core = version.lstrip("v").split("-")[0].split("+")[0]
    major, minor, patch = (int(x) for x in core.split("."))
    return f"v{major}.{minor}.{patch + 1}-{tag}"


def install_stamped(binary: Path, plugin_dir: Path, version: str) -> Path:
    """The binary stamped with ``version``, as its own file in the plugin directory (the old
    version's registration still names the old file, whose SHA-256 must keep matching)."""
    dest = Path(plugin_dir).resolve() / f"vault-plugin-secrets-aws-{version}"
    return stamp_version.stamp(Path(binary), dest, version)


def upgrade(cli: Callable[..., subprocess.CompletedProcess], name: str, mounts: list[str],
            installed: Path, version: str, sha256: str) -> dict[str, Any]:
    """register -version, tune every mount, reload; returns each step's seconds and output."""
    steps: dict[str, Any] = {}

    def step(key: str, *args: str) -> None:
        t = time.monotonic()
        res = cli(*args)
        steps[key] = round(time.monotonic() - t, 3)
        if res.returncode != 0:
            raise RuntimeError(f"bao {' '.join(args)} failed: {res.stdout}{res.stderr}")

    step("register_s", "plugin", "register", f"-sha256={sha256}", f"-command={installed.name}",
         f"-version={version}", "secret", name)
    for m in mounts:
        step(f"tune_{m}_s", "secrets", "tune", f"-plugin-version={version}", m)
    step("reload_s", "plugin", "reload", f"-plugin={name}")
    return steps


def shutdown_to_exit_ms(log: str, name: str) -> Optional[float]:
    """From the server's log: the plugin's "shutdown requested by the server" line to the
    server's "plugin process exited" line of the same plugin (debug log level)."""
    def at(line: str) -> float:
        return datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
    asked = re.search(rf"^\S+ \[DEBUG\] secrets\.{re.escape(name)}\.\S+: shutdown requested by the server.*$",
                      log, re.M)
    if asked is None:
        return None
    gone = re.search(rf"^\S+ \[INFO\]  secrets\.{re.escape(name)}\.\S+: plugin process exited.*$",
                     log[asked.end():], re.M)
    if gone is None:
        return None
    return round((at(gone.group(0)) - at(asked.group(0))) * 1000, 1)


class Traffic:
    """Mixed creds/sts/revoke at about ``rate`` operations a second from ``threads`` threads."""

    def __init__(self, api: Callable[..., tuple[int, Any]], mount: str, iam_role: str, sts_role: str,
                 rate: float = 10.0, threads: int = 4, seed: int = 1):
        self.api, self.mount, self.iam_role, self.sts_role = api, mount, iam_role, sts_role
        self.interval = threads / rate
        self.threads = threads
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.leases: list[tuple[str, float]] = []  # iam_user leases not revoked: (id, issued at)
        self.ops: list[dict[str, Any]] = []
        self._workers: list[threading.Thread] = []

    def _once(self, kind: str, lease: Optional[str]) -> tuple[int, Any]:
        if kind == "creds":
            return self.api("GET", f"{self.mount}/creds/{self.iam_role}")
        if kind == "sts":
            return self.api("POST", f"{self.mount}/sts/{self.sts_role}", {"ttl": "15m"})
        return self.api("PUT", "sys/leases/revoke", {"lease_id": lease, "sync": True})

    def _op(self) -> None:
        with self.lock:
            kind = self.rng.choices([k for k, _ in WEIGHTS], [w for _, w in WEIGHTS])[0]
            lease = None
            if kind == "revoke":
                if not self.leases:
                    kind = "creds"
                else:
                    lease = self.leases.pop(self.rng.randrange(len(self.leases)))[0]
        t0 = time.time()
        errors = []
        for _attempt in range(2):
            status, body = self._once(kind, lease)
            good = status in (200, 204) and (kind == "revoke" or (isinstance(body, dict) and body.get("lease_id")))
            if good:
                break
            errors.append(f"HTTP {status}: {body}"[:300])
        with self.lock:
            self.ops.append(dict(kind=kind, at=t0, seconds=time.time() - t0, errors=errors, ok=good))
            if good and kind == "creds":
                self.leases.append((body["lease_id"], t0))

    def _worker(self) -> None:
        nxt = time.monotonic()
        while not self.stop.is_set():
            try:
                self._op()
            except Exception as e:  # a bug in the traffic itself: counted, never silent
                with self.lock:
                    self.ops.append(dict(kind="crash", at=time.time(), seconds=0, errors=[repr(e)], ok=False))
            nxt += self.interval
            self.stop.wait(max(0.0, nxt - time.monotonic()))

    def start(self) -> "Traffic":
        for i in range(self.threads):
            t = threading.Thread(target=self._worker, name=f"traffic-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(120)

    def summary(self, since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
        ops = [o for o in self.ops if since <= o["at"] <= until]
        return dict(
            total=len(ops),
            by_kind={k: sum(1 for o in ops if o["kind"] == k) for k, _ in WEIGHTS},
            failed_once=sum(1 for o in ops if o["ok"] and o["errors"]),
            failed_twice=sum(1 for o in ops if not o["ok"]),
            errors=[e for o in ops for e in o["errors"]][:10],
            worst_seconds=round(max((o["seconds"] for o in ops), default=0.0), 3),
        )
