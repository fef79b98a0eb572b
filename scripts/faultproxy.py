#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for AWS query APIs (IAM, STS), in front of moto.

Stdlib only (``http.server.ThreadingHTTPServer``). The plugin's ``config/root``
points ``iam_endpoint``/``sts_endpoint`` at the proxy; the proxy forwards every
request to the upstream (moto) unless the fault dice say otherwise. Used by
``scripts/soak.py``.

Faults (``modes``), one of them picked at random for a ``fraction`` of calls:

* ``500``        -- HTTP 500, AWS XML error ``InternalFailure`` (not forwarded)
* ``503``        -- HTTP 503, AWS XML error ``ServiceUnavailable`` (not forwarded)
* ``throttle``   -- HTTP 400, AWS XML error ``<Code>Throttling</Code>`` (not forwarded)
* ``slow``       -- forwarded (so AWS *did* apply it), answer held back for
                    ``slow_seconds`` (default 35 s, past the plugin's 30 s read
                    timeout): the client sees a timeout although the call happened
* ``slow_before``-- held back ``slow_seconds`` *before* being forwarded: the client
                    times out, the call reaches AWS late (after the client gave up)
* ``drop``       -- connection closed without an answer (not forwarded)
* ``drop_after`` -- forwarded, then the connection is closed without an answer
* ``missing_user``-- HTTP 404, ``NoSuchEntity`` "The user with name X cannot be found."
                    for the request's UserName (not forwarded): IAM's answer while a
                    user created a moment ago is not visible yet (not in the default mix)

``rate_limit`` (null = off) makes the proxy behave like IAM under load: ``{"rate": 20, "burst": 20,
"latency": 0.03, "per": "account"}`` keeps one token bucket (``rate`` calls/s, ``burst`` deep) per
account -- the access key's account as moto sees it, so every key of one moto account shares it;
``"per": "key"`` keys it by access key id instead -- and answers ``Throttling: Rate exceeded``
(HTTP 400, not forwarded) when the bucket is empty; every call, throttled or not, is answered
``latency`` seconds later than it would be (a real AWS round trip). Counted per Action under
``faults.rate_limited``, and in all under ``rate_limit_stats`` (``allowed``, ``throttled``).

Besides the dice, ``delay`` = ``{"Action": seconds}`` holds back every call of
that action before forwarding it (no fault; used to make a ``kill -9`` land
mid-issue); ``budget`` (an int, or null for no limit) is how many more faults may be
injected, so ``fraction=1, budget=1, actions=["CreateUser"]`` hits exactly the next
CreateUser and not its retry; and ``stub`` = ``{"Action": [status, body]}`` answers an action
itself without asking upstream. ``actions`` (a list) limits the dice to those
AWS actions (default: every action).

Control endpoint (same port, a path AWS never uses):

* ``GET  /__fault/stats``   -- JSON: config, per-Action counters, ``in_flight_peak`` (the most
                               AWS calls the proxy held at once since the last reset)
* ``POST /__fault/config``  -- JSON body merged into the config (fraction, modes,
                               slow_seconds, actions, delay, stub, seed, track_users,
                               budget)
* ``POST /__fault/reset``   -- zero the counters

Per-Action counters: ``calls``, ``forwarded``, ``faults`` (by mode),
``upstream`` (by HTTP status), ``delayed``, ``stubbed``, ``client_gone`` (the
answer could not be written: the client had given up). ``track_users`` (a list of
IAM user names) adds per-user counters by Action under ``users`` in the stats.

CLI: ``python scripts/faultproxy.py --upstream http://127.0.0.1:5000 --port 0
--fraction 0.1 --seed 1`` prints ``listening on http://127.0.0.1:<port>``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

ALL_MODES = ("500", "503", "throttle", "slow", "slow_before", "drop", "drop_after", "missing_user")
DEFAULT_MODES = ("500", "503", "throttle", "slow", "drop", "drop_after")
CONTROL = "/__fault/"

_ERRORS = {
    "500": (500, "Receiver", "InternalFailure", "fault proxy: injected internal failure"),
    "503": (503, "Receiver", "ServiceUnavailable", "fault proxy: injected service unavailable"),
    "throttle": (400, "Sender", "Throttling", "Rate exceeded"),
}


def _access_key(headers) -> str:
    """The access key id of a SigV4 request (``Credential=AKIA.../...``), ``""`` if unsigned."""
    auth = headers.get("Authorization", "") or ""
    marker = "Credential="
    if marker not in auth:
        return ""
    return auth.split(marker, 1)[1].split("/", 1)[0]


