"""STS credentials without a lease (role option ``no_lease``): nothing under
sys/leases/lookup, the data keeps ``ttl`` and ``expiration``, and the real ``bao agent``
keeps rendering fresh credentials before the old ones expire.

The agent treats a secret without a lease as static and fetches it again every
``template_config.static_secret_render_interval`` (5 minutes by default, under AWS's 15-minute
minimum session); here sessions last 30 s (moto does not enforce AWS's minimum) and the
interval is 3 s, so the test takes seconds. Plugin code: src/aws/sts.rs (``sts_response``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

import devstack
from test_sts import (  # noqa: F401 (fixtures are used by name)
    ACCOUNT, S3_READ, captured, cleanup, errors_of, iam, make_role, ok, proxies, proxy, uid,
    write_role,
)

DATA_KEYS = {"access_key", "secret_key", "session_token", "security_token", "ttl", "expiration"}


def expires_at(data: dict) -> datetime:
    at = datetime.fromisoformat(data["expiration"])
    assert at.tzinfo is not None, data  # RFC 3339 always has an offset
    return at


def no_lease_role(bao, m: str, cred_type: str, iam, cleanup, **extra) -> None:
    fields = dict(credential_type=cred_type, no_lease=True, **extra)
    if cred_type == "assumed_role":
        fields["role_arns"] = [make_role(iam, cleanup)]
    elif cred_type == "federation_token":
        fields["policy_document"] = json.dumps(S3_READ)
    write_role(bao, m, "nl", **fields)


@pytest.mark.parametrize("cred_type, action", [
    ("assumed_role", "AssumeRole"), ("federation_token", "GetFederationToken"),
    ("session_token", "GetSessionToken"),
])
def test_credentials_come_without_a_lease_but_with_their_expiry(bao, captured, iam, cleanup, cred_type, action):
    m, proxy = captured
    no_lease_role(bao, m, cred_type, iam, cleanup)
    assert ok(bao.api("GET", f"{m}/roles/nl"), 200)["data"]["no_lease"] is True

    for prefix in ("creds", "sts"):
        body = ok(bao.api("POST", f"{m}/{prefix}/nl", {"ttl": "20m"}), 200)
        data = body["data"]
        assert (body["lease_id"], body["lease_duration"], body["renewable"]) == ("", 0, False), body
        assert set(data) == DATA_KEYS | ({"arn"} if cred_type == "assumed_role" else set()), data
        assert 1185 <= data["ttl"] <= 1200, data
        left = (expires_at(data) - datetime.now(timezone.utc)).total_seconds()
        assert abs(left - data["ttl"]) <= 5, (left, data)
        assert proxy.calls(action)[-1].params["DurationSeconds"] == "1200"
        status, body = bao.api("GET", f"sys/leases/lookup/{m}/{prefix}/nl?list=true")
        assert status == 404 and not (body or {}).get("data"), (prefix, status, body)

    # Turning it off gives the lease back (the default), and the lookup above then finds it.
    write_role(bao, m, "nl", no_lease=False)
    body = ok(bao.api("POST", f"{m}/creds/nl"), 200)
    assert body["lease_id"].startswith(f"{m}/creds/nl/") and body["lease_duration"] > 0
    assert "expiration" not in body["data"]
    listed = ok(bao.api("GET", f"sys/leases/lookup/{m}/creds/nl?list=true"), 200)["data"]["keys"]
    assert body["lease_id"].rsplit("/", 1)[-1] in listed, listed


def test_no_lease_is_refused_for_iam_user(bao, captured):
    m, _ = captured
    (msg,) = errors_of(bao.api("POST", f"{m}/roles/u", {"credential_type": "iam_user", "no_lease": True}))
    assert "no_lease parameter only valid for assumed_role, federation_token, and session_token" in msg
    assert bao.api("GET", f"{m}/roles/u")[0] == 404


class Agent(devstack.ManagedProcess):
    """``bao agent`` (the server's own binary) with an approle auto-auth and one template."""

    kind = "bao-agent"

    def __init__(self, bao, approle_path: str, role_id: str, secret_id: str, secret_path: str,
                 render_interval: str):
        super().__init__()
        self.bao = bao
        (self.workdir / "role_id").write_text(role_id)
        (self.workdir / "secret_id").write_text(secret_id)
        self.output = self.workdir / "aws.json"
        template = ('{{ with secret "%s" }}{"access_key":"{{ .Data.access_key }}",'
                    '"expiration":"{{ .Data.expiration }}","ttl":{{ .Data.ttl }},'
                    '"arn":"{{ .Data.arn }}"}{{ end }}' % secret_path)
        self.config = self.workdir / "agent.hcl"
        self.config.write_text(f'''
auto_auth {{
  method "approle" {{
    mount_path = "auth/{approle_path}"
    config = {{
      role_id_file_path = "{self.workdir / 'role_id'}"
      secret_id_file_path = "{self.workdir / 'secret_id'}"
      remove_secret_id_file_after_reading = false
    }}
  }}
}}
template_config {{
  static_secret_render_interval = "{render_interval}"
}}
template {{
  destination = "{self.output}"
  contents = {json.dumps(template)}
}}
''')

    def start(self) -> "Agent":
        env = {k: v for k, v in self.bao.env().items() if not k.endswith("_TOKEN")}
        self._spawn([self.bao.bin, "agent", f"-address={self.bao.addr}", f"-config={self.config}"], env=env)
        return self

    def rendered(self) -> dict | None:
        try:
            return json.loads(self.output.read_text())
        except (FileNotFoundError, ValueError):
            return None


def test_bao_agent_renders_fresh_credentials_before_they_expire(bao, captured, iam, cleanup):
    m, proxy = captured
    path, name, policy = f"ar-{uid()}", f"agent{uid()}", f"agent-{uid()}"
    ok(bao.api("POST", f"sys/auth/{path}", {"type": "approle"}), 204)
    cleanup(lambda: bao.api("DELETE", f"sys/auth/{path}"))
    accessor = ok(bao.api("GET", "sys/auth"), 200)["data"][f"{path}/"]["accessor"]
    ok(bao.api("PUT", f"sys/policies/acl/{policy}",
               {"policy": f'path "{m}/creds/*" {{ capabilities = ["read"] }}'}), 204)
    cleanup(lambda: bao.api("DELETE", f"sys/policies/acl/{policy}"))
    ok(bao.api("POST", f"auth/{path}/role/{name}", {"token_policies": policy}), 204)
    role_id = ok(bao.api("GET", f"auth/{path}/role/{name}/role-id"), 200)["data"]["role_id"]
    secret_id = ok(bao.api("POST", f"auth/{path}/role/{name}/secret-id"), 200)["data"]["secret_id"]
    # The session names the agent's approle role (approle puts role_name in the alias metadata).
    no_lease_role(bao, m, "assumed_role", iam, cleanup, default_sts_ttl="30s",
                  role_session_name=f"agent-{{{{identity.entity.aliases.{accessor}.metadata.role_name}}}}")

    agent = Agent(bao, path, role_id, secret_id, f"{m}/creds/nl", "3s").start()
    try:
        renders: list[tuple[float, dict]] = []  # (when it appeared, what was rendered)
        deadline = time.time() + 45
        while len(renders) < 3:
            assert time.time() < deadline, f"agent rendered {len(renders)} credentials in 45 s: {renders}"
            got = agent.rendered()
            if got and (not renders or got["access_key"] != renders[-1][1]["access_key"]):
                renders.append((time.time(), got))
            time.sleep(0.2)
    finally:
        agent.stop()

    for (_, old), (seen, new) in zip(renders, renders[1:]):
        assert seen < expires_at(old).timestamp(), (old, new)  # replaced before it expired
        assert expires_at(new) > expires_at(old)
    for _, got in renders:
        assert 0 < got["ttl"] <= 30 and got["arn"].endswith(f"/agent-{name}"), got
    assert all(c.params["RoleSessionName"] == f"agent-{name}" for c in proxy.calls("AssumeRole"))
    status, _ = bao.api("GET", f"sys/leases/lookup/{m}/creds/nl?list=true")
    assert status == 404  # the agent's reads left no lease behind
