"""iam_user credentials end to end: real OpenBao + moto + the release binary.

Contract: Vault's AWS engine (builtin/logical/aws: path_roles.go, path_user.go,
iam_helpers.go, secret_access_keys.go). Texts are Vault's (the newest community edition).

What moto can and cannot tell us (moto 5.2.5, probed):

* AWS managed policies (``arn:aws:iam::aws:policy/ReadOnlyAccess``) exist only
  when moto starts with ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (devstack.Moto
  does that by default); they cannot be created with CreatePolicy.
* ``moto.set_auth(0)`` makes moto check every request's signature against the
  IAM users' keys and evaluate their policies (explicit Deny included);
  ``sts:GetCallerIdentity`` is always allowed. While it is on, the dummy
  ``testing`` key is refused, so the engine's root key must be a real moto user
  with an admin policy (fixture ``root_user``), and checks use that key too.
* moto's DeleteUser does NOT refuse a user that still has a login profile, MFA
  device, SSH key, signing certificate or keys (real IAM answers DeleteConflict),
  and it ignores CreateUser's PermissionsBoundary. So "complete teardown" and
  "boundary set" are proven from moto's request recorder (/moto-api/recorder):
  the exact IAM calls the plugin made.
* moto does not implement service-specific credentials at all (HTTP 500
  NotImplementedError for List/CreateServiceSpecificCredential[s]), so that
  part of the teardown cannot be exercised here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

import devstack

ACCOUNT = "123456789012"  # moto's default account
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app"
DEFAULT_TEMPLATE = (
    '{{ if (eq .Type "STS") }}{{ printf "vault-%s-%s"  (unix_time) (random 20) | truncate 32 }}'
    '{{ else }}{{ printf "vault-%s-%s-%s" (printf "%s-%s" (.DisplayName) (.PolicyName) | truncate 42) '
    '(unix_time) (random 20) | truncate 64 }}{{ end }}'
)
LEGACY_WARNING = "Detected use of legacy role or policy parameter. Please upgrade to use the new parameters."
STS_TYPES = "assumed_role, federation_token, and session_token credential types"
USER_PATH_REGEX = r"^\/([\x21-\x7F]{0,510}\/)?$"
DEADLINE = 30.0

INLINE_DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def wait_until(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def go_quote(s: str) -> str:
    """Go's %q for the ASCII texts used here (strconv.Quote)."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def multierror(*msgs: str) -> str:
    """hashicorp/go-multierror's default rendering."""
    head = "1 error occurred:" if len(msgs) == 1 else f"{len(msgs)} errors occurred:"
    return head + "\n" + "".join(f"\t* {m}\n" for m in msgs) + "\n"


def validation_error(*msgs: str) -> str:
    return f"error(s) validating supplied role data: {go_quote(multierror(*msgs))}"


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


def cli_json(bao, *args: str) -> dict:
    res = bao.cli(*args[:-1], "-format=json", args[-1]) if args[0] in ("read", "write") else bao.cli(*args)
    assert res.returncode == 0, f"bao {' '.join(args)} failed:\n{res.stdout}{res.stderr}"
    return json.loads(res.stdout)


def cli_ok(bao, *args: str) -> str:
    res = bao.cli(*args)
    assert res.returncode == 0, f"bao {' '.join(args)} failed:\n{res.stdout}{res.stderr}"
    return res.stdout + res.stderr


def configure_root(bao, m: str, moto, access_key: str = "testing", secret_key: str = "testing", **extra) -> None:
    body = dict(access_key=access_key, secret_key=secret_key, region="us-east-1",
                iam_endpoint=moto.endpoint, sts_endpoint=moto.endpoint, **extra)
    ok(bao.api("POST", f"{m}/config/root", body), 204)


def write_role(bao, m: str, name: str, **fields) -> Any:
    return ok(bao.api("POST", f"{m}/roles/{name}", fields), 200, 204)


def issue(bao, m: str, role: str, prefix: str = "creds") -> dict:
    return ok(bao.api("GET", f"{m}/{prefix}/{role}"), 200)


def token_display_name(bao) -> str:
    """The root token's display name, as the engine sees it (OpenBao's dev root token: "token")."""
    return cli_json(bao, "token", "lookup", "-format=json")["data"]["display_name"]


def user_names(iam) -> set[str]:
    names = set()
    for page in iam.get_paginator("list_users").paginate():
        names.update(u["UserName"] for u in page["Users"])
    return names


def engine_users(iam, role: str) -> set[str]:
    """Users the engine made for ``role`` (default template: vault-<display>-<role>-<unix>-<rand>)."""
    return {n for n in user_names(iam) if n.startswith("vault-") and f"-{role}-" in n}


def user_exists(iam, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchEntity":
            return False
        raise


MOUNT_TAG = "vault-secrets-aws-mount"


def mount_uuid(bao, m: str) -> str:
    """The mount's backend UUID: the value of the tag on every user it creates."""
    status, body = bao.api("GET", f"{m}/config/tidy")
    assert status == 200, body
    assert body["data"]["mount_tag_key"] == MOUNT_TAG
    return body["data"]["mount_tag_value"]


def owner_of_key(iam, access_key_id: str) -> str:
    return iam.get_access_key_last_used(AccessKeyId=access_key_id)["UserName"]


def delete_user_fully(iam, name: str) -> None:
    """Test cleanup that does not depend on the plugin."""
    if not user_exists(iam, name):
        return
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    for p in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=p)
    for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=p["PolicyArn"])
    for g in iam.list_groups_for_user(UserName=name)["Groups"]:
        iam.remove_user_from_group(UserName=name, GroupName=g["GroupName"])
    iam.delete_user(UserName=name)


def self_signed_cert_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ssh_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


class Recorder:
    """moto's request recorder: which IAM actions were called, with which parameters."""

    def __init__(self, moto):
        self.moto = moto

    def _post(self, what: str) -> bytes:
        status, body = devstack.http_request("POST", f"{self.moto.endpoint}/moto-api/recorder/{what}")
        assert status == 200, f"moto recorder {what}: HTTP {status} {body!r}"
        return body

    def __enter__(self) -> "Recorder":
        self._post("reset-recording")
        self._post("start-recording")
        return self

    def __exit__(self, *exc) -> None:
        self._post("stop-recording")

    def calls(self) -> list[tuple[str, dict]]:
        status, raw = devstack.http_request("GET", f"{self.moto.endpoint}/moto-api/recorder/download-recording")
        assert status == 200
        calls = []
        for line in raw.decode().splitlines():
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode(errors="replace")
            params = urllib.parse.parse_qs(body) if "=" in body else {}
            query = urllib.parse.urlparse(entry["url"]).query
            if query:
                params.update(urllib.parse.parse_qs(query))
            flat = {k: v[0] for k, v in params.items()}
            if "Action" in flat:
                calls.append((flat.pop("Action"), flat))
        return calls

    def for_user(self, user: str) -> list[tuple[str, dict]]:
        return [(a, p) for a, p in self.calls() if p.get("UserName") == user]


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@dataclass
class RootUser:
    name: str
    access_key: str
    secret_key: str


ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.fixture
def iam(moto):
    """boto3 IAM client with moto's dummy key (works while auth is off)."""
    return moto.client("iam")