def aws_error_xml(kind: str, code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def _params_of(path: str, body: bytes) -> dict:
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if body:
        try:
            for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items():
                params.setdefault(k, v)
        except ValueError:
            pass
    return {k: v[0] for k, v in params.items()}


class FaultProxy:
    """The proxy; ``start()`` serves in a daemon thread, ``url`` is where to point clients."""

    def __init__(self, upstream: str, port: int = 0, host: str = "127.0.0.1", seed: int = 0,
                 fraction: float = 0.0, modes: tuple = DEFAULT_MODES, slow_seconds: float = 35.0,
                 upstream_timeout: float = 120.0):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = u.hostname
        self.upstream_port = u.port or 80
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.config: dict[str, Any] = {
            "fraction": float(fraction),
            "modes": list(modes),
            "slow_seconds": float(slow_seconds),
            "actions": None,
            "delay": {},
            "stub": {},
            "seed": seed,
            "track_users": [],
            "budget": None,
            "rate_limit": None,
        }
        self._buckets: dict[str, list] = {}
        self._rl = {"allowed": 0, "throttled": 0}
        self._counters: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, int]] = {}
        self._in_flight = 0
        self._peak = 0
        self._stop = threading.Event()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes held-back answers
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- configuration and counters -----------------------------------------

    def configure(self, **changes: Any) -> dict:
        with self._lock:
            for k, v in changes.items():
                if k not in self.config:
                    raise ValueError(f"unknown fault setting {k!r}")
                if k == "modes":
                    bad = [m for m in v if m not in ALL_MODES]
                    if bad or not v:
                        raise ValueError(f"unknown fault modes {bad} (known: {', '.join(ALL_MODES)})")
                    v = list(v)
                if k == "fraction":
                    v = float(v)
                    if not 0.0 <= v <= 1.0:
                        raise ValueError("fraction must be within [0, 1]")
                if k == "seed":
                    self._rng = random.Random(v)
                self.config[k] = v
            return json.loads(json.dumps(self.config))

    def quiet(self) -> None:
        """No faults, delays, stubs or rate limit, and counters zeroed: a test's clean start."""
        self.configure(fraction=0.0, budget=None, actions=None, modes=["500"], delay={}, stub={},
                       rate_limit=None)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counters = {}
            self._users = {}
            self._peak = self._in_flight
            self._rl = {"allowed": 0, "throttled": 0}

    def stats(self) -> dict:
        with self._lock:
            return {"config": json.loads(json.dumps(self.config)),
                    "actions": json.loads(json.dumps(self._counters)),
                    "users": json.loads(json.dumps(self._users)),
                    "in_flight_peak": self._peak,
                    "rate_limit_stats": dict(self._rl)}

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_user(self, user: str, action: str) -> None:
        with self._lock:
            if user in self.config["track_users"]:
                u = self._users.setdefault(user, {})
                u[action] = u.get(action, 0) + 1

    def _count(self, action: str, key: str, sub: Optional[str] = None) -> None:
        with self._lock:
            c = self._counters.setdefault(action, {"calls": 0, "forwarded": 0, "faults": {}, "upstream": {},
                                                   "delayed": 0, "stubbed": 0, "client_gone": 0})
            if sub is None:
                c[key] += 1
            else:
                c[key][sub] = c[key].get(sub, 0) + 1

    def _decide(self, action: str) -> Optional[str]:
        with self._lock:
            cfg = self.config
            if cfg["actions"] is not None and action not in cfg["actions"]:
                return None
            if cfg["budget"] is not None and cfg["budget"] <= 0:
                return None
            if cfg["fraction"] <= 0 or self._rng.random() >= cfg["fraction"]:
                return None
            if cfg["budget"] is not None:
                cfg["budget"] -= 1
            return self._rng.choice(cfg["modes"])

    def _rate_limited(self, headers: dict) -> Optional[bool]:
        """None when the rate limit is off; else whether this call finds its bucket empty."""
        with self._lock:
            rl = self.config["rate_limit"]
            if not rl:
                return None
            rate, burst = float(rl.get("rate", 20)), float(rl.get("burst", 20))
            key = _access_key(headers)
            if rl.get("per", "account") == "account":
                key = "account"  # moto serves every access key from one default account here
            now = time.monotonic()
            tokens, last = self._buckets.get(key, [burst, now])
            tokens = min(burst, tokens + (now - last) * rate)
            limited = tokens < 1.0
            if not limited:
                tokens -= 1.0
            self._buckets[key] = [tokens, now]
            self._rl["throttled" if limited else "allowed"] += 1
            return limited

    def _latency(self) -> float:
        with self._lock:
            rl = self.config["rate_limit"]
            return float(rl.get("latency", 0.03)) if rl else 0.0

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # -- upstream -------------------------------------------------------------

    def forward(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=self.upstream_timeout)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, r.getheaders(), data
        finally:
            conn.close()


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length"}


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints do
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK
    # would add ~40 ms to every answer
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _reply(self, status: int, body: bytes, headers: Optional[list] = None,
               content_type: str = "text/xml") -> None:
        self.send_response(status)
        sent_type = False
        for k, v in headers or []:
            if k.lower() in _HOP:
                continue
            if k.lower() == "content-type":
                sent_type = True
            if k.lower() in ("server", "date"):
                continue
            self.send_header(k, v)
        if not sent_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _control(self, body: bytes) -> None:
        p = self.owner
        what = self.path[len(CONTROL):].split("?", 1)[0].strip("/")
        try:
            if what == "stats" and self.command == "GET":
                out = p.stats()
            elif what == "config" and self.command in ("POST", "PUT"):
                out = p.configure(**json.loads(body or b"{}"))
            elif what == "config" and self.command == "GET":
                out = p.stats()["config"]
            elif what == "reset" and self.command == "POST":
                p.reset()
                out = {"reset": True}
            else:
                self._reply(404, json.dumps({"error": f"no control {self.command} {what}"}).encode(),
                            content_type="application/json")
                return
        except (ValueError, TypeError) as e:
            self._reply(400, json.dumps({"error": str(e)}).encode(), content_type="application/json")
            return
        self._reply(200, json.dumps(out).encode(), content_type="application/json")

    def _handle(self) -> None:
        body = self._body()
        if self.path.startswith(CONTROL):
            self._control(body)
            return
        p = self.owner
        params = _params_of(self.path, body)
        action = params.get("Action", "?")
        p._count(action, "calls")
        if params.get("UserName"):
            p._count_user(params["UserName"], action)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        with p._lock:
            delay = float(p.config["delay"].get(action, 0) or 0)
            stub = p.config["stub"].get(action)
            slow = p.config["slow_seconds"]
        mode = p._decide(action)
        limited = p._rate_limited(self.headers)
        latency = p._latency()
        p._enter()
        counted = True

        def answered() -> None:
            """Counts the call out just before its answer goes, so the caller's next call never
            overlaps it in ``in_flight_peak``."""
            nonlocal counted
            if counted:
                counted = False
                p._leave()

        try:
            if latency > 0:
                p._sleep(latency)
            if limited:
                p._count(action, "faults", "rate_limited")
                answered()
                self._reply(400, aws_error_xml("Sender", "Throttling", "Rate exceeded"))
                return
            if mode is not None:
                p._count(action, "faults", mode)
            if mode in _ERRORS:
                status, kind, code, msg = _ERRORS[mode]
                answered()
                self._reply(status, aws_error_xml(kind, code, msg))
                return
            if mode == "drop":
                answered()
                self._drop()
                return
            if mode == "missing_user":
                name = params.get("UserName", "")
                answered()
                self._reply(404, aws_error_xml("Sender", "NoSuchEntity", f"The user with name {name} cannot be found."))
                return
            if mode == "slow_before":
                p._sleep(slow)
            if delay > 0:
                p._count(action, "delayed")
                p._sleep(delay)
            if stub is not None:
                p._count(action, "stubbed")
                answered()
                self._reply(int(stub[0]), str(stub[1]).encode())
                return
            try:
                status, rheaders, data = p.forward(self.command, self.path, headers, body)
            except OSError as e:
                p._count(action, "upstream", "unreachable")
                answered()
                self._reply(502, aws_error_xml("Receiver", "ProxyUpstreamError", f"fault proxy: {e}"))
                return
            p._count(action, "forwarded")
            p._count(action, "upstream", str(status))
            if mode == "drop_after":
                answered()
                self._drop()
                return
            if mode == "slow":
                p._sleep(slow)
            answered()
            self._reply(status, data, rheaders)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            p._count(action, "client_gone")
            self.close_connection = True
        finally:
            answered()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


# --------------------------------------------------------------------------
# Client helpers for the control endpoint
# --------------------------------------------------------------------------


def control(url: str, what: str, data: Optional[dict] = None, timeout: float = 10.0) -> dict:
    """``control(proxy_url, "stats")`` / ``control(url, "config", {"fraction": 0.1})``."""
    import urllib.request

    body = None if data is None else json.dumps(data).encode()
    method = "GET" if data is None and what == "stats" else "POST"
    req = urllib.request.Request(f"{url}{CONTROL}{what}", data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5000 (moto)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fraction", type=float, default=0.0)
    ap.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma list of {', '.join(ALL_MODES)}")
    ap.add_argument("--slow-seconds", type=float, default=35.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    proxy = FaultProxy(a.upstream, a.port, a.host, a.seed, a.fraction, tuple(a.modes.split(",")), a.slow_seconds)
    proxy.start()
    print(f"listening on {proxy.url} -> upstream http://{proxy.upstream_host}:{proxy.upstream_port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
