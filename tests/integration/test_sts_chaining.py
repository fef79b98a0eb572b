"""Role chaining: an assumed_role role with ``source_role_arn`` is assumed with the credentials
of that intermediate ("hub") role, which the engine assumes with its own key.

Two moto accounts: the engine's key lives in ACCOUNT, the hub role in OTHER_ACCOUNT, the
target role in ACCOUNT. The recording proxy of test_sts.py shows which key signed each
``AssumeRole`` (the SigV4 ``Credential=`` of its Authorization header); with moto's auth on,
moto checks those signatures and the hub role's policy. Plugin code: src/aws/chain.rs,
src/aws/creds.rs, src/aws/clients.rs (``assume_target``, ``session_clients``).
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from test_sts import (  # noqa: F401 (fixtures are used by name)
    ACCOUNT, ADMIN, OTHER_ACCOUNT, Seen, StsProxy, cleanup, cli_ok, configure_root, errors_of,
    iam, make_role, moto_auth, ok, other_iam, proxies, proxy, root_user, sts_data_ok, sts_with,
    uid, write_role, xml_find,
)

HOUR = "the 3600 seconds (1h) AWS allows for a session obtained by role chaining"


def signer(call: Seen) -> str:
    """The access key id that signed ``call`` (SigV4 ``Credential=<key>/<scope>``)."""
    auth = next(v for k, v in call.headers.items() if k.lower() == "authorization")
    m = re.search(r"Credential=([^/]+)/", auth)
    assert m, auth
    return m.group(1)


def security_token(call: Seen) -> str | None:
    return next((v for k, v in call.headers.items() if k.lower() == "x-amz-security-token"), None)


@pytest.fixture
def hub(other_iam, cleanup) -> str:
    """A role in OTHER_ACCOUNT trusting ACCOUNT, allowed to do anything (so to assume targets)."""
    arn = make_role(other_iam, cleanup, f"hub-{uid()}", OTHER_ACCOUNT)
    name = arn.rsplit("/", 1)[1]
    other_iam.put_role_policy(RoleName=name, PolicyName="admin",
                              PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [ADMIN]}))
    cleanup(lambda: other_iam.delete_role_policy(RoleName=name, PolicyName="admin"))
    return arn


def test_target_is_assumed_with_the_hub_credentials_which_are_cached(
        bao, moto, mount, proxy, iam, hub, root_user, cleanup):
    m = mount()
    configure_root(bao, m, moto, sts_endpoint=proxy.url,
                   access_key=root_user.access_key, secret_key=root_user.secret_key)
    target = make_role(iam, cleanup)
    write_role(bao, m, "chained", credential_type="assumed_role", role_arns=[target],
               source_role_arn=hub, source_external_id="hub-ext", default_sts_ttl="30m")
    read = ok(bao.api("GET", f"{m}/roles/chained"), 200)["data"]
    assert (read["source_role_arn"], read["source_external_id"]) == (hub, "hub-ext")

    with moto_auth(moto):  # moto checks every signature and the hub role's policy
        first = ok(bao.api("POST", f"{m}/creds/chained"), 200)
        data = sts_data_ok(first, arn=True, ttl=1800)
        to_hub, to_target = proxy.calls("AssumeRole")
        assert to_hub.params["RoleArn"] == hub
        assert to_hub.params["ExternalId"] == "hub-ext"
        assert signer(to_hub) == root_user.access_key and security_token(to_hub) is None
        hub_key = xml_find(to_hub.response, "AccessKeyId")
        assert to_target.params["RoleArn"] == target and "ExternalId" not in to_target.params
        assert to_target.params["DurationSeconds"] == "1800"
        assert signer(to_target) == hub_key
        assert security_token(to_target) == xml_find(to_hub.response, "SessionToken")
        me = sts_with(moto, data).get_caller_identity()
        assert me["Account"] == ACCOUNT and me["Arn"] == data["arn"]
        assert data["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{target.rsplit('/', 1)[1]}/")

        # The hub session is reused: one AssumeRole per request now, still signed by it.
        proxy.clear()
        for _ in range(2):
            sts_data_ok(ok(bao.api("POST", f"{m}/creds/chained"), 200), arn=True, ttl=1800)
        assert [(c.params["RoleArn"], signer(c)) for c in proxy.calls()] == [(target, hub_key)] * 2

    # Revoking the lease makes no AWS call.
    proxy.clear()
    cli_ok(bao, "lease", "revoke", "-sync", first["lease_id"])
    assert proxy.calls() == []

    # A config/root write drops the cached hub session.
    configure_root(bao, m, moto, sts_endpoint=proxy.url,
                   access_key=root_user.access_key, secret_key=root_user.secret_key)
    ok(bao.api("POST", f"{m}/creds/chained"), 200)
    assert [c.params["RoleArn"] for c in proxy.calls("AssumeRole")] == [hub, target]


def test_chained_sessions_over_one_hour_are_refused(bao, moto, mount, proxy, hub):
    m = mount()
    configure_root(bao, m, moto, sts_endpoint=proxy.url)
    target = f"arn:aws:iam::{ACCOUNT}:role/t-{uid()}"
    write_role(bao, m, "chained", credential_type="assumed_role", role_arns=[target], source_role_arn=hub)

    (msg,) = errors_of(bao.api("POST", f"{m}/creds/chained", {"ttl": "2h"}))
    assert msg == f'ttl of 7200 seconds is more than {HOUR}: Vault role "chained" has a source_role_arn'
    assert proxy.calls() == []  # refused before any AWS call

    # A default above 1h cannot be stored on a chained role, nor can a chain be added to one.
    (msg,) = errors_of(bao.api("POST", f"{m}/roles/chained", {"default_sts_ttl": "90m"}))
    assert f"default_sts_ttl of 5400 seconds is more than {HOUR} (source_role_arn)" in msg, msg
    write_role(bao, m, "long", credential_type="assumed_role", role_arns=[target], default_sts_ttl="2h")
    (msg,) = errors_of(bao.api("POST", f"{m}/roles/long", {"source_role_arn": hub}))
    assert f"default_sts_ttl of 7200 seconds is more than {HOUR}" in msg, msg
    assert ok(bao.api("GET", f"{m}/roles/long"), 200)["data"]["source_role_arn"] == ""
    assert ok(bao.api("GET", f"{m}/roles/chained"), 200)["data"]["default_sts_ttl"] == 0

    # Exactly 1h (the default) is fine.
    sts_data_ok(ok(bao.api("POST", f"{m}/creds/chained"), 200), arn=True, ttl=3600)


@pytest.mark.parametrize("fields, error", [
    ({"source_external_id": "x"}, "source_external_id requires source_role_arn"),
    ({"source_role_arn": "hub"}, "invalid source_role_arn parameter: arn: invalid prefix"),
    ({"source_role_arn": f"arn:aws:iam::{ACCOUNT}:user/u"},
     "invalid source_role_arn parameter: expected a resource type of role but got user/u"),
    ({"credential_type": "federation_token", "policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
      "source_role_arn": f"arn:aws:iam::{ACCOUNT}:role/hub"},
     "cannot supply source_role_arn when credential_type isn't assumed_role"),
])
def test_bad_chaining_fields_are_refused(bao, moto, mount, fields, error):
    m = mount()
    body = {"credential_type": "assumed_role", "role_arns": [f"arn:aws:iam::{ACCOUNT}:role/t"], **fields}
    (msg,) = errors_of(bao.api("POST", f"{m}/roles/r", body))
    assert error in msg, msg
    assert bao.api("GET", f"{m}/roles/r")[0] == 404


def forward_with_expiry(upstream: StsProxy, seen: Seen, expires_in: int) -> tuple[int, bytes]:
    """Sends ``seen`` on to moto and returns moto's answer with the session expiring in
    ``expires_in`` seconds (moto's auth is off, so the re-encoded body needs no signature)."""
    conn = http.client.HTTPConnection(upstream.upstream_host, upstream.upstream_port, timeout=30)
    try:
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in ("content-length", "connection")}
        conn.request(seen.method, seen.path, body=urllib.parse.urlencode(seen.params), headers=headers)
        resp = conn.getresponse()
        status, payload = resp.status, resp.read()
    finally:
        conn.close()
    at = (datetime.now(timezone.utc) + timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return status, re.sub(rb"<Expiration>[^<]*</Expiration>", f"<Expiration>{at}</Expiration>".encode(), payload)


def test_hub_session_is_renewed_five_minutes_before_it_expires(bao, moto, mount, proxy, iam, hub, cleanup):
    m = mount()
    configure_root(bao, m, moto, sts_endpoint=proxy.url)
    target = make_role(iam, cleanup)
    write_role(bao, m, "chained", credential_type="assumed_role", role_arns=[target], source_role_arn=hub)

    def hub_expiring_in(seconds: int):
        return lambda seen: (forward_with_expiry(proxy, seen, seconds)
                             if seen.params.get("RoleArn") == hub else None)

    # 4 minutes left: inside the 5-minute margin, so every request assumes the hub again.
    proxy.answer = hub_expiring_in(240)
    for _ in range(2):
        ok(bao.api("POST", f"{m}/creds/chained"), 200)
    assert [c.params["RoleArn"] for c in proxy.calls("AssumeRole")] == [hub, target] * 2

    # 6 minutes left: kept until the margin.
    proxy.clear()
    proxy.answer = hub_expiring_in(360)
    started = time.monotonic()
    for _ in range(3):
        ok(bao.api("POST", f"{m}/creds/chained"), 200)
    assert time.monotonic() - started < 60  # well inside the minute the entry has left
    assert [c.params["RoleArn"] for c in proxy.calls("AssumeRole")] == [hub, target, target, target]