@pytest.fixture
def moto_auth(moto):
    """``with moto_auth():`` -- moto checks signatures and policies inside the block."""

    @contextlib.contextmanager
    def enforced():
        moto.set_auth(0)
        try:
            yield
        finally:
            moto.set_auth(float("inf"))

    yield enforced
    moto.set_auth(float("inf"))


@pytest.fixture
def root_user(moto):
    """Factory: a real moto IAM user with an admin inline policy and one access key."""
    made: list[str] = []

    def make(extra_statements: tuple = ()) -> RootUser:
        iam = moto.client("iam")
        name = f"engine-root-{uid()}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [ADMIN, *extra_statements]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        made.append(name)
        return RootUser(name, key["AccessKeyId"], key["SecretAccessKey"])

    yield make
    moto.set_auth(float("inf"))
    iam = moto.client("iam")
    for name in made:
        delete_user_fully(iam, name)


@pytest.fixture
def configured(bao, moto, mount):
    """A fresh mount with config/root (moto's dummy key) and config/lease 1h/2h."""
    m = mount()
    configure_root(bao, m, moto)
    ok(bao.api("POST", f"{m}/config/lease", {"lease": "1h", "lease_max": "2h"}), 204)
    return m


# --------------------------------------------------------------------------
# The seed workflow, verbatim through the bao CLI
# --------------------------------------------------------------------------


def test_moto_knows_aws_managed_policies(iam):
    """The seed workflow attaches an AWS managed policy; moto must know it."""
    assert iam.get_policy(PolicyArn=READ_ONLY)["Policy"]["Arn"] == READ_ONLY


def test_seed_workflow_with_the_bao_cli(bao, moto, mount, iam):
    m = mount()
    out = cli_ok(bao, "write", f"{m}/config/root", "access_key=testing", "secret_key=testing",
                 "region=us-east-1", f"iam_endpoint={moto.endpoint}", f"sts_endpoint={moto.endpoint}")
    assert f"Success! Data written to: {m}/config/root" in out
    cli_ok(bao, "write", f"{m}/config/lease", "lease=1h", "lease_max=2h")
    out = cli_ok(bao, "write", f"{m}/roles/dev", "credential_type=iam_user", f"policy_arns={READ_ONLY}")
    assert f"Success! Data written to: {m}/roles/dev" in out

    display = token_display_name(bao)
    leases = []
    for _ in range(3):
        creds = cli_json(bao, "read", f"{m}/creds/dev")
        assert creds["lease_id"].startswith(f"{m}/creds/dev/"), creds
        assert creds["lease_duration"] == 3600
        assert creds["renewable"] is True
        data = creds["data"]
        assert data["access_key"].startswith("AKIA") and data["secret_key"]
        assert "session_token" in data and data["session_token"] is None, data
        user = owner_of_key(iam, data["access_key"])
        # default template: vault-<token display name>-<role>-<unix time>-<20 random>
        assert re.fullmatch(rf"vault-{display}-dev-\d{{10}}-[0-9A-Za-z]{{20}}", user), user
        assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]] == [READ_ONLY]
        leases.append((creds["lease_id"], user))

    first_id, first_user = leases[0]
    cli_ok(bao, "lease", "revoke", "-sync", first_id)
    assert not user_exists(iam, first_user), "revoke -sync returned but the IAM user still exists"
    assert all(user_exists(iam, u) for _, u in leases[1:]), "revoking one lease touched other users"

    cli_ok(bao, "lease", "revoke", "-sync", "-prefix", f"{m}/creds/dev")
    for _, user in leases:
        assert not user_exists(iam, user)
    res = bao.cli("list", f"sys/leases/lookup/{m}/creds/dev/")
    assert res.returncode != 0 or not res.stdout.strip(), res.stdout


def test_renew_uses_config_lease_and_honours_increment(bao, configured, iam):
    m = configured
    write_role(bao, m, "dev", credential_type="iam_user", policy_arns=READ_ONLY)
    lease_id = issue(bao, m, "dev")["lease_id"]
    renewed = cli_json(bao, "lease", "renew", "-format=json", lease_id)
    assert renewed["lease_id"] == lease_id
    assert renewed["lease_duration"] == 3600 and renewed["renewable"] is True
    renewed = cli_json(bao, "lease", "renew", "-format=json", "-increment=600", lease_id)
    assert renewed["lease_duration"] == 600
    cli_ok(bao, "lease", "revoke", "-sync", lease_id)


def test_lease_comes_from_config_lease_not_mount_defaults(bao, moto, mount):
    m = mount()
    configure_root(bao, m, moto)
    ok(bao.api("POST", f"{m}/config/lease", {"lease": "30m", "lease_max": "1h"}), 204)
    write_role(bao, m, "dev", credential_type="iam_user", policy_arns=READ_ONLY)
    creds = issue(bao, m, "dev")
    assert creds["lease_duration"] == 1800 and creds["renewable"] is True
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])


# --------------------------------------------------------------------------
# The same through hvac
# --------------------------------------------------------------------------


