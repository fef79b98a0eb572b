"""Identity in assumed_role sessions: Vault's identity templates in ``role_session_name``,
``session_tags`` values and ``source_identity``, resolved over the requesting entity.

The entity is real: a userpass login whose alias belongs to an entity with metadata, made
through OpenBao's identity API. What the plugin sends to STS (``RoleSessionName``, ``Tags``,
``SourceIdentity``) is read from the recording proxy of test_sts.py, since moto ignores
tags and source identity. Plugin code: src/aws/session_identity.rs,
src/framework/identity.rs, src/aws/roles/sts_options.rs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from test_sts import (  # noqa: F401 (fixtures are used by name)
    ACCOUNT, captured, cleanup, errors_of, iam, make_role, ok, proxies, proxy, uid, write_role,
)


@dataclass
class Login:
    """A userpass user whose alias is tied to an entity with metadata; ``token`` may read creds."""

    token: str
    entity_id: str
    entity_name: str
    accessor: str
    username: str


@pytest.fixture
def login(bao, captured, cleanup) -> Login:
    """userpass at a fresh path, an entity ``alice-<uid>`` with metadata, and a token of it."""
    m, _ = captured
    path, user, policy = f"up-{uid()}", f"alice{uid()}", f"creds-{uid()}"
    ok(bao.api("POST", f"sys/auth/{path}", {"type": "userpass"}), 204)
    cleanup(lambda: bao.api("DELETE", f"sys/auth/{path}"))
    accessor = ok(bao.api("GET", "sys/auth"), 200)["data"][f"{path}/"]["accessor"]
    ok(bao.api("PUT", f"sys/policies/acl/{policy}", {"policy": (
        f'path "{m}/creds/*" {{ capabilities = ["read", "update"] }}\n'
        f'path "{m}/sts/*" {{ capabilities = ["read", "update"] }}\n')}), 204)
    cleanup(lambda: bao.api("DELETE", f"sys/policies/acl/{policy}"))
    ok(bao.api("POST", f"auth/{path}/users/{user}", {"password": "pw", "token_policies": policy}), 204)
    name = f"alice-{uid()}"
    entity_id = ok(bao.api("POST", "identity/entity", {
        "name": name, "metadata": {"team": "blue", "spaced": "a b"}}), 200)["data"]["id"]
    cleanup(lambda: bao.api("DELETE", f"identity/entity/id/{entity_id}"))
    ok(bao.api("POST", "identity/entity-alias", {
        "name": user, "canonical_id": entity_id, "mount_accessor": accessor}), 200)
    auth = ok(bao.api("POST", f"auth/{path}/login/{user}", {"password": "pw"}, token=None), 200)["auth"]
    assert auth["entity_id"] == entity_id, auth
    return Login(auth["client_token"], entity_id, name, accessor, user)


def validation_text(msg: str) -> str:
    """The rule messages inside Vault's ``error(s) validating supplied role data: "<Go-quoted>"``."""
    prefix = "error(s) validating supplied role data: "
    assert msg.startswith(prefix), msg
    return json.loads(msg[len(prefix):])  # Go's %q of ASCII text is a JSON string


def creds(bao, m: str, role: str, token: str, body: dict | None = None):
    return bao.api("POST", f"{m}/creds/{role}", body or {}, token=token)


def tags_of(call) -> dict[str, str]:
    members = call.members("Tags.member.")
    return {members[f"{n}.Key"]: members[f"{n}.Value"] for n in {k.split(".")[0] for k in members}}


