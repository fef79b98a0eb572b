#!/usr/bin/env python3
"""The cheapest AWS client: query-API calls as plain HTTP requests, signed with SigV4 by hand.

Used by ``scripts/bench.py`` as the floor of issuing and revoking: the same IAM/STS calls the
engine makes, without an SDK (boto3 spends several milliseconds of Python per call, which would
flatter the engine). Stdlib only; one ``http.client`` connection per client, reopened whenever
the server closes it (moto's server closes after every answer, as the engine's SDK sees too).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import re
import urllib.parse
from typing import Optional

VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15"}


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class RawAws:
    """``RawAws(endpoint, "iam").call("CreateUser", UserName="x")`` -> (status, body bytes)."""

    def __init__(self, endpoint: str, service: str, access_key: str = "testing",
                 secret_key: str = "testing", region: str = "us-east-1", timeout: float = 30.0):
        u = urllib.parse.urlsplit(endpoint)
        self.host = u.netloc
        self.service = service
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            k = _hmac(("AWS4" + self.secret_key).encode(), day)
            k = _hmac(k, self.region)
            k = _hmac(k, self.service)
            key = self._keys[day] = _hmac(k, "aws4_request")
        return key

    def _headers(self, body: bytes) -> dict:
        now = datetime.datetime.now(datetime.timezone.utc)
        amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload = hashlib.sha256(body).hexdigest()
        ctype = "application/x-www-form-urlencoded; charset=utf-8"
        canonical = "\n".join([
            "POST", "/", "",
            f"content-type:{ctype}", f"host:{self.host}", f"x-amz-date:{amz}", "",
            "content-type;host;x-amz-date", payload])
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        sig = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": ctype,
            "X-Amz-Date": amz,
            "Authorization": (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                              f"SignedHeaders=content-type;host;x-amz-date, Signature={sig}"),
        }

    def call(self, action: str, **params: str) -> tuple[int, bytes]:
        body = urllib.parse.urlencode({"Action": action, "Version": VERSIONS[self.service], **params}).encode()
        headers = self._headers(body)
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, timeout=self.timeout)
            try:
                self.conn.request("POST", "/", body, headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close" or r.will_close:
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def ok(self, action: str, **params: str) -> bytes:
        status, data = self.call(action, **params)
        if status != 200:
            raise RuntimeError(f"{action}: HTTP {status} {data[:300]!r}")
        return data


def field(xml: bytes, tag: str) -> str:
    m = re.search(rb"<" + tag.encode() + rb">([^<]*)</" + tag.encode() + rb">", xml)
    return m.group(1).decode() if m else ""