def test_workflow_with_hvac(bao, moto, mount, hvac_client, iam, root_user):
    import hvac

    aws = hvac_client.secrets.aws
    m = mount()
    root = root_user()
    aws.configure_root_iam_credentials(access_key=root.access_key, secret_key=root.secret_key,
                                       region="us-east-1", iam_endpoint=moto.endpoint,
                                       sts_endpoint=moto.endpoint, mount_point=m)
    aws.configure_lease(lease="1h", lease_max="2h", mount_point=m)
    assert aws.read_lease_config(mount_point=m)["data"] == {"lease": "1h0m0s", "lease_max": "2h0m0s"}

    # hvac sends a dict policy_document pretty-printed (indent=4); the engine stores it compacted
    aws.create_or_update_role("dev", "iam_user", policy_arns=[READ_ONLY], policy_document=INLINE_DOC,
                              iam_tags=["team=qa", "env=test"], mount_point=m)
    aws.create_or_update_role("ops", "iam_user", policy_arns=READ_ONLY, mount_point=m)
    role = aws.read_role("dev", mount_point=m)["data"]
    assert role["credential_type"] == "iam_user"
    assert role["policy_arns"] == [READ_ONLY]
    assert role["policy_document"] == json.dumps(INLINE_DOC, indent=None, separators=(",", ":"), sort_keys=True)
    assert role["iam_tags"] == {"team": "qa", "env": "test"}
    assert aws.list_roles(mount_point=m)["data"]["keys"] == ["dev", "ops"]

    creds = aws.generate_credentials("dev", mount_point=m)
    assert creds["lease_id"].startswith(f"{m}/creds/dev/")
    assert creds["lease_duration"] == 3600 and creds["renewable"] is True
    user = owner_of_key(iam, creds["data"]["access_key"])
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["dev"]
    hvac_client.sys.revoke_lease(creds["lease_id"])  # async revoke: poll
    wait_until(lambda: not user_exists(iam, user), f"user {user} deleted after revoke")

    new = aws.rotate_root_iam_credentials(mount_point=m)
    assert set(new["data"]) == {"access_key"} and new["data"]["access_key"] != root.access_key
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=root.name)["AccessKeyMetadata"]] == \
        [new["data"]["access_key"]]

    creds = aws.generate_credentials("ops", mount_point=m)  # the engine keeps working after rotation
    user = owner_of_key(iam, creds["data"]["access_key"])
    assert user.startswith(f"vault-{token_display_name(bao)}-ops-")

    resp = aws.delete_role("dev", mount_point=m)
    assert resp.status_code == 204
    with pytest.raises(hvac.exceptions.InvalidPath):
        aws.read_role("dev", mount_point=m)
    assert aws.list_roles(mount_point=m)["data"]["keys"] == ["ops"]
    hvac_client.sys.revoke_prefix(f"{m}/creds/ops")
    wait_until(lambda: not user_exists(iam, user), f"user {user} deleted after prefix revoke")


# --------------------------------------------------------------------------
# Issued keys work, and the user is exactly what the role says
# --------------------------------------------------------------------------


def test_issued_key_authenticates_and_user_matches_role(bao, moto, mount, root_user, moto_auth):
    iam0 = moto.client("iam")
    r = f"full{uid()}"
    group_a, group_b = f"grp-a-{uid()}", f"grp-b-{uid()}"
    for g in (group_a, group_b):
        iam0.create_group(GroupName=g)
    boundary = iam0.create_policy(PolicyName=f"boundary-{uid()}", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [ADMIN]}))["Policy"]["Arn"]
    extra = iam0.create_policy(PolicyName=f"extra-{uid()}", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}))["Policy"]["Arn"]
    root = root_user()
    m = mount()
    configure_root(bao, m, moto, root.access_key, root.secret_key)
    write_role(bao, m, r, credential_type="iam_user", policy_arns=[READ_ONLY, extra],
               policy_document=json.dumps(INLINE_DOC), iam_groups=[group_a, group_b],
               iam_tags={"team": "qa", "cost-center": "42"}, user_path="/vault/test/",
               permissions_boundary_arn=boundary)
    admin = moto.client("iam", root.access_key, root.secret_key)
    try:
        with moto_auth(), Recorder(moto) as rec:
            with pytest.raises(ClientError) as e:  # enforcement is really on
                moto.client("iam").list_users()
            assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"

            creds = issue(bao, m, r)
            key, secret = creds["data"]["access_key"], creds["data"]["secret_key"]
            user = owner_of_key(admin, key)

            ident = wait_until(lambda: _try(lambda: moto.client("sts", key, secret).get_caller_identity()),
                               "the issued key to authenticate")
            assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/vault/test/{user}"
            assert ident["Account"] == ACCOUNT
            mine = moto.client("iam", key, secret)
            got = mine.get_user(UserName=user)["User"]  # iam:GetUser is in ReadOnlyAccess
            assert got["Path"] == "/vault/test/" and got["UserName"] == user
            with pytest.raises(ClientError) as e:  # ... and nothing beyond the role's policies
                mine.create_user(UserName=f"intruder-{uid()}")
            assert e.value.response["Error"]["Code"] == "AccessDenied"
            with pytest.raises(ClientError) as e:  # a wrong secret is refused
                moto.client("sts", key, secret[:-1] + ("A" if secret[-1] != "A" else "B")).get_caller_identity()
            assert e.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidClientTokenId")

            # exactly the role's policies, groups, tags
            attached = {p["PolicyArn"] for p in admin.list_attached_user_policies(UserName=user)["AttachedPolicies"]}
            assert attached == {READ_ONLY, extra}
            assert admin.list_user_policies(UserName=user)["PolicyNames"] == [r]
            doc = admin.get_user_policy(UserName=user, PolicyName=r)["PolicyDocument"]
            doc = json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc
            assert doc == INLINE_DOC
            assert {g["GroupName"] for g in admin.list_groups_for_user(UserName=user)["Groups"]} == {group_a, group_b}
            tags = {t["Key"]: t["Value"] for t in admin.list_user_tags(UserName=user)["Tags"]}
            assert tags == {"team": "qa", "cost-center": "42", MOUNT_TAG: mount_uuid(bao, m)}
            keys = admin.list_access_keys(UserName=user)["AccessKeyMetadata"]
            assert [k["AccessKeyId"] for k in keys] == [key]

            # moto drops CreateUser's boundary, so check what the plugin sent
            create = [p for a, p in rec.for_user(user) if a == "CreateUser"]
            assert len(create) == 1, rec.for_user(user)
            assert create[0].get("PermissionsBoundary") == boundary
            assert create[0].get("Path") == "/vault/test/"
            # The tags go on CreateUser itself (hashicorp/vault#32001), none with TagUser.
            sent = {create[0][f"Tags.member.{i}.Key"]: create[0][f"Tags.member.{i}.Value"]
                    for i in range(1, 4) if f"Tags.member.{i}.Key" in create[0]}
            assert sent == tags, create[0]
            assert not [a for a, _ in rec.for_user(user) if a == "TagUser"], rec.for_user(user)

            # revoke while moto still checks the engine's signature
            cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
            assert not user_exists(admin, user)
            with pytest.raises(ClientError) as e:
                moto.client("sts", key, secret).get_caller_identity()
            assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    finally:
        with contextlib.suppress(ClientError):
            for g in (group_a, group_b):
                iam0.delete_group(GroupName=g)
            iam0.delete_policy(PolicyArn=boundary)
            iam0.delete_policy(PolicyArn=extra)


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ClientError:
        return None


