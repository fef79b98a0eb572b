"""STS credential types end to end: real OpenBao + moto + the release binary.

Contract: Vault's AWS engine (builtin/logical/aws: path_roles.go's STS fields,
path_user.go, secret_access_keys.go, client.go's STS endpoint selection), answering
both ``session_token`` and ``security_token``. Plugin code: src/aws/sts.rs, src/aws/clients.rs.

What moto (5.2.5) can and cannot tell us, and how the checks get around it:

* Accounts. moto derives the account of a request from its access key (a key
  of an IAM user, or a temporary key moto issued for a role in some account),
  or from the ``x-moto-account-id`` header (moto docs, "Multi-Account support";
  moto/core/responses.py ``get_current_account``). The second account's role is
  created with that header. AssumeRole of a role ARN in another account gives
  keys of that account, and ``sts:GetCallerIdentity`` with them names the
  account and the assumed-role ARN.
* moto never evaluates a role's trust policy (the role need not even exist),
  and ignores ``ExternalId``'s value, ``Tags``, ``PolicyArns``, ``SerialNumber``
  and ``TokenCode``; it does not expose them through any API either. So what
  the plugin *sends* to STS is captured by :class:`StsProxy`, a recording HTTP
  proxy between the plugin and moto (config/root ``sts_endpoint`` = proxy).
* moto does not enforce AWS's ``DurationSeconds`` minimum of 900 (nor the
  maxima): AssumeRole with 60 s succeeds. The proxy emulates AWS's
  ``ValidationError`` answer to check how the plugin reports it.
* GetFederationToken and GetSessionToken return moto's fixed example key
  (``AKIAIOSFODNN7EXAMPLE``), which is no key of any account: with moto's
  authentication on it is refused (``InvalidClientTokenId``), with it off
  moto answers GetCallerIdentity for any key at all. So "the credentials
  authenticate" can only be proven for ``assumed_role`` (moto's auth on, the
  signature with the issued secret is checked); for the other two types the
  tests check that the plugin hands out exactly what STS returned.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

import pytest
from botocore.exceptions import ClientError

import devstack

ACCOUNT = "123456789012"  # moto's default account: the engine's own
OTHER_ACCOUNT = "222233334444"  # the "second" account, for cross-account roles
ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}
S3_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}
HELP_REVOKE = (
    "When using AWS STS credential types (assumed_role, federation_token or session_token), "
    "revoking the lease does not revoke the access keys"
)
# What AWS answers to AssumeRole/GetFederationToken/GetSessionToken with DurationSeconds < 900.
AWS_MIN_DURATION = (
    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy "
    "constraint: Member must have value greater than or equal to 900"
)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def uid() -> str:
    return uuid.uuid4().hex[:6]


def ok(status_body: tuple[int, Any], *statuses: int) -> Any:
    status, body = status_body
    assert status in (statuses or (200, 204)), f"HTTP {status}: {body}"
    return body


def errors_of(status_body: tuple[int, Any], status: int = 400) -> list[str]:
    got, body = status_body
    assert got == status, f"expected HTTP {status}, got {got}: {body}"
    return body["errors"]


def cli_ok(bao, *args: str) -> str:
    res = bao.cli(*args)
    assert res.returncode == 0, f"bao {' '.join(args)} failed:\n{res.stdout}{res.stderr}"
    return res.stdout + res.stderr


def cli_table(bao, *args: str) -> dict[str, str]:
    """Runs a bao command with its default (table) output and parses ``Key  Value`` rows."""
    out = cli_ok(bao, *args)
    rows: dict[str, str] = {}
    lines = out.splitlines()
    assert lines and lines[0].split() == ["Key", "Value"], out
    for line in lines[2:]:  # skip "Key Value" and the "---" ruler
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        rows[key] = value.strip()
    return rows


_GO_DURATION = re.compile(r"(\d+)(h|m|s)")


def go_duration_seconds(text: str) -> int:
    """``1h``, ``59m59s``, ``3600`` -> seconds (what the CLI prints for lease_duration)."""
    if text.isdigit():
        return int(text)
    parts = _GO_DURATION.findall(text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def approx(seconds: int, expected: int, slack: int = 15) -> bool:
    """AWS/moto report an expiry time; the engine's TTL is expiry - now, so a little less."""
    return expected - slack <= seconds <= expected


def configure_root(bao, m: str, moto, sts_endpoint: Optional[str] = None, access_key: str = "testing",
                   secret_key: str = "testing", **extra) -> None:
    body = dict(access_key=access_key, secret_key=secret_key, region="us-east-1",
                iam_endpoint=moto.endpoint, sts_endpoint=sts_endpoint or moto.endpoint)
    body.update(extra)
    ok(bao.api("POST", f"{m}/config/root", body), 204)