def test_session_says_who_asked(bao, captured, login, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    alias = f"identity.entity.aliases.{login.accessor}"
    write_role(bao, m, "who", credential_type="assumed_role", role_arns=[arn],
               role_session_name="vault-{{identity.entity.name}}",
               source_identity="{{ identity.entity.id }}",
               session_tags=["team={{identity.entity.metadata.team}}",
                             f"login={{{{{alias}.name}}}}", "fixed=static"])
    read = ok(bao.api("GET", f"{m}/roles/who"), 200)["data"]
    assert read["role_session_name"] == "vault-{{identity.entity.name}}"
    assert read["source_identity"] == "{{ identity.entity.id }}"
    assert read["session_tags"]["team"] == "{{identity.entity.metadata.team}}"

    data = ok(creds(bao, m, "who", login.token), 200)["data"]
    call = proxy.only("AssumeRole")
    assert call.params["RoleSessionName"] == f"vault-{login.entity_name}"
    assert call.params["SourceIdentity"] == login.entity_id
    assert tags_of(call) == {"team": "blue", "login": login.username, "fixed": "static"}
    assert data["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{arn.rsplit('/', 1)[1]}/vault-{login.entity_name}"

    # The role's name wins over the caller's: passing one is refused, nothing is assumed.
    proxy.clear()
    assert errors_of(creds(bao, m, "who", login.token, {"role_session_name": "someone-else"})) == [
        'role_session_name is set by Vault role "who"; a request may not pass its own']
    assert proxy.calls() == []


def test_unresolvable_templates_are_400s_naming_field_and_missing_piece(bao, captured, login, iam, cleanup):
    m, proxy = captured
    arn = make_role(iam, cleanup)
    write_role(bao, m, "named", credential_type="assumed_role", role_arns=[arn],
               role_session_name="vault-{{identity.entity.name}}")
    # the root token has no entity
    (msg,) = errors_of(bao.api("POST", f"{m}/creds/named"))
    assert msg.startswith("role_session_name: cannot resolve {{identity.entity.name}}: "
                          "the request's token has no identity entity"), msg

    write_role(bao, m, "cost", credential_type="assumed_role", role_arns=[arn],
               session_tags=["cost={{identity.entity.metadata.cost}}"])
    assert errors_of(creds(bao, m, "cost", login.token)) == [
        'session_tags value for "cost": cannot resolve {{identity.entity.metadata.cost}}: '
        'the entity has no metadata key "cost"']

    write_role(bao, m, "elsewhere", credential_type="assumed_role", role_arns=[arn],
               source_identity="{{identity.entity.aliases.auth_nowhere_1.name}}")
    assert errors_of(creds(bao, m, "elsewhere", login.token)) == [
        "source_identity: cannot resolve {{identity.entity.aliases.auth_nowhere_1.name}}: "
        'the entity has no alias on the auth mount with accessor "auth_nowhere_1"']

    # resolved, but not what AWS accepts: checked before the call
    write_role(bao, m, "spaced", credential_type="assumed_role", role_arns=[arn],
               role_session_name="{{identity.entity.metadata.spaced}}")
    (msg,) = errors_of(creds(bao, m, "spaced", login.token))
    assert msg == ('role_session_name "{{identity.entity.metadata.spaced}}" resolved to "a b": '
                   "AWS allows 2 to 64 characters of letters, digits and +=,.@_- in a session name"), msg
    ok(bao.api("POST", f"identity/entity/id/{login.entity_id}", {"metadata": {"team": "x" * 257}}))
    write_role(bao, m, "longtag", credential_type="assumed_role", role_arns=[arn],
               session_tags=["team={{identity.entity.metadata.team}}"])
    assert errors_of(creds(bao, m, "longtag", login.token)) == [
        'session_tags value for "team" is 257 characters long after templating: '
        "AWS allows at most 256 characters in a session tag value"]
    assert proxy.calls() == []  # none of these reached STS

    # Literal values work as before, also for a token without an entity.
    write_role(bao, m, "literal", credential_type="assumed_role", role_arns=[arn],
               role_session_name="ci-build", source_identity="ci-bot", session_tags=["team=blue"])
    ok(bao.api("POST", f"{m}/creds/literal"), 200)
    call = proxy.only("AssumeRole")
    assert (call.params["RoleSessionName"], call.params["SourceIdentity"]) == ("ci-build", "ci-bot")
    assert tags_of(call) == {"team": "blue"}


@pytest.mark.parametrize("fields, error", [
    ({"role_session_name": "{{identity.groups.names}}"},
     'invalid role_session_name "{{identity.groups.names}}": unsupported template directive'),
    ({"role_session_name": "a b {{identity.entity.id}}"},
     'invalid role_session_name "a b {{identity.entity.id}}": the text around its templates'),
    ({"source_identity": "x"},
     'invalid source_identity "x": AWS allows 2 to 64 characters'),
    ({"session_tags": ["team={{identity.entity.metadata.team"]},
     'invalid session_tags value for "team": unbalanced templating characters'),
    ({"credential_type": "federation_token", "role_session_name": "ok-name"},
     "cannot supply role_session_name when credential_type isn't assumed_role"),
])
def test_bad_template_fields_are_refused_and_nothing_is_stored(bao, captured, fields, error):
    m, _ = captured
    base = {"credential_type": "assumed_role", "role_arns": [f"arn:aws:iam::{ACCOUNT}:role/x"]}
    write_role(bao, m, "kept", **base, role_session_name="kept-name")
    for name in ("kept", "new"):
        (msg,) = errors_of(bao.api("POST", f"{m}/roles/{name}", {**base, **fields}))
        assert error in validation_text(msg), msg
    assert ok(bao.api("GET", f"{m}/roles/kept"), 200)["data"]["role_session_name"] == "kept-name"
    assert bao.api("GET", f"{m}/roles/new")[0] == 404


def test_new_role_fields_in_path_help_and_openapi(bao, captured):
    m, _ = captured
    new = ("role_session_name", "source_identity", "source_role_arn", "source_external_id", "no_lease")
    res = bao.cli("path-help", f"{m}/roles/x")
    assert res.returncode == 0, res.stderr
    for field in new:
        assert f"\n    {field} (" in res.stdout, (field, res.stdout)
    assert "identity templates" in res.stdout
    status, body = bao.api("GET", "sys/internal/specs/openapi")
    assert status == 200, body
    props = body["paths"][f"/{m}/roles/{{name}}"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    assert {f: props[f]["type"] for f in new} == {
        "role_session_name": "string", "source_identity": "string", "source_role_arn": "string",
        "source_external_id": "string", "no_lease": "boolean"}