def test_user_path_default_is_root(bao, configured, iam):
    m = configured
    write_role(bao, m, "plain", credential_type="iam_user")  # no policy at all is allowed
    creds = issue(bao, m, "plain")
    user = owner_of_key(iam, creds["data"]["access_key"])
    got = iam.get_user(UserName=user)["User"]
    assert got["Path"] == "/" and got["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    assert iam.list_groups_for_user(UserName=user)["Groups"] == []
    # Only the tag naming the mount, which every user of the engine carries.
    assert iam.list_user_tags(UserName=user)["Tags"] == [{"Key": MOUNT_TAG, "Value": mount_uuid(bao, m)}]
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
    assert not user_exists(iam, user)


# --------------------------------------------------------------------------
# Revoke tears the user down completely
# --------------------------------------------------------------------------


def test_revoke_removes_everything_the_user_has(bao, moto, configured, iam):
    m = configured
    r = f"rm{uid()}"
    g1, g2 = f"g1-{uid()}", f"g2-{uid()}"
    for g in (g1, g2):
        iam.create_group(GroupName=g)
    write_role(bao, m, r, credential_type="iam_user", policy_arns=READ_ONLY,
               policy_document=json.dumps(INLINE_DOC), iam_groups=g1, iam_tags="a=b")
    creds = issue(bao, m, r)
    user = owner_of_key(iam, creds["data"]["access_key"])
    mfa_name = f"mfa-{user}"[:120]
    try:
        # Things a person adds to the user after it was issued (hashicorp/vault#16685).
        iam.create_login_profile(UserName=user, Password="Very-Long-Passw0rd!")
        ssh_id = iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=ssh_public_key())[
            "SSHPublicKey"]["SSHPublicKeyId"]
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=mfa_name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1="123456",
                              AuthenticationCode2="654321")
        cert_id = iam.upload_signing_certificate(UserName=user, CertificateBody=self_signed_cert_pem())[
            "Certificate"]["CertificateId"]
        second_key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        iam.put_user_policy(UserName=user, PolicyName="added-later", PolicyDocument=json.dumps(INLINE_DOC))
        iam.add_user_to_group(UserName=user, GroupName=g2)

        with Recorder(moto) as rec:
            cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
        with pytest.raises(ClientError) as e:
            iam.get_user(UserName=user)
        assert e.value.response["Error"]["Code"] == "NoSuchEntity"

        calls = rec.for_user(user)
        actions = [a for a, _ in calls]
        assert actions and actions[-1] == "DeleteUser", actions

        def done(action: str, **params: str) -> bool:
            return any(a == action and all(p.get(k) == v for k, v in params.items()) for a, p in calls)

        expected = [
            ("DeleteAccessKey", {"AccessKeyId": creds["data"]["access_key"]}),
            ("DeleteAccessKey", {"AccessKeyId": second_key}),
            ("DetachUserPolicy", {"PolicyArn": READ_ONLY}),
            ("DeleteUserPolicy", {"PolicyName": r}),
            ("DeleteUserPolicy", {"PolicyName": "added-later"}),
            ("RemoveUserFromGroup", {"GroupName": g1}),
            ("RemoveUserFromGroup", {"GroupName": g2}),
            ("DeleteLoginProfile", {}),
            ("DeactivateMFADevice", {"SerialNumber": serial}),
            ("DeleteSSHPublicKey", {"SSHPublicKeyId": ssh_id}),
            ("DeleteSigningCertificate", {"CertificateId": cert_id}),
        ]
        missing = [f"{a} {p}" for a, p in expected if not done(a, **p)]
        assert not missing, f"revoke did not remove: {missing}; calls for the user: {actions}"
        # moto keeps a virtual MFA device assigned to a deleted user unless it was deactivated
        assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
        assert serial not in [d["SerialNumber"] for d in assigned]
    finally:
        delete_user_fully(iam, user)
        for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]:
            if d["SerialNumber"].endswith(f"/{mfa_name}"):
                if d.get("User"):
                    with contextlib.suppress(ClientError):
                        iam.deactivate_mfa_device(UserName=d["User"]["UserName"], SerialNumber=d["SerialNumber"])
                iam.delete_virtual_mfa_device(SerialNumber=d["SerialNumber"])
        with contextlib.suppress(ClientError):
            for g in (g1, g2):
                iam.delete_group(GroupName=g)


def test_revoke_of_an_untouched_user_removes_what_its_lease_records_without_listing(bao, moto, configured, iam):
    # Every IAM call counts against the account's rate limit (hashicorp/vault#2735): a user
    # nobody changed by hand is deleted with one call per item it holds, plus DeleteUser.
    m = configured
    r = f"known{uid()}"
    g = f"gk-{uid()}"
    iam.create_group(GroupName=g)
    try:
        write_role(bao, m, r, credential_type="iam_user", policy_arns=READ_ONLY,
                   policy_document=json.dumps(INLINE_DOC), iam_groups=g)
        creds = issue(bao, m, r)
        user = owner_of_key(iam, creds["data"]["access_key"])
        with Recorder(moto) as rec:
            cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
        with pytest.raises(ClientError) as e:
            iam.get_user(UserName=user)
        assert e.value.response["Error"]["Code"] == "NoSuchEntity"
        calls = rec.for_user(user)
        assert sorted(a for a, _ in calls) == sorted([
            "DeleteAccessKey", "DetachUserPolicy", "DeleteUserPolicy", "RemoveUserFromGroup", "DeleteUser"]), calls
        assert calls[-1][0] == "DeleteUser", calls
    finally:
        iam.delete_group(GroupName=g)


def test_prefix_revoke_of_25_leases_leaves_no_user(bao, configured, iam):
    m = configured
    r = f"many{uid()}"
    write_role(bao, m, r, credential_type="iam_user", policy_arns=READ_ONLY)
    lease_ids = [issue(bao, m, r)["lease_id"] for _ in range(25)]
    assert len(set(lease_ids)) == 25
    assert len(engine_users(iam, r)) == 25
    cli_ok(bao, "lease", "revoke", "-sync", "-prefix", f"{m}/creds/{r}")
    wait_until(lambda: not engine_users(iam, r), f"0 users of role {r} left")
    status, body = bao.api("LIST", f"sys/leases/lookup/{m}/creds/{r}/")
    assert status == 404 or not body["data"].get("keys"), body


# --------------------------------------------------------------------------
# A failure half-way leaves nothing behind
# --------------------------------------------------------------------------