def write_role(bao, m: str, name: str, **fields) -> Any:
    return ok(bao.api("POST", f"{m}/roles/{name}", fields), 200, 204)


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def trust_policy(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole"}]})


def sts_data_ok(body: dict, *, arn: bool, ttl: int) -> dict:
    """Shape of an STS creds response (Vault's path_user.go); returns ``data``."""
    data = body["data"]
    expected_keys = {"access_key", "secret_key", "session_token", "security_token", "ttl"}
    if arn:
        expected_keys.add("arn")
    assert set(data) == expected_keys, data
    assert data["access_key"] and data["secret_key"] and data["session_token"]
    assert data["session_token"] == data["security_token"]
    assert approx(data["ttl"], ttl), (data["ttl"], ttl)
    assert approx(body["lease_duration"], ttl), (body["lease_duration"], ttl)
    assert body["renewable"] is False
    assert body["lease_id"]
    return data


def unwrap_multierror(text: str) -> str:
    """The text inside the server's ``1 error occurred:\n\t* <text>\n\n`` wrapping (if any)."""
    m = re.fullmatch(r"1 error occurred:\n\t\* (.*)\n\n", text, re.S)
    return m.group(1) if m else text


def aws_error_xml(code: str, message: str, type_: str = "Sender") -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{type_}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def xml_find(xml: bytes, tag: str) -> Optional[str]:
    """Text of the first element named ``tag`` (any namespace) in an AWS XML answer."""
    for el in ET.fromstring(xml).iter():
        if el.tag.rsplit("}", 1)[-1] == tag:
            return el.text
    return None


# --------------------------------------------------------------------------
# A recording (and, when told to, answering) HTTP proxy in front of moto
# --------------------------------------------------------------------------


@dataclass
class Seen:
    """One request the proxy received, with what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]  # form body + query string, one value per key
    status: int = 0
    response: bytes = b""

    @property
    def action(self) -> Optional[str]:
        return self.params.get("Action")

    def members(self, prefix: str) -> dict[str, str]:
        """``Tags.member.N.Key`` style fields under ``prefix``: ``{"1.Key": "team", ...}``."""
        return {k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}


class StsProxy:
    """ThreadingHTTPServer on 127.0.0.1 forwarding every request to ``upstream`` (moto).

    Records each request (:attr:`seen`) with its answer. ``answer`` (a callable
    ``Seen -> None | (status, body)``) may answer instead of moto, e.g. to
    emulate an AWS error moto does not produce. Host header and body are
    forwarded unchanged, so SigV4 signatures stay valid for moto's auth.
    """

    def __init__(self, upstream: str):
        up = urllib.parse.urlparse(upstream)
        self.upstream_host, self.upstream_port = up.hostname, up.port
        self.seen: list[Seen] = []
        self.answer: Optional[Callable[[Seen], Optional[tuple[int, bytes]]]] = None
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                proxy._handle(self)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="sts-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        params = urllib.parse.parse_qs(body.decode(errors="replace"), keep_blank_values=True)
        query = urllib.parse.urlparse(h.path).query
        if query:
            params.update(urllib.parse.parse_qs(query, keep_blank_values=True))
        seen = Seen(h.command, h.path, dict(h.headers), {k: v[0] for k, v in params.items()})
        canned = self.answer(seen) if self.answer else None
        if canned is not None:
            status, payload = canned
            headers = {"Content-Type": "text/xml"}
        else:
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
            try:
                fwd = {k: v for k, v in h.headers.items()
                       if k.lower() not in ("connection", "keep-alive", "proxy-connection")}
                conn.request(h.command, h.path, body=body, headers=fwd)
                resp = conn.getresponse()
                status, payload = resp.status, resp.read()
                headers = {k: v for k, v in resp.getheaders()
                           if k.lower() not in ("connection", "transfer-encoding", "content-length")}
            finally:
                conn.close()
        seen.status, seen.response = status, payload
        with self._lock:
            self.seen.append(seen)
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def calls(self, action: Optional[str] = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if action is None or s.action == action]

    def only(self, action: str) -> Seen:
        got = self.calls(action)
        assert len(got) == 1, f"expected one {action}, proxy saw {[s.action for s in self.calls()]}"
        return got[0]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture
def proxies(moto):
    """Factory: ``proxies()`` -> a started :class:`StsProxy` in front of moto (closed after the test)."""
    made: list[StsProxy] = []

    def make() -> StsProxy:
        p = StsProxy(moto.endpoint)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def proxy(proxies) -> StsProxy:
    return proxies()


@pytest.fixture
def plain(bao, moto, mount) -> str:
    """A mount whose config/root points IAM and STS straight at moto (dummy key)."""
    m = mount()
    configure_root(bao, m, moto)
    return m


@pytest.fixture
def captured(bao, moto, mount, proxy) -> tuple[str, StsProxy]:
    """A mount whose STS endpoint is the recording proxy (IAM straight to moto)."""
    m = mount()
    configure_root(bao, m, moto, sts_endpoint=proxy.url)
    return m, proxy


@pytest.fixture
def iam(moto):
    return moto.client("iam")


@pytest.fixture
def other_iam(moto):
    """boto3 IAM client acting in OTHER_ACCOUNT (moto's ``x-moto-account-id`` header)."""
    client = moto.client("iam")

    def to_other_account(request, **_: Any) -> None:
        request.headers["x-moto-account-id"] = OTHER_ACCOUNT

    client.meta.events.register("before-sign.iam.*", to_other_account)
    return client


@pytest.fixture
def cleanup():
    """Callables run after the test (reverse order), failures ignored."""
    todo: list[Callable[[], Any]] = []
    yield todo.append
    for fn in reversed(todo):
        with contextlib.suppress(Exception):
            fn()


@dataclass
class RootUser:
    name: str
    access_key: str
    secret_key: str


@pytest.fixture
def root_user(moto, iam, cleanup) -> RootUser:
    """A real moto IAM user in ACCOUNT with an admin policy: the engine's root key under moto auth."""
    name = f"sts-root-{uid()}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [ADMIN]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]

    def remove() -> None:
        moto.set_auth(float("inf"))
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName=name, PolicyName="admin")
        iam.delete_user(UserName=name)

    cleanup(remove)
    return RootUser(name, key["AccessKeyId"], key["SecretAccessKey"])


@contextlib.contextmanager
def moto_auth(moto):
    """Inside the block moto checks every request's key, signature and policies."""
    moto.set_auth(0)
    try:
        yield
    finally:
        moto.set_auth(float("inf"))


def make_role(iam, cleanup, name: Optional[str] = None, account: str = ACCOUNT) -> str:
    """An IAM role in ``iam``'s account that trusts ACCOUNT; returns its ARN."""
    name = name or f"app-{uid()}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(ACCOUNT))["Role"]["Arn"]
    assert arn == role_arn(name, account)
    cleanup(lambda: iam.delete_role(RoleName=name))
    return arn


def sts_with(moto, data: dict):
    return moto.client("sts", access_key=data["access_key"], secret_key=data["secret_key"],
                       session_token=data["session_token"])


# --------------------------------------------------------------------------
# assumed_role: the seed workflow, cross-account, through the bao CLI
# --------------------------------------------------------------------------


def test_cross_account_assumed_role_seed_workflow(bao, moto, mount, other_iam, root_user, cleanup):
    """Role in a second account trusting the first; seed command verbatim; creds work there."""
    target = make_role(other_iam, cleanup, f"deploy-{uid()}", OTHER_ACCOUNT)
    assert target.startswith(f"arn:aws:iam::{OTHER_ACCOUNT}:role/")
    # the role really lives in the second account only
    assert target in [r["Arn"] for r in other_iam.list_roles()["Roles"]]
    assert target not in [r["Arn"] for r in moto.client("iam").list_roles()["Roles"]]

    m = mount()
    configure_root(bao, m, moto, access_key=root_user.access_key, secret_key=root_user.secret_key)
    cli_ok(bao, "write", f"{m}/roles/xacct", "credential_type=assumed_role", f"role_arns={target}")

    with moto_auth(moto):
        rows = cli_table(bao, "write", f"{m}/sts/xacct", "ttl=60m")  # the seed command, verbatim
        assert set(rows) == {"lease_id", "lease_duration", "lease_renewable", "access_key", "arn",
                             "secret_key", "security_token", "session_token", "ttl"}, rows
        assert rows["lease_id"].startswith(f"{m}/sts/xacct/")
        assert rows["lease_renewable"] == "false"
        assert approx(go_duration_seconds(rows["lease_duration"]), 3600), rows["lease_duration"]
        assert approx(go_duration_seconds(rows["ttl"]), 3600), rows["ttl"]  # the CLI prints it as a duration
        assert rows["session_token"] == rows["security_token"] and rows["session_token"]
        role_name = target.rsplit("/", 1)[1]
        assert re.fullmatch(rf"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{role_name}/vault-.+", rows["arn"]), rows

        # The issued keys authenticate (moto checks key + SigV4 signature now) as that session.
        me = moto.client("sts", access_key=rows["access_key"], secret_key=rows["secret_key"],
                         session_token=rows["session_token"]).get_caller_identity()
        assert me["Account"] == OTHER_ACCOUNT
        assert me["Arn"] == rows["arn"]
        with pytest.raises(ClientError) as e:  # and moto really checks: a wrong secret is refused
            moto.client("sts", access_key=rows["access_key"], secret_key="wrong" + rows["secret_key"],
                        session_token=rows["session_token"]).get_caller_identity()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

        # `bao read <m>/creds/<r>` works for the STS type too; ttl as a query parameter.
        res = bao.cli("read", "-format=json", f"{m}/creds/xacct")
        assert res.returncode == 0, res.stderr
        data = sts_data_ok(json.loads(res.stdout), arn=True, ttl=3600)
        assert data["arn"].startswith(f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{role_name}/")
        res = bao.cli("read", "-format=json", f"{m}/creds/xacct", "ttl=25m")  # CLI sends it as ?ttl=25m
        assert res.returncode == 0, res.stderr
        sts_data_ok(json.loads(res.stdout), arn=True, ttl=1500)
        status, body = bao.api("GET", f"{m}/creds/xacct?ttl=1200")
        assert status == 200, body
        data = sts_data_ok(body, arn=True, ttl=1200)
        assert sts_with(moto, data).get_caller_identity()["Account"] == OTHER_ACCOUNT


def test_sts_and_creds_paths_are_interchangeable_for_get_and_post(bao, plain, iam, cleanup):
    arn = make_role(iam, cleanup)
    write_role(bao, plain, "r", credential_type="assumed_role", role_arns=[arn])
    for method in ("GET", "POST"):
        for prefix in ("creds", "sts"):
            data = sts_data_ok(ok(bao.api(method, f"{plain}/{prefix}/r"), 200), arn=True, ttl=3600)
            assert data["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{arn.rsplit('/', 1)[1]}/")


# --------------------------------------------------------------------------
# role_arn selection, role_session_name, external_id, session_tags
# --------------------------------------------------------------------------


def test_role_arn_selection(bao, plain, iam, cleanup):
    first, second = make_role(iam, cleanup), make_role(iam, cleanup)
    write_role(bao, plain, "two", credential_type="assumed_role", role_arns=[first, second])

    assert errors_of(bao.api("POST", f"{plain}/creds/two")) == [
        "did not supply a role_arn parameter and unable to determine one"]
    stranger = role_arn(f"not-listed-{uid()}")
    assert errors_of(bao.api("POST", f"{plain}/creds/two", {"role_arn": stranger})) == [
        f'role_arn "{stranger}" not in allowed role arns for Vault role "two"']
    # only the exact ARN counts (no prefix or case games)
    assert errors_of(bao.api("POST", f"{plain}/creds/two", {"role_arn": first.upper()})) == [
        f'role_arn "{first.upper()}" not in allowed role arns for Vault role "two"']

    for chosen in (first, second):
        data = sts_data_ok(ok(bao.api("POST", f"{plain}/creds/two", {"role_arn": chosen}), 200),
                           arn=True, ttl=3600)
        assert data["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{chosen.rsplit('/', 1)[1]}/")
    # role_arn is also accepted as a query parameter
    q = urllib.parse.quote(second, safe="")
    data = sts_data_ok(ok(bao.api("GET", f"{plain}/creds/two?role_arn={q}"), 200), arn=True, ttl=3600)
    assert f":assumed-role/{second.rsplit('/', 1)[1]}/" in data["arn"]


def test_single_role_arn_is_used_without_role_arn_and_others_are_refused(bao, plain, iam, cleanup):
    only = make_role(iam, cleanup)
    write_role(bao, plain, "one", credential_type="assumed_role", role_arns=[only])
    data = sts_data_ok(ok(bao.api("POST", f"{plain}/creds/one"), 200), arn=True, ttl=3600)
    assert f":assumed-role/{only.rsplit('/', 1)[1]}/" in data["arn"]
    other = role_arn("elsewhere")
    assert errors_of(bao.api("POST", f"{plain}/creds/one", {"role_arn": other})) == [
        f'role_arn "{other}" not in allowed role arns for Vault role "one"']


def test_role_session_name_is_used_in_the_arn(bao, captured, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    name = arn.rsplit("/", 1)[1]
    write_role(bao, m, "r", credential_type="assumed_role", role_arns=[arn])

    data = ok(bao.api("POST", f"{m}/creds/r", {"role_session_name": "alice-ci@build.7"}), 200)["data"]
    assert data["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/alice-ci@build.7"
    assert proxy.only("AssumeRole").params["RoleSessionName"] == "alice-ci@build.7"

    # characters STS does not allow are replaced by "_" (as Vault), as a query parameter too
    proxy.clear()
    data = ok(bao.api("GET", f"{m}/creds/r?role_session_name=" + urllib.parse.quote("bob smith/x")), 200)["data"]
    assert data["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/bob_smith_x"
    assert proxy.only("AssumeRole").params["RoleSessionName"] == "bob_smith_x"

    # without one, the name comes from the username template: vault-<display>-<role>-<unix>-<random>
    proxy.clear()
    data = ok(bao.api("POST", f"{m}/creds/r"), 200)["data"]
    session = proxy.only("AssumeRole").params["RoleSessionName"]
    assert re.fullmatch(r"vault-[A-Za-z0-9+=,.@_-]*-r-\d{10}-[A-Za-z0-9]{20}", session), session
    assert data["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"


def test_external_id_and_session_tags_reach_assume_role(bao, captured, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    write_role(bao, m, "tagged", credential_type="assumed_role", role_arns=[arn],
               external_id="ext-7f3a", session_tags=["team=blue", "cost-center=42"])
    read = ok(bao.api("GET", f"{m}/roles/tagged"), 200)["data"]
    assert read["external_id"] == "ext-7f3a"
    assert read["session_tags"] == {"team": "blue", "cost-center": "42"}

    sts_data_ok(ok(bao.api("POST", f"{m}/creds/tagged"), 200), arn=True, ttl=3600)
    call = proxy.only("AssumeRole")
    assert call.params["RoleArn"] == arn
    assert call.params["ExternalId"] == "ext-7f3a"
    tags = call.members("Tags.member.")
    pairs = {tags[f"{n}.Key"]: tags[f"{n}.Value"] for n in {k.split(".")[0] for k in tags}}
    assert pairs == {"team": "blue", "cost-center": "42"}, call.params
    assert len(tags) == 4, tags

    # a role without them sends neither
    write_role(bao, m, "bare", credential_type="assumed_role", role_arns=[arn])
    proxy.clear()
    ok(bao.api("POST", f"{m}/creds/bare"), 200)
    params = proxy.only("AssumeRole").params
    assert "ExternalId" not in params and not any(k.startswith("Tags.") for k in params), params
    assert "Policy" not in params and not any(k.startswith("PolicyArns.") for k in params), params


def test_role_policy_and_policy_arns_reach_assume_role(bao, captured, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    write_role(bao, m, "filtered", credential_type="assumed_role", role_arns=[arn],
               policy_document=json.dumps(S3_READ), policy_arns=[managed])
    ok(bao.api("POST", f"{m}/creds/filtered"), 200)
    params = proxy.only("AssumeRole").params
    assert json.loads(params["Policy"]) == S3_READ
    assert params["PolicyArns.member.1.arn"] == managed
    assert "PolicyArns.member.2.arn" not in params


# --------------------------------------------------------------------------
# iam_groups on an assumed_role (path_roles.go)
# --------------------------------------------------------------------------


def test_iam_groups_policies_are_merged_into_the_session_policy(bao, captured, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    group = f"grp-{uid()}"
    iam.create_group(GroupName=group)
    cleanup(lambda: iam.delete_group(GroupName=group))
    group_statements = [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:*:*:table/t"},
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"},
    ]
    iam.put_group_policy(GroupName=group, PolicyName="inline",
                         PolicyDocument=json.dumps({"Version": "2012-10-17", "Id": "dropped",
                                                    "Statement": group_statements}))
    cleanup(lambda: iam.delete_group_policy(GroupName=group, PolicyName="inline"))
    policy_arn = iam.create_policy(
        PolicyName=f"grp-managed-{uid()}",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}))["Policy"]["Arn"]
    cleanup(lambda: iam.delete_policy(PolicyArn=policy_arn))
    iam.attach_group_policy(GroupName=group, PolicyArn=policy_arn)
    cleanup(lambda: iam.detach_group_policy(GroupName=group, PolicyArn=policy_arn))
    role_managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"

    write_role(bao, m, "grouped", credential_type="assumed_role", role_arns=[arn], iam_groups=[group],
               policy_document=json.dumps(S3_READ), policy_arns=[role_managed])
    sts_data_ok(ok(bao.api("POST", f"{m}/creds/grouped"), 200), arn=True, ttl=3600)

    params = proxy.only("AssumeRole").params
    # group statements first, then the role's own; other top-level keys dropped
    assert json.loads(params["Policy"]) == {
        "Version": "2012-10-17", "Statement": group_statements + S3_READ["Statement"]}
    # the role's managed ARNs, then the group's
    assert params["PolicyArns.member.1.arn"] == role_managed
    assert params["PolicyArns.member.2.arn"] == policy_arn
    assert "PolicyArns.member.3.arn" not in params

    # only groups (no role policy): the document is the group's statements alone
    write_role(bao, m, "grouponly", credential_type="assumed_role", role_arns=[arn], iam_groups=[group])
    proxy.clear()
    ok(bao.api("POST", f"{m}/creds/grouponly"), 200)
    params = proxy.only("AssumeRole").params
    assert json.loads(params["Policy"]) == {"Version": "2012-10-17", "Statement": group_statements}
    assert params["PolicyArns.member.1.arn"] == policy_arn


def test_missing_iam_group_is_a_400_and_nothing_is_assumed(bao, captured, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    write_role(bao, m, "nogroup", credential_type="assumed_role", role_arns=[arn],
               iam_groups=[f"ghost-{uid()}"])
    (msg,) = errors_of(bao.api("POST", f"{m}/creds/nogroup"))
    assert "NoSuchEntity" in msg, msg
    assert proxy.calls() == []


# --------------------------------------------------------------------------
# federation_token and session_token
# --------------------------------------------------------------------------


def test_federation_token_with_policy_document(bao, captured, moto):
    m, proxy = captured
    write_role(bao, m, "fed", credential_type="federation_token", policy_document=json.dumps(S3_READ))

    data = sts_data_ok(ok(bao.api("POST", f"{m}/sts/fed", {"ttl": "2h"}), 200), arn=False, ttl=7200)
    call = proxy.only("GetFederationToken")
    assert call.params["DurationSeconds"] == "7200"
    assert json.loads(call.params["Policy"]) == S3_READ
    assert not any(k.startswith("PolicyArns.") for k in call.params)
    # federation names come from the template's STS branch: vault-<unix>-<random>, at most 32
    assert re.fullmatch(r"vault-\d{10}-[A-Za-z0-9]{1,16}", call.params["Name"]), call.params["Name"]
    assert len(call.params["Name"]) <= 32
    # the engine hands out exactly what STS returned
    assert data["access_key"] == xml_find(call.response, "AccessKeyId")
    assert data["secret_key"] == xml_find(call.response, "SecretAccessKey")
    assert data["session_token"] == xml_find(call.response, "SessionToken")
    # moto answers GetCallerIdentity with them (indirect: moto accepts any key while auth is off)
    assert sts_with(moto, data).get_caller_identity()["Account"] == ACCOUNT

    # default TTL rules apply too: no ttl => 3600
    proxy.clear()
    sts_data_ok(ok(bao.api("GET", f"{m}/creds/fed"), 200), arn=False, ttl=3600)
    assert proxy.only("GetFederationToken").params["DurationSeconds"] == "3600"


def test_federation_token_with_policy_arns_only(bao, captured):
    m, proxy = captured
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    write_role(bao, m, "fedarn", credential_type="federation_token", policy_arns=[managed])
    sts_data_ok(ok(bao.api("POST", f"{m}/creds/fedarn"), 200), arn=False, ttl=3600)
    params = proxy.only("GetFederationToken").params
    assert params["PolicyArns.member.1.arn"] == managed
    assert "Policy" not in params


def test_federation_token_without_any_policy_is_refused(bao, captured):
    m, proxy = captured
    write_role(bao, m, "open", credential_type="federation_token")
    assert errors_of(bao.api("POST", f"{m}/creds/open")) == [
        "must specify at least one of policy_arns or policy_document with federation_token credential_type"]
    assert proxy.calls() == []  # refused before asking STS


def test_federation_token_policy_may_come_from_iam_groups_alone(bao, captured, iam, cleanup):
    """The 'at least one policy' rule is checked after the group merge (as Vault)."""
    m, proxy = captured
    group, empty = f"fedgrp-{uid()}", f"fedempty-{uid()}"
    for g in (group, empty):
        iam.create_group(GroupName=g)
        cleanup(lambda g=g: iam.delete_group(GroupName=g))
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    iam.attach_group_policy(GroupName=group, PolicyArn=managed)
    cleanup(lambda: iam.detach_group_policy(GroupName=group, PolicyArn=managed))

    write_role(bao, m, "viagroup", credential_type="federation_token", iam_groups=[group])
    sts_data_ok(ok(bao.api("POST", f"{m}/creds/viagroup"), 200), arn=False, ttl=3600)
    params = proxy.only("GetFederationToken").params
    assert params["PolicyArns.member.1.arn"] == managed and "Policy" not in params

    proxy.clear()
    write_role(bao, m, "emptygroup", credential_type="federation_token", iam_groups=[empty])
    assert errors_of(bao.api("POST", f"{m}/creds/emptygroup")) == [
        "must specify at least one of policy_arns or policy_document with federation_token credential_type"]
    assert proxy.calls() == []


def test_session_token(bao, captured, moto):
    m, proxy = captured
    write_role(bao, m, "sess", credential_type="session_token")
    data = sts_data_ok(ok(bao.api("POST", f"{m}/creds/sess", {"ttl": "20m"}), 200), arn=False, ttl=1200)
    call = proxy.only("GetSessionToken")
    assert call.params["DurationSeconds"] == "1200"
    assert "SerialNumber" not in call.params and "TokenCode" not in call.params
    assert data["access_key"] == xml_find(call.response, "AccessKeyId")
    assert data["secret_key"] == xml_find(call.response, "SecretAccessKey")
    assert data["session_token"] == xml_find(call.response, "SessionToken")
    assert sts_with(moto, data).get_caller_identity()["Account"] == ACCOUNT  # indirect, see module doc


def test_session_token_with_mfa(bao, captured):
    m, proxy = captured
    serial = f"arn:aws:iam::{ACCOUNT}:mfa/dev-{uid()}"
    write_role(bao, m, "mfa", credential_type="session_token", mfa_serial_number=serial)
    assert ok(bao.api("GET", f"{m}/roles/mfa"), 200)["data"]["mfa_serial_number"] == serial

    sts_data_ok(ok(bao.api("POST", f"{m}/creds/mfa", {"mfa_code": "123456"}), 200), arn=False, ttl=3600)
    params = proxy.only("GetSessionToken").params
    assert params["SerialNumber"] == serial
    assert params["TokenCode"] == "123456"

    # mfa_code as a query parameter; moto accepts any code (it never checks TOTP)
    proxy.clear()
    sts_data_ok(ok(bao.api("GET", f"{m}/creds/mfa?mfa_code=000000"), 200), arn=False, ttl=3600)
    assert proxy.only("GetSessionToken").params["TokenCode"] == "000000"

    # what AWS answers to a wrong code reaches the caller as a 400 with the AWS text
    proxy.clear()
    proxy.answer = lambda seen: (403, aws_error_xml(
        "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code."))
    assert errors_of(bao.api("POST", f"{m}/creds/mfa", {"mfa_code": "999999"})) == [
        "Error generating STS keys: AccessDenied: MultiFactorAuthentication failed with invalid MFA one time pass code."]


# --------------------------------------------------------------------------
# TTL rules (path_user.go)
# --------------------------------------------------------------------------


@pytest.fixture
def ttl_role(bao, captured, iam, cleanup) -> Callable[..., tuple[str, StsProxy, str]]:
    """``ttl_role(**role_fields)`` -> (mount, proxy, role name) of an assumed_role role."""
    m, proxy = captured
    arn = make_role(iam, cleanup)

    def make(**fields) -> tuple[str, StsProxy, str]:
        name = f"ttl-{uid()}"
        write_role(bao, m, name, credential_type="assumed_role", role_arns=[arn], **fields)
        return m, proxy, name

    return make


def issue_and_duration(bao, proxy: StsProxy, path: str, body: Optional[dict] = None) -> tuple[dict, int]:
    proxy.clear()
    resp = ok(bao.api("POST", path, body), 200)
    return resp, int(proxy.only("AssumeRole").params["DurationSeconds"])


def test_ttl_from_the_request(bao, ttl_role):
    m, proxy, r = ttl_role()
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": "25m"})
    assert sent == 1500
    sts_data_ok(resp, arn=True, ttl=1500)
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": 5400})  # plain seconds
    assert sent == 5400
    sts_data_ok(resp, arn=True, ttl=5400)


def test_ttl_default_is_3600(bao, ttl_role):
    m, proxy, r = ttl_role()
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}")
    assert sent == 3600
    sts_data_ok(resp, arn=True, ttl=3600)


def test_ttl_default_sts_ttl_when_no_ttl(bao, ttl_role):
    m, proxy, r = ttl_role(default_sts_ttl="20m")
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}")
    assert sent == 1200
    sts_data_ok(resp, arn=True, ttl=1200)
    # a request ttl still wins over the role default
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": "30m"})
    assert sent == 1800
    sts_data_ok(resp, arn=True, ttl=1800)


def test_ttl_capped_by_max_sts_ttl(bao, ttl_role):
    m, proxy, r = ttl_role(max_sts_ttl="15m")
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": "2h"})
    assert sent == 900  # silently capped, no error or warning
    sts_data_ok(resp, arn=True, ttl=900)
    assert not resp.get("warnings")
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}")  # the 3600 default is capped too
    assert sent == 900
    sts_data_ok(resp, arn=True, ttl=900)


def test_ttl_capped_by_mount_max_lease_ttl(bao, ttl_role):
    m, proxy, r = ttl_role()
    cli_ok(bao, "secrets", "tune", "-max-lease-ttl=30m", m)
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": "2h"})
    assert sent == 1800  # the engine asked AWS for no more than the mount allows
    sts_data_ok(resp, arn=True, ttl=1800)
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}")
    assert sent == 1800
    sts_data_ok(resp, arn=True, ttl=1800)


def test_ttl_below_aws_minimum_with_moto(bao, ttl_role):
    """moto does not enforce AWS's 900 s minimum: the engine passes 60 through and moto issues."""
    m, proxy, r = ttl_role()
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": "60s"})
    assert sent == 60  # the engine does not raise it to 900 (nor refuse it) itself
    sts_data_ok(resp, arn=True, ttl=60)


@pytest.mark.parametrize("ttl, seconds", [("60s", 60), ("0", 0)])
def test_ttl_below_aws_minimum_is_aws_validation_error(bao, ttl_role, ttl, seconds):
    """With AWS's answer (emulated by the proxy): 400 `Error assuming role: ValidationError: ...`.

    An explicit ``ttl=0`` is passed through as DurationSeconds=0 too (path_user.go).
    """
    m, proxy, r = ttl_role()

    def like_aws(seen: Seen) -> Optional[tuple[int, bytes]]:
        d = int(seen.params.get("DurationSeconds", "3600"))
        return (400, aws_error_xml("ValidationError", AWS_MIN_DURATION.format(d=d))) if d < 900 else None

    proxy.answer = like_aws
    assert errors_of(bao.api("POST", f"{m}/creds/{r}", {"ttl": ttl})) == [
        "Error assuming role: ValidationError: " + AWS_MIN_DURATION.format(d=seconds)]
    assert proxy.only("AssumeRole").params["DurationSeconds"] == str(seconds)  # 4xx: no retry
    # and 900 itself is fine
    resp, sent = issue_and_duration(bao, proxy, f"{m}/creds/{r}", {"ttl": "15m"})
    assert sent == 900
    sts_data_ok(resp, arn=True, ttl=900)


def test_default_sts_ttl_above_max_sts_ttl_is_refused(bao, plain):
    (msg,) = errors_of(bao.api("POST", f"{plain}/roles/bad", {
        "credential_type": "assumed_role", "role_arns": [role_arn("x")],
        "default_sts_ttl": "2h", "max_sts_ttl": "1h"}))
    assert '\\"default_sts_ttl\\" value must be less than or equal to \\"max_sts_ttl\\" value' in msg, msg


# --------------------------------------------------------------------------
# STS endpoint fallback (client.go)
# --------------------------------------------------------------------------


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{devstack.free_port()}"


def role_of_type(bao, m: str, cred_type: str, iam, cleanup) -> str:
    """A working role of ``cred_type`` named after it."""
    name = cred_type.replace("_", "-")
    if cred_type == "assumed_role":
        write_role(bao, m, name, credential_type=cred_type, role_arns=[make_role(iam, cleanup)])
    elif cred_type == "federation_token":
        write_role(bao, m, name, credential_type=cred_type, policy_document=json.dumps(S3_READ))
    else:
        write_role(bao, m, name, credential_type=cred_type)
    return name


STS_ACTIONS = {"assumed_role": "AssumeRole", "federation_token": "GetFederationToken",
               "session_token": "GetSessionToken"}


@pytest.mark.parametrize("cred_type", list(STS_ACTIONS))
def test_fallback_after_connection_refused(bao, moto, mount, proxy, iam, cleanup, cred_type):
    m = mount()
    dead = closed_port_url()
    configure_root(bao, m, moto, sts_endpoint=dead, sts_fallback_endpoints=[proxy.url],
                   sts_fallback_regions=["us-east-1"])
    cfg = ok(bao.api("GET", f"{m}/config/root"), 200)["data"]
    assert cfg["sts_endpoint"] == dead
    assert cfg["sts_fallback_endpoints"] == [proxy.url]
    assert cfg["sts_fallback_regions"] == ["us-east-1"]
    r = role_of_type(bao, m, cred_type, iam, cleanup)

    t0 = time.monotonic()
    resp = ok(bao.api("POST", f"{m}/creds/{r}"), 200)
    took = time.monotonic() - t0
    sts_data_ok(resp, arn=cred_type == "assumed_role", ttl=3600)
    proxy.only(STS_ACTIONS[cred_type])  # the fallback answered
    assert took < 15, f"fallback took {took:.1f}s"


def test_fallback_after_5xx_but_not_after_4xx(bao, moto, mount, proxies, iam, cleanup):
    first, second = proxies(), proxies()
    m = mount()
    configure_root(bao, m, moto, sts_endpoint=first.url, sts_fallback_endpoints=[second.url],
                   sts_fallback_regions=["us-east-1"], max_retries=0)
    r = role_of_type(bao, m, "assumed_role", iam, cleanup)

    first.answer = lambda seen: (500, aws_error_xml("InternalFailure", "try again", "Receiver"))
    sts_data_ok(ok(bao.api("POST", f"{m}/creds/{r}"), 200), arn=True, ttl=3600)
    assert len(first.calls("AssumeRole")) == 1  # max_retries=0: one attempt, then the next endpoint
    second.only("AssumeRole")

    # A definitive AWS answer (4xx) ends the search: no fallback
    first.clear(), second.clear()
    first.answer = lambda seen: (403, aws_error_xml("AccessDenied", "not authorized to perform sts:AssumeRole"))
    assert errors_of(bao.api("POST", f"{m}/creds/{r}")) == [
        "Error assuming role: AccessDenied: not authorized to perform sts:AssumeRole"]
    assert second.calls() == []

    # Throttling is not "unreachable" either: 502, no fallback
    first.clear()
    first.answer = lambda seen: (400, aws_error_xml("Throttling", "Rate exceeded"))
    (msg,) = errors_of(bao.api("POST", f"{m}/creds/{r}"), 502)
    assert unwrap_multierror(msg) == "Error assuming role: Throttling: Rate exceeded"
    assert second.calls() == []


def test_all_sts_endpoints_dead_is_502_naming_them(bao, moto, mount, iam, cleanup):
    m = mount()
    dead1, dead2 = closed_port_url(), closed_port_url()
    configure_root(bao, m, moto, sts_endpoint=dead1, sts_fallback_endpoints=[dead2],
                   sts_fallback_regions=["us-west-2"], max_retries=0)
    for cred_type, prefix in (("assumed_role", "Error assuming role"),
                              ("federation_token", "Error generating STS keys"),
                              ("session_token", "Error generating STS keys")):
        r = role_of_type(bao, m, cred_type, iam, cleanup)
        (msg,) = errors_of(bao.api("POST", f"{m}/creds/{r}"), 502)
        msg = unwrap_multierror(msg)
        assert msg.startswith(f"{prefix}: no STS endpoint could be reached: {dead1}: "), msg
        first, _, rest = msg.partition("; ")
        assert rest.startswith(f"{dead2}: "), msg
        assert "could not connect to AWS" in first and "could not connect to AWS" in rest, msg


def test_502_text_is_plain_like_the_400s(bao, moto, mount, proxy, iam, cleanup):
    m = mount()
    configure_root(bao, m, moto, sts_endpoint=proxy.url, max_retries=0)
    r = role_of_type(bao, m, "assumed_role", iam, cleanup)
    proxy.answer = lambda seen: (400, aws_error_xml("Throttling", "Rate exceeded"))
    assert errors_of(bao.api("POST", f"{m}/creds/{r}"), 502) == [
        "Error assuming role: Throttling: Rate exceeded"]


# --------------------------------------------------------------------------
# Leases: revoke is a no-op, renew is refused, path-help says so
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cred_type", list(STS_ACTIONS))
def test_revoking_an_sts_lease_touches_nothing_in_aws(bao, moto, mount, proxy, iam, cleanup, cred_type):
    m = mount()
    # every AWS call of this mount (IAM and STS) goes through the proxy
    configure_root(bao, m, moto, sts_endpoint=proxy.url, iam_endpoint=proxy.url)
    r = role_of_type(bao, m, cred_type, iam, cleanup)
    resp = ok(bao.api("POST", f"{m}/creds/{r}"), 200)
    lease_id, data = resp["lease_id"], resp["data"]
    users_before = sorted(u["UserName"] for u in iam.list_users()["Users"])
    roles_before = sorted(x["RoleName"] for x in iam.list_roles()["Roles"])
    proxy.clear()

    res = bao.cli("lease", "renew", lease_id)
    assert res.returncode != 0 and "lease is not renewable" in res.stderr, res.stdout + res.stderr

    out = cli_ok(bao, "lease", "revoke", "-sync", lease_id)
    assert "Success" in out, out
    assert proxy.calls() == [], [s.action for s in proxy.calls()]  # not a single AWS request
    assert sorted(u["UserName"] for u in iam.list_users()["Users"]) == users_before
    assert sorted(x["RoleName"] for x in iam.list_roles()["Roles"]) == roles_before
    status, body = bao.api("PUT", "sys/leases/lookup", {"lease_id": lease_id})
    assert status == 400 and body["errors"] == ["invalid lease"], (status, body)
    if cred_type == "assumed_role":  # the session keeps working until it expires
        assert sts_with(moto, data).get_caller_identity()["Arn"].startswith(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/")


def test_path_help_says_revoking_sts_leases_does_not_revoke_keys(bao, plain):
    write_role(bao, plain, "r", credential_type="federation_token", policy_document=json.dumps(S3_READ))
    for prefix in ("creds", "sts"):
        out = " ".join(cli_ok(bao, "path-help", f"{plain}/{prefix}/r").split())
        assert HELP_REVOKE in out, out
        assert "they expire at the end of their TTL" in out, out


# --------------------------------------------------------------------------
# The seed 004 commands through hvac
# --------------------------------------------------------------------------


def test_seed_004_with_hvac(bao, moto, captured, hvac_client, iam, cleanup):
    m, proxy = captured
    first, second = make_role(iam, cleanup), make_role(iam, cleanup)
    hvac_client.secrets.aws.configure_root_iam_credentials(
        access_key="testing", secret_key="testing", region="us-east-1",
        iam_endpoint=moto.endpoint, sts_endpoint=proxy.url, mount_point=m)
    hvac_client.secrets.aws.create_or_update_role(
        name="deploy", credential_type="assumed_role", role_arns=[first], mount_point=m)
    hvac_client.secrets.aws.create_or_update_role(
        name="multi", credential_type="assumed_role", role_arns=[first, second], mount_point=m)
    hvac_client.secrets.aws.create_or_update_role(
        name="fed", credential_type="federation_token", policy_document=S3_READ, mount_point=m)

    resp = hvac_client.secrets.aws.generate_credentials(name="deploy", endpoint="sts", ttl="60m", mount_point=m)
    data = sts_data_ok(resp, arn=True, ttl=3600)
    assert f":assumed-role/{first.rsplit('/', 1)[1]}/" in data["arn"]
    assert sts_with(moto, data).get_caller_identity()["Arn"] == data["arn"]

    resp = hvac_client.secrets.aws.generate_credentials(name="deploy", ttl="30m", mount_point=m)  # GET creds/
    sts_data_ok(resp, arn=True, ttl=1800)
    assert proxy.calls("AssumeRole")[-1].params["DurationSeconds"] == "1800"

    resp = hvac_client.secrets.aws.generate_credentials(
        name="multi", role_arn=second, role_session_name="hvac-session", endpoint="sts", mount_point=m)
    data = sts_data_ok(resp, arn=True, ttl=3600)
    assert data["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{second.rsplit('/', 1)[1]}/hvac-session"

    import hvac.exceptions
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        hvac_client.secrets.aws.generate_credentials(name="multi", endpoint="sts", mount_point=m)
    assert "did not supply a role_arn parameter and unable to determine one" in str(e.value)

    resp = hvac_client.secrets.aws.generate_credentials(name="fed", endpoint="sts", ttl="2h", mount_point=m)
    sts_data_ok(resp, arn=False, ttl=7200)
    assert json.loads(proxy.calls("GetFederationToken")[-1].params["Policy"]) == S3_READ

    lease_id = resp["lease_id"]
    hvac_client.sys.revoke_lease(lease_id)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac_client.sys.read_lease(lease_id)