@pytest.mark.parametrize("field,value,prefix", [
    ("policy_arns", f"arn:aws:iam::{ACCOUNT}:policy/does-not-exist", "Error attaching user policy: "),
    ("iam_groups", "no-such-group", "Error adding user to group: "),
    ("policy_document", json.dumps({"foo": "bar"}), "Error putting user policy: "),
], ids=["missing-policy-arn", "missing-group", "malformed-policy-document"])
def test_half_created_user_is_deleted_at_once(bao, moto, configured, iam, field, value, prefix):
    m = configured
    r = f"half{uid()}"
    write_role(bao, m, r, credential_type="iam_user", **{field: value})
    before = {n for n in user_names(iam) if n.startswith("vault-")}
    with Recorder(moto) as rec:
        errors = errors_of(bao.api("GET", f"{m}/creds/{r}"), 400)
    assert len(errors) == 1 and errors[0].startswith(prefix), errors
    after = {n for n in user_names(iam) if n.startswith("vault-")}
    assert after - before == set(), f"half-created user left behind: {after - before}"
    created = [p["UserName"] for a, p in rec.calls() if a == "CreateUser"]
    assert len(created) == 1, rec.calls()
    user = created[0]
    assert not user_exists(iam, user)
    actions = [a for a, _ in rec.for_user(user)]
    assert actions[-1] == "DeleteUser" and "CreateAccessKey" not in actions, actions


def test_creds_for_missing_role(bao, configured):
    assert errors_of(bao.api("GET", f"{configured}/creds/nope"), 400) == ['Role "nope" not found']


# --------------------------------------------------------------------------
# roles/<name>: validation (path_roles.go), nothing stored after a 400
# --------------------------------------------------------------------------

BOUNDARY = "arn:aws:iam::aws:policy/PowerUserAccess"

VALIDATION_CASES = [
    ("no-credential-type", {"policy_arns": READ_ONLY}, ["did not supply credential_type"]),
    ("unknown-credential-type", {"credential_type": "bogus"}, ["unrecognized credential type: bogus"]),
    ("empty-credential-type", {"credential_type": ""}, ["unrecognized credential type: "]),
    ("default-sts-ttl-on-iam-user", {"credential_type": "iam_user", "default_sts_ttl": "1h"},
     [f"default_sts_ttl parameter only valid for {STS_TYPES}"]),
    ("max-sts-ttl-on-iam-user", {"credential_type": "iam_user", "max_sts_ttl": 3600},
     [f"max_sts_ttl parameter only valid for {STS_TYPES}"]),
    ("default-above-max", {"credential_type": "assumed_role", "role_arns": ROLE_ARN,
                           "default_sts_ttl": "2h", "max_sts_ttl": "1h"},
     ['"default_sts_ttl" value must be less than or equal to "max_sts_ttl" value']),
    ("user-path-on-assumed-role", {"credential_type": "assumed_role", "role_arns": ROLE_ARN, "user_path": "/ok/"},
     ["user_path parameter only valid for iam_user credential type"]),
    ("user-path-no-slashes", {"credential_type": "iam_user", "user_path": "nopath"},
     [f"the specified value for user_path is invalid. It must match {go_quote(USER_PATH_REGEX)} regexp"]),
    ("user-path-no-trailing-slash", {"credential_type": "iam_user", "user_path": "/a"},
     [f"the specified value for user_path is invalid. It must match {go_quote(USER_PATH_REGEX)} regexp"]),
    ("user-path-space", {"credential_type": "iam_user", "user_path": "/a b/"},
     [f"the specified value for user_path is invalid. It must match {go_quote(USER_PATH_REGEX)} regexp"]),
    ("user-path-too-long", {"credential_type": "iam_user", "user_path": "/" + "a" * 511 + "/"},
     [f"the specified value for user_path is invalid. It must match {go_quote(USER_PATH_REGEX)} regexp"]),
    ("user-path-both-rules", {"credential_type": "federation_token", "user_path": "bad"},
     ["user_path parameter only valid for iam_user credential type",
      f"the specified value for user_path is invalid. It must match {go_quote(USER_PATH_REGEX)} regexp"]),
    ("boundary-on-assumed-role", {"credential_type": "assumed_role", "role_arns": ROLE_ARN,
                                  "permissions_boundary_arn": BOUNDARY},
     ["cannot supply permissions_boundary_arn when credential_type isn't iam_user"]),
    ("boundary-not-an-arn", {"credential_type": "iam_user", "permissions_boundary_arn": "not_an_arn"},
     ["invalid permissions_boundary_arn parameter: arn: invalid prefix"]),
    ("boundary-short-arn", {"credential_type": "iam_user", "permissions_boundary_arn": "arn:aws:iam"},
     ["invalid permissions_boundary_arn parameter: arn: not enough sections"]),
    ("boundary-not-iam", {"credential_type": "iam_user", "permissions_boundary_arn": "arn:aws:s3:::bucket"},
     ["invalid permissions_boundary_arn parameter: expected a service of iam but got s3"]),
    ("boundary-not-policy", {"credential_type": "iam_user",
                             "permissions_boundary_arn": f"arn:aws:iam::{ACCOUNT}:user/bob"},
     ["invalid permissions_boundary_arn parameter: expected a resource type of policy but got user/bob"]),
    # Go drops the errors collected before an invalid boundary; this engine keeps them all.
    ("boundary-keeps-earlier-errors", {"credential_type": "federation_token", "default_sts_ttl": 10,
                                       "max_sts_ttl": 5, "permissions_boundary_arn": "bogus"},
     ['"default_sts_ttl" value must be less than or equal to "max_sts_ttl" value',
      "cannot supply permissions_boundary_arn when credential_type isn't iam_user",
      "invalid permissions_boundary_arn parameter: arn: invalid prefix"]),
    ("session-token-with-policy-arns", {"credential_type": "session_token", "policy_arns": READ_ONLY},
     ["cannot supply a policy or role when using credential_type session_token"]),
    ("session-token-with-policy-document", {"credential_type": "session_token",
                                            "policy_document": json.dumps(INLINE_DOC)},
     ["cannot supply a policy or role when using credential_type session_token"]),
    ("role-arns-on-iam-user", {"credential_type": "iam_user", "role_arns": ROLE_ARN},
     ["cannot supply role_arns when credential_type isn't assumed_role"]),
    ("session-tags-on-iam-user", {"credential_type": "iam_user", "session_tags": ["a=b"]},
     ["cannot supply session_tags when credential_type isn't assumed_role"]),
    ("external-id-on-federation-token", {"credential_type": "federation_token", "policy_arns": READ_ONLY,
                                         "external_id": "x"},
     ["cannot supply external_id when credential_type isn't assumed_role"]),
    ("everything-wrong-at-once", {"credential_type": "iam_user", "default_sts_ttl": 60, "max_sts_ttl": 120,
                                  "role_arns": ROLE_ARN, "session_tags": {"k": "v"}, "external_id": "x"},
     [f"default_sts_ttl parameter only valid for {STS_TYPES}",
      f"max_sts_ttl parameter only valid for {STS_TYPES}",
      "cannot supply role_arns when credential_type isn't assumed_role",
      "cannot supply session_tags when credential_type isn't assumed_role",
      "cannot supply external_id when credential_type isn't assumed_role"]),
]


@pytest.mark.parametrize("body,messages", [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES])
def test_role_validation_rule(bao, mount, body, messages):
    m = mount()
    assert errors_of(bao.api("POST", f"{m}/roles/r", body), 400) == [validation_error(*messages)]
    assert bao.api("GET", f"{m}/roles/r")[0] == 404, "a rejected role was stored"
    status, listed = bao.api("LIST", f"{m}/roles")
    assert status == 404 or "r" not in listed["data"]["keys"]


def test_valid_user_paths_and_boundaries_are_accepted(bao, mount):
    m = mount()
    for path in ("/", "/a/", "/a/b-c_d.e@f/", "/" + "a" * 510 + "/", ""):
        write_role(bao, m, "p", credential_type="iam_user", user_path=path)
        assert ok(bao.api("GET", f"{m}/roles/p"))["data"]["user_path"] == path
    for arn in (BOUNDARY, f"arn:aws:iam::{ACCOUNT}:policy/path/to/boundary"):
        write_role(bao, m, "b", credential_type="iam_user", permissions_boundary_arn=arn)


def test_failed_update_keeps_the_stored_role(bao, mount):
    m = mount()
    write_role(bao, m, "ar", credential_type="assumed_role", role_arns=ROLE_ARN, default_sts_ttl=900)
    before = ok(bao.api("GET", f"{m}/roles/ar"))["data"]
    # changing the type keeps role_arns (partial update) -> invalid (as Vault)
    assert errors_of(bao.api("POST", f"{m}/roles/ar", {"credential_type": "iam_user"})) == [validation_error(
        f"default_sts_ttl parameter only valid for {STS_TYPES}",
        "cannot supply role_arns when credential_type isn't assumed_role")]
    assert errors_of(bao.api("POST", f"{m}/roles/ar", {"policy_document": "{oops"})) == [
        'cannot parse policy document: "{oops"']
    assert ok(bao.api("GET", f"{m}/roles/ar"))["data"] == before
    # the documented way out: clear what no longer fits
    write_role(bao, m, "ar", credential_type="iam_user", role_arns="", default_sts_ttl=0)
    after = ok(bao.api("GET", f"{m}/roles/ar"))["data"]
    assert after["credential_type"] == "iam_user" and not after["role_arns"] and after["default_sts_ttl"] == 0


def test_partial_update_merges_into_the_role(bao, mount):
    m = mount()
    write_role(bao, m, "x", credential_type="iam_user", policy_arns=READ_ONLY, iam_tags=["a=1"])
    write_role(bao, m, "x", iam_groups="g1,g2")
    data = ok(bao.api("GET", f"{m}/roles/x"))["data"]
    assert data["policy_arns"] == [READ_ONLY] and data["iam_tags"] == {"a": "1"}
    assert data["iam_groups"] == ["g1", "g2"] and data["credential_type"] == "iam_user"


def test_role_read_shape(bao, mount):
    m = mount()
    write_role(bao, m, "dev", credential_type="iam_user", policy_arns=READ_ONLY)
    data = ok(bao.api("GET", f"{m}/roles/dev"))["data"]
    assert data == {
        "credential_type": "iam_user",
        "policy_arns": [READ_ONLY],
        "role_arns": None,
        "policy_document": "",
        "iam_groups": None,
        "iam_tags": None,
        "session_tags": None,
        "external_id": "",
        "default_sts_ttl": 0,
        "max_sts_ttl": 0,
        "user_path": "",
        "permissions_boundary_arn": "",
        "mfa_serial_number": "",
        "role_session_name": "",
        "source_identity": "",
        "source_role_arn": "",
        "source_external_id": "",
        "no_lease": False,
        "default_ttl": 0,
        "max_ttl": 0,
        "max_active_credentials": 0,
        "key_ready_timeout": 0,
    }
    write_role(bao, m, "sts", credential_type="assumed_role", role_arns=[ROLE_ARN, ROLE_ARN + "2"],
               default_sts_ttl="15m", max_sts_ttl="1h", session_tags="k=v", external_id="ext")
    data = ok(bao.api("GET", f"{m}/roles/sts"))["data"]
    assert data["role_arns"] == [ROLE_ARN, ROLE_ARN + "2"]
    assert (data["default_sts_ttl"], data["max_sts_ttl"]) == (900, 3600)
    assert data["session_tags"] == {"k": "v"} and data["external_id"] == "ext"


def test_policy_document_is_stored_compacted_byte_for_byte(bao, mount):
    """Go's json.Compact: whitespace goes, key order and escapes stay as written."""
    m = mount()
    raw = ('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Sid": "Caf\\u00e9",\n'
           '      "Effect": "Allow",\n      "Action": [ "s3:GetObject", "s3:ListBucket" ],\n'
           '      "Resource": "arn:aws:s3:::b/*"\n    }\n  ]\n}\n')
    compact = ('{"Version":"2012-10-17","Statement":[{"Sid":"Caf\\u00e9","Effect":"Allow",'
               '"Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::b/*"}]}')
    write_role(bao, m, "doc", credential_type="iam_user", policy_document=raw)
    assert ok(bao.api("GET", f"{m}/roles/doc"))["data"]["policy_document"] == compact
    # "" clears it
    write_role(bao, m, "doc", policy_document="")
    assert ok(bao.api("GET", f"{m}/roles/doc"))["data"]["policy_document"] == ""
    # not JSON -> 400 with the raw input quoted, nothing stored
    bad = '{"Version": "2012-10-17",\n'
    assert errors_of(bao.api("POST", f"{m}/roles/bad", {"credential_type": "iam_user", "policy_document": bad})) == [
        f"cannot parse policy document: {go_quote(bad)}"]
    assert bao.api("GET", f"{m}/roles/bad")[0] == 404


def test_list_and_delete_roles(bao, mount):
    m = mount()
    assert bao.api("LIST", f"{m}/roles")[0] == 404
    for name in ("web", "app", "db.main", "x@y"):
        write_role(bao, m, name, credential_type="iam_user")
    assert ok(bao.api("LIST", f"{m}/roles"))["data"]["keys"] == ["app", "db.main", "web", "x@y"]
    assert ok(bao.api("LIST", f"{m}/roles/"))["data"]["keys"] == ["app", "db.main", "web", "x@y"]
    res = cli_ok(bao, "list", f"{m}/roles")
    assert res.split() == ["Keys", "----", "app", "db.main", "web", "x@y"]
    assert bao.api("DELETE", f"{m}/roles/web") == (204, None)
    assert bao.api("DELETE", f"{m}/roles/never-existed") == (204, None)
    assert bao.api("GET", f"{m}/roles/web")[0] == 404
    assert ok(bao.api("LIST", f"{m}/roles"))["data"]["keys"] == ["app", "db.main", "x@y"]


def test_deleting_a_role_keeps_its_leases_revocable(bao, configured, iam):
    m = configured
    write_role(bao, m, "gone", credential_type="iam_user", policy_arns=READ_ONLY)
    creds = issue(bao, m, "gone")
    user = owner_of_key(iam, creds["data"]["access_key"])
    assert bao.api("DELETE", f"{m}/roles/gone") == (204, None)
    assert user_exists(iam, user)
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
    assert not user_exists(iam, user)


# --------------------------------------------------------------------------
# Legacy `arn=` / `policy=` parameters
# --------------------------------------------------------------------------


def test_legacy_arn_param_with_a_policy_arn(bao, configured, iam):
    m = configured
    write_role(bao, m, "old", credential_type="iam_user", iam_tags="a=b")  # replaced by the legacy write
    resp = ok(bao.api("POST", f"{m}/roles/old", {"arn": READ_ONLY}), 200)
    assert resp["warnings"] == [LEGACY_WARNING]
    data = ok(bao.api("GET", f"{m}/roles/old"))["data"]
    assert data["credential_type"] == "iam_user" and data["policy_arns"] == [READ_ONLY]
    assert data["iam_tags"] is None, "a legacy write replaces the whole role"
    # legacy roles: iam_user only through creds/
    assert errors_of(bao.api("GET", f"{m}/sts/old")) == [
        "attempted to retrieve iam_user credentials through the sts path; this is not allowed for legacy roles"]
    creds = issue(bao, m, "old")
    user = owner_of_key(iam, creds["data"]["access_key"])
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]] == [READ_ONLY]
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
    # any new-style write lifts the legacy restriction: creds/ and sts/ are interchangeable again
    assert bao.api("POST", f"{m}/roles/old", {"policy_arns": READ_ONLY}) == (204, None)
    creds = issue(bao, m, "old", prefix="sts")
    assert creds["lease_id"].startswith(f"{m}/sts/old/") and creds["renewable"] is True
    user = owner_of_key(iam, creds["data"]["access_key"])
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
    assert not user_exists(iam, user)


def test_legacy_arn_param_with_a_role_arn(bao, configured):
    m = configured
    resp = ok(bao.api("POST", f"{m}/roles/assume", {"arn": ROLE_ARN}), 200)
    assert resp["warnings"] == [LEGACY_WARNING]
    data = ok(bao.api("GET", f"{m}/roles/assume"))["data"]
    assert data["credential_type"] == "assumed_role" and data["role_arns"] == [ROLE_ARN]
    assert data["policy_arns"] is None
    assert errors_of(bao.api("GET", f"{m}/creds/assume")) == [
        "attempted to retrieve assumed_role credentials through the creds path; this is not allowed for legacy roles"]


def test_legacy_policy_param(bao, configured, iam):
    m = configured
    pretty = json.dumps(INLINE_DOC, indent=2)
    resp = ok(bao.api("POST", f"{m}/roles/pol", {"policy": pretty}), 200)
    assert resp["warnings"] == [LEGACY_WARNING]
    data = ok(bao.api("GET", f"{m}/roles/pol"))["data"]
    assert data["credential_type"] == "iam_user,federation_token"
    assert data["policy_document"] == json.dumps(INLINE_DOC, separators=(",", ":"))
    creds = issue(bao, m, "pol")  # creds/ picks iam_user for a two-type legacy role
    user = owner_of_key(iam, creds["data"]["access_key"])
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["pol"]
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
    assert not user_exists(iam, user)


def test_legacy_param_with_groups_is_allowed_but_groups_are_dropped(bao, mount):
    """iam_groups/iam_tags skip the legacy check, then the migration replaces the role (Vault does this)."""
    m = mount()
    resp = ok(bao.api("POST", f"{m}/roles/lg", {"arn": READ_ONLY, "iam_groups": "g1", "iam_tags": "a=b"}), 200)
    assert resp["warnings"] == [LEGACY_WARNING]
    data = ok(bao.api("GET", f"{m}/roles/lg"))["data"]
    assert data["policy_arns"] == [READ_ONLY] and data["iam_groups"] is None and data["iam_tags"] is None


LEGACY_ERRORS = [
    ("policy-and-arn", {"policy": json.dumps(INLINE_DOC), "arn": READ_ONLY},
     "only one of policy or arn should be provided"),
    ("arn-with-credential-type", {"arn": READ_ONLY, "credential_type": "iam_user"},
     "cannot supply deprecated role or policy parameters with an explicit credential_type"),
    ("arn-with-role-arns", {"arn": ROLE_ARN, "role_arns": ROLE_ARN},
     "cannot supply deprecated role or policy parameters with role_arns"),
    ("arn-with-policy-arns", {"arn": READ_ONLY, "policy_arns": READ_ONLY},
     "cannot supply deprecated role or policy parameters with policy_arns"),
    ("policy-with-policy-document", {"policy": json.dumps(INLINE_DOC), "policy_document": json.dumps(INLINE_DOC)},
     "cannot supply deprecated role or policy parameters with policy_document"),
    ("arn-with-default-sts-ttl", {"arn": ROLE_ARN, "default_sts_ttl": 900},
     "cannot supply deprecated role or policy parameters with default_sts_ttl"),
    ("arn-with-max-sts-ttl", {"arn": ROLE_ARN, "max_sts_ttl": 900},
     "cannot supply deprecated role or policy parameters with max_sts_ttl"),
    ("arn-with-user-path", {"arn": READ_ONLY, "user_path": "/x/"},
     "cannot supply deprecated role or policy parameters with user_path"),
    ("arn-with-boundary", {"arn": READ_ONLY, "permissions_boundary_arn": BOUNDARY},
     "cannot supply deprecated role or policy parameters with permissions_boundary_arn"),
    ("policy-not-json", {"policy": "not json"}, 'unable to parse supplied data: "not json"'),
    ("arn-of-a-user", {"arn": f"arn:aws:iam::{ACCOUNT}:user/bob"},
     f'unable to parse supplied data: "arn:aws:iam::{ACCOUNT}:user/bob"'),
    ("arn-unparsable", {"arn": "arn:bad"}, 'unable to parse supplied data: "arn:bad"'),
]


@pytest.mark.parametrize("body,message", [c[1:] for c in LEGACY_ERRORS], ids=[c[0] for c in LEGACY_ERRORS])
def test_legacy_param_errors(bao, mount, body, message):
    """Decision 3: the Go 500 for policy+arn is a 400 here, same text."""
    m = mount()
    assert errors_of(bao.api("POST", f"{m}/roles/l", body), 400) == [message]
    assert bao.api("GET", f"{m}/roles/l")[0] == 404


# --------------------------------------------------------------------------
# config/root
# --------------------------------------------------------------------------


def test_config_root_read_never_returns_the_secret(bao, moto, mount):
    m = mount()
    assert bao.api("GET", f"{m}/config/root")[0] == 404
    configure_root(bao, m, moto, access_key="AKIAEXAMPLE", secret_key="very-secret")
    data = ok(bao.api("GET", f"{m}/config/root"))["data"]
    assert "secret_key" not in data
    assert "very-secret" not in json.dumps(data)
    assert data["access_key"] == "AKIAEXAMPLE"
    assert data["region"] == "us-east-1"
    assert data["iam_endpoint"] == data["sts_endpoint"] == moto.endpoint
    assert data["max_retries"] == -1
    assert data["username_template"] == DEFAULT_TEMPLATE
    assert data["sts_fallback_endpoints"] == [] and data["sts_fallback_regions"] == []
    assert data["sts_region"] == ""
    res = cli_ok(bao, "read", f"{m}/config/root")
    assert "very-secret" not in res and "secret_key" not in res


def test_config_root_partial_write_merges(bao, moto, mount, root_user, moto_auth, iam):
    m = mount()
    root = root_user()
    configure_root(bao, m, moto, root.access_key, root.secret_key)
    before = ok(bao.api("GET", f"{m}/config/root"))["data"]
    ok(bao.api("POST", f"{m}/config/root", {"max_retries": 3}), 204)
    after = ok(bao.api("GET", f"{m}/config/root"))["data"]
    assert after == {**before, "max_retries": 3}
    # the stored secret survived the partial write: the engine can still sign requests moto checks
    write_role(bao, m, "merge", credential_type="iam_user")
    with moto_auth():
        creds = issue(bao, m, "merge")
        cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])


def test_config_root_fallback_endpoints_need_matching_regions(bao, moto, mount):
    m = mount()
    configure_root(bao, m, moto)
    before = ok(bao.api("GET", f"{m}/config/root"))["data"]
    assert errors_of(bao.api("POST", f"{m}/config/root", {"sts_fallback_endpoints": "http://a,http://b"})) == [
        "fallback endpoints and fallback regions must be the same length"]
    assert errors_of(bao.api("POST", f"{m}/config/root", {"sts_fallback_endpoints": ["http://a"],
                                                          "sts_fallback_regions": ["us-east-1", "us-west-2"]})) == [
        "fallback endpoints and fallback regions must be the same length"]
    assert ok(bao.api("GET", f"{m}/config/root"))["data"] == before
    ok(bao.api("POST", f"{m}/config/root", {"sts_fallback_endpoints": "http://a,http://b",
                                             "sts_fallback_regions": "us-west-1,us-west-2"}), 204)
    data = ok(bao.api("GET", f"{m}/config/root"))["data"]
    assert data["sts_fallback_endpoints"] == ["http://a", "http://b"]
    assert data["sts_fallback_regions"] == ["us-west-1", "us-west-2"]
    assert data["access_key"] == "testing"


# --------------------------------------------------------------------------
# config/rotate-root
# --------------------------------------------------------------------------


def test_rotate_root_leaves_exactly_the_new_key(bao, moto, mount, root_user, moto_auth, iam):
    m = mount()
    root = root_user()
    configure_root(bao, m, moto, root.access_key, root.secret_key)
    write_role(bao, m, "after", credential_type="iam_user", policy_arns=READ_ONLY)
    with moto_auth():
        resp = ok(bao.api("POST", f"{m}/config/rotate-root"), 200)
        admin_old = moto.client("iam", root.access_key, root.secret_key)
        with pytest.raises(ClientError) as e:  # the old key is gone
            admin_old.list_users()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        creds = issue(bao, m, "after")  # moto checks the stored (new) secret
        cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])
    assert resp["data"] == {"access_key": resp["data"]["access_key"]}
    assert not resp.get("warnings"), resp
    new = resp["data"]["access_key"]
    assert new != root.access_key and new.startswith("AKIA")
    keys = iam.list_access_keys(UserName=root.name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [new]
    assert ok(bao.api("GET", f"{m}/config/root"))["data"]["access_key"] == new
    assert "secret_key" not in json.dumps(resp)


def test_rotate_root_warns_when_the_old_key_cannot_be_deleted(bao, moto, mount, root_user, moto_auth, iam):
    m = mount()
    root = root_user(extra_statements=({"Effect": "Deny", "Action": "iam:DeleteAccessKey", "Resource": "*"},))
    configure_root(bao, m, moto, root.access_key, root.secret_key)
    write_role(bao, m, "after", credential_type="iam_user")
    with moto_auth():
        resp = ok(bao.api("POST", f"{m}/config/rotate-root"), 200)
        creds = issue(bao, m, "after")  # the new key is stored and in use
    new = resp["data"]["access_key"]
    assert set(resp["data"]) == {"access_key"} and new != root.access_key
    assert resp.get("warnings") and any("error deleting old access key" in w for w in resp["warnings"]), resp
    keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=root.name)["AccessKeyMetadata"]}
    assert keys == {root.access_key, new}
    cli_ok(bao, "lease", "revoke", "-sync", creds["lease_id"])


def test_rotate_root_needs_static_keys(bao, moto, mount):
    m = mount()
    ok(bao.api("POST", f"{m}/config/root", {"region": "us-east-1", "iam_endpoint": moto.endpoint}), 204)
    assert errors_of(bao.api("POST", f"{m}/config/rotate-root"), 400) == [
        "Cannot call config/rotate-root when either access_key or secret_key is empty"]


def test_rotate_root_without_config(bao, mount):
    m = mount()
    # a plugin's 500 reaches the client wrapped by the server: "1 error occurred:\n\t* ...\n\n"
    assert errors_of(bao.api("POST", f"{m}/config/rotate-root"), 500) == [
        multierror("no configuration found for config/root")]
