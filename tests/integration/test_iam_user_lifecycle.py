"""IAM users that never surprise an operator (issue 14 §1-§5), on real OpenBao and moto:

* tags go on CreateUser (hashicorp/vault#32001), with the tag naming the mount;
* key_ready_timeout: the key is tried with sts:GetCallerIdentity until AWS accepts it
  (hashicorp/vault#3115, #8413), through the fault proxy refusing it a few times;
* the orphan sweep (tidy/iam-users, config/tidy) finds the mount's users that no lease or WAL
  entry owns, and never a hand-made user or another mount's (hashicorp/vault#16685);
* per-role default_ttl/max_ttl (hashicorp/vault#15176) and max_active_credentials
  (hashicorp/vault#5475), also under concurrent requests.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from faultproxy import FaultProxy, aws_error_xml

MOUNT_TAG = "vault-secrets-aws-mount"
POLICY_DOC = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]})


def ok(status_body, *statuses):
    status, body = status_body
    assert status in (statuses or (200, 204)), f"HTTP {status}: {body}"
    return body


def uid() -> str:
    return uuid.uuid4().hex[:8]


def wait_until(check, what: str, deadline: float = 30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(bao, m: str) -> str:
    req = urllib.request.Request(f"{bao.addr}/v1/{m}/metrics", headers={"X-Vault-Token": bao.token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def owner_of(iam, key: str) -> str:
    for page in iam.get_paginator("list_users").paginate():
        for u in page["Users"]:
            keys = iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
            if any(k["AccessKeyId"] == key for k in keys):
                return u["UserName"]
    raise AssertionError(f"no user holds {key}")


def user_exists(iam, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False


@pytest.fixture(scope="module")
def proxy(moto):
    with FaultProxy(moto.endpoint, seed=11) as p:
        yield p


@pytest.fixture
def m(bao, moto, mount, proxy):
    """A mount whose IAM and STS endpoints are the fault proxy (no faults until a test sets them)."""
    proxy.quiet()
    path = mount()
    ok(bao.api("POST", f"{path}/config/root", {
        "access_key": "testing", "secret_key": "testing", "region": "us-east-1",
        "iam_endpoint": proxy.url, "sts_endpoint": proxy.url, "max_retries": 0}), 204)
    ok(bao.api("POST", f"{path}/config/lease", {"lease": "1h", "lease_max": "2h"}), 204)
    yield path
    proxy.quiet()


def role(bao, m: str, name: str, **fields) -> None:
    body = {"credential_type": "iam_user", "policy_document": POLICY_DOC, **fields}
    ok(bao.api("POST", f"{m}/roles/{name}", body), 200, 204)


def tag_of_mount(bao, m: str) -> str:
    return ok(bao.api("GET", f"{m}/config/tidy"), 200)["data"]["mount_tag_value"]


# --------------------------------------------------------------------------
# §1 tags on CreateUser
# --------------------------------------------------------------------------


def test_tags_go_on_create_user_with_the_mount_tag_and_no_tag_user(bao, moto, m, proxy):
    role(bao, m, "tagged", iam_tags=["team=qa", "cost=42"])
    body = ok(bao.api("GET", f"{m}/creds/tagged"), 200)
    iam = moto.client("iam")
    user = owner_of(iam, body["data"]["access_key"])
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    uuid_ = tag_of_mount(bao, m)
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid_), uuid_
    assert tags == {"team": "qa", "cost": "42", MOUNT_TAG: uuid_}
    actions = proxy.stats()["actions"]
    assert "TagUser" not in actions, actions
    assert actions["CreateUser"]["calls"] == 1
    # The user's tags were there from the first moment: an account whose SCP demands tags
    # at creation is simulated by refusing TagUser outright.
    proxy.configure(stub={"TagUser": [403, aws_error_xml("Sender", "AccessDenied", "tags at creation only").decode()]})
    ok(bao.api("GET", f"{m}/creds/tagged"), 200)
    ok(bao.api("PUT", f"sys/leases/revoke-prefix/{m}/creds/tagged", {"sync": True}), 204)


# --------------------------------------------------------------------------
# §2 keys that work when returned
# --------------------------------------------------------------------------


def test_key_ready_timeout_waits_until_aws_accepts_the_key(bao, moto, m, proxy):
    role(bao, m, "ready", key_ready_timeout="20s")
    # IAM not yet accepting the new key: GetCallerIdentity refused three times, then accepted.
    refused = aws_error_xml("Sender", "InvalidClientTokenId", "The security token included in the request is invalid.")
    # Refused until three tries were seen, then let through.
    proxy.configure(stub={"GetCallerIdentity": [403, refused.decode()]})
    before = metric(scrape(bao, m), "vault_aws_key_ready_seconds_count")
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(lambda: bao.api("GET", f"{m}/creds/ready", timeout=60))
        wait_until(lambda: proxy.stats()["actions"].get("GetCallerIdentity", {}).get("stubbed", 0) >= 3,
                   "three refused tries of the new key")
        proxy.configure(stub={})
        status, body = fut.result()
    assert status == 200, body
    assert not body.get("warnings"), body
    key = body["data"]["access_key"]
    seen = proxy.stats()["actions"]["GetCallerIdentity"]
    assert seen["stubbed"] >= 3 and seen["forwarded"] == 1, seen
    assert metric(scrape(bao, m), "vault_aws_key_ready_seconds_count") == before + 1
    assert key
    ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True}), 204)


def test_a_key_that_never_works_is_returned_with_a_warning(bao, moto, m, proxy):
    role(bao, m, "never", key_ready_timeout="2s")
    refused = aws_error_xml("Sender", "InvalidClientTokenId", "The security token included in the request is invalid.")
    proxy.configure(stub={"GetCallerIdentity": [403, refused.decode()]})
    started = time.monotonic()
    body = ok(bao.api("GET", f"{m}/creds/never", timeout=60), 200)
    took = time.monotonic() - started
    proxy.configure(stub={})
    assert body["data"]["access_key"] and body["data"]["secret_key"]
    (warning,) = body["warnings"]
    assert "was not yet accepted by AWS after 2s" in warning and "InvalidClientTokenId" in warning, warning
    assert 1.5 <= took < 10, took
    assert metric(scrape(bao, m), "vault_aws_key_ready_timeouts_total") == 1
    ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True}), 204)


def test_without_key_ready_timeout_the_key_is_not_tried(bao, moto, m, proxy):
    role(bao, m, "plain")
    body = ok(bao.api("GET", f"{m}/creds/plain"), 200)
    assert "GetCallerIdentity" not in proxy.stats()["actions"]
    ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True}), 204)


# --------------------------------------------------------------------------
# §4 per-role TTLs, §5 cap on live credentials
# --------------------------------------------------------------------------


def test_role_ttls_override_config_lease_and_renew_honours_them(bao, m):
    role(bao, m, "short", default_ttl="2m", max_ttl="5m")
    body = ok(bao.api("GET", f"{m}/creds/short"), 200)
    assert body["lease_duration"] == 120, body
    renewed = ok(bao.api("PUT", "sys/leases/renew", {"lease_id": body["lease_id"]}), 200)
    assert renewed["lease_duration"] == 120, renewed
    role(bao, m, "default")
    plain = ok(bao.api("GET", f"{m}/creds/default"), 200)
    assert plain["lease_duration"] == 3600, plain
    read = ok(bao.api("GET", f"{m}/roles/short"), 200)["data"]
    assert (read["default_ttl"], read["max_ttl"]) == (120, 300)
    for lease in (body["lease_id"], plain["lease_id"]):
        ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": lease, "sync": True}), 204)


@pytest.mark.parametrize("field,value", [("default_ttl", "1h"), ("max_ttl", "1h"),
                                         ("max_active_credentials", 3), ("key_ready_timeout", "10s")])
def test_iam_user_options_are_refused_on_other_types(bao, m, field, value):
    status, body = bao.api("POST", f"{m}/roles/sts{uid()}", {
        "credential_type": "assumed_role", "role_arns": ["arn:aws:iam::123456789012:role/x"], field: value})
    assert status == 400, body
    assert f"{field} parameter only valid for iam_user credential type" in body["errors"][0], body


def test_bad_values_name_the_field_and_store_nothing(bao, m):
    for body, text in (({"key_ready_timeout": "3m"}, "key_ready_timeout must be at most 120 seconds"),
                       ({"default_ttl": "2h", "max_ttl": "1h"}, "value must be less than or equal to"),
                       ({"max_active_credentials": -1}, "max_active_credentials must not be negative")):
        name = f"bad{uid()}"
        status, out = bao.api("POST", f"{m}/roles/{name}", {"credential_type": "iam_user", **body})
        assert status == 400 and text in out["errors"][0], out
        assert bao.api("GET", f"{m}/roles/{name}")[0] == 404


def test_a_bad_update_leaves_the_role_and_the_tidy_settings_as_they_were(bao, m):
    role(bao, m, "kept", default_ttl="2m", max_active_credentials=2)
    before = ok(bao.api("GET", f"{m}/roles/kept"), 200)["data"]
    status, out = bao.api("POST", f"{m}/roles/kept", {"key_ready_timeout": "5m", "default_ttl": "9m"})
    assert status == 400 and "key_ready_timeout must be at most 120 seconds" in out["errors"][0], out
    assert ok(bao.api("GET", f"{m}/roles/kept"), 200)["data"] == before
    ok(bao.api("POST", f"{m}/config/tidy", {"interval": "1h", "min_age": "2h"}), 204)
    for path, body, text in ((f"{m}/config/tidy", {"interval": -1}, 'field "interval": cannot provide negative'),
                             (f"{m}/config/tidy", {"min_age": "soon"}, 'field "min_age"'),
                             (f"{m}/tidy/iam-users", {"min_age": -5}, 'field "min_age": cannot provide negative')):
        status, out = bao.api("POST", path, body)
        assert status == 400 and text in out["errors"][0], (path, body, out)
    read = ok(bao.api("GET", f"{m}/config/tidy"), 200)["data"]
    assert (read["interval"], read["min_age"]) == (3600, 7200), read
    ok(bao.api("POST", f"{m}/config/tidy", {"interval": 0}), 204)


def test_at_the_cap_nothing_is_created_and_concurrent_requests_never_pass_it(bao, moto, m, proxy):
    role(bao, m, "capped", max_active_credentials=3)
    proxy.reset()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: bao.api("GET", f"{m}/creds/capped", timeout=60), range(6)))
    good = [b for s, b in results if s == 200]
    refused = [b for s, b in results if s != 200]
    assert len(good) == 3 and len(refused) == 3, results
    for b in refused:
        assert b["errors"] == [
            'role "capped" has reached its max_active_credentials of 3: 3 credentials are live; '
            "revoke some or raise the cap"], b
    assert proxy.stats()["actions"]["CreateUser"]["calls"] == 3
    # Revoke one: room for one more.
    ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": good[0]["lease_id"], "sync": True}), 204)
    again = ok(bao.api("GET", f"{m}/creds/capped"), 200)
    for b in good[1:] + [again]:
        ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": b["lease_id"], "sync": True}), 204)


# --------------------------------------------------------------------------
# §3 the orphan sweep
# --------------------------------------------------------------------------


def orphans(bao, m: str, min_age=0) -> list:
    """The users a dry-run sweep of mount ``m`` names."""
    return ok(bao.api("POST", f"{m}/tidy/iam-users", {"min_age": min_age}), 200)["data"]["orphaned_users"]


def force_orphan(bao, moto, m: str, proxy, role_name: str) -> str:
    """A user whose revoke AWS refused and whose lease was then force-revoked."""
    body = ok(bao.api("GET", f"{m}/creds/{role_name}"), 200)
    user = owner_of(moto.client("iam"), body["data"]["access_key"])
    denied = aws_error_xml("Sender", "AccessDenied", "not allowed").decode()
    proxy.configure(stub={"DeleteUser": [403, denied]})
    status, _ = bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True})
    assert status >= 400
    ok(bao.api("PUT", f"sys/leases/revoke-force/{body['lease_id']}"), 204)
    proxy.configure(stub={})
    return user


def test_the_sweep_names_only_this_mounts_orphans_and_deletes_them(bao, moto, mount, m, proxy):
    iam = moto.client("iam")
    role(bao, m, "orph", default_ttl="1s")
    orphan = force_orphan(bao, moto, m, proxy, "orph")
    # A hand-made user with the engine's name shape, and another mount's orphan.
    hand = orphan[:-6] + "handXX"
    iam.create_user(UserName=hand)
    other = mount()
    ok(bao.api("POST", f"{other}/config/root", {
        "access_key": "testing", "secret_key": "testing", "region": "us-east-1",
        "iam_endpoint": proxy.url, "sts_endpoint": proxy.url}), 204)
    role(bao, other, "orph", default_ttl="1s")
    theirs = force_orphan(bao, moto, other, proxy, "orph")

    def dry_run(mount_path: str) -> dict:
        return ok(bao.api("POST", f"{mount_path}/tidy/iam-users", {"min_age": 0}), 200)["data"]

    try:
        # The records hold whole seconds: poll until both leases have ended by the clock.
        wait_until(lambda: theirs in dry_run(other)["orphaned_users"], "the other mount's lease to end", 10)
        wait_until(lambda: orphan in dry_run(m)["orphaned_users"], "this mount's lease to end", 10)
        out = dry_run(m)
        assert orphan in out["orphaned_users"], out
        assert hand not in out["orphaned_users"] and theirs not in out["orphaned_users"], out
        assert "deleted_users" not in out
        assert user_exists(iam, orphan)
        # min_age keeps young ones out.
        out = ok(bao.api("POST", f"{m}/tidy/iam-users", {"min_age": "1h"}), 200)["data"]
        assert out["orphaned_users"] == [], out
        out = ok(bao.api("POST", f"{m}/tidy/iam-users", {"min_age": 0, "dry_run": False}), 200)["data"]
        assert orphan in out["deleted_users"], out
        assert not user_exists(iam, orphan)
        assert user_exists(iam, hand) and user_exists(iam, theirs)
        assert metric(scrape(bao, m), "vault_aws_orphans_deleted_total") >= 1
    finally:
        iam.delete_user(UserName=hand)
        ok(bao.api("POST", f"{other}/tidy/iam-users", {"min_age": 0, "dry_run": False}), 200)
    assert not user_exists(iam, theirs)  # the other mount's own sweep found it


def test_the_sweep_never_names_a_user_whose_lease_still_runs(bao, moto, mount, proxy):
    """The record must not end before the lease: a mount without config/lease (the server fills
    in its default TTL) and a renew with an increment longer than the role's TTL."""
    iam = moto.client("iam")
    m = mount()
    ok(bao.api("POST", f"{m}/config/root", {
        "access_key": "testing", "secret_key": "testing", "region": "us-east-1",
        "iam_endpoint": proxy.url, "sts_endpoint": proxy.url}), 204)
    role(bao, m, "plain")
    role(bao, m, "renewed", default_ttl="3s", max_ttl="1h")
    role(bao, m, "marker", default_ttl="5s")
    plain = ok(bao.api("GET", f"{m}/creds/plain"), 200)
    assert plain["lease_duration"] == 768 * 3600, plain
    renewed = ok(bao.api("GET", f"{m}/creds/renewed"), 200)
    out = ok(bao.api("PUT", "sys/leases/renew", {"lease_id": renewed["lease_id"], "increment": 3600}), 200)
    assert out["lease_duration"] > 3000, out
    users = [owner_of(iam, b["data"]["access_key"]) for b in (plain, renewed)]
    # A forced orphan whose lease ends 5 s after it began: once the sweep names it, the other
    # two users' records would have ended too, had they followed the role's TTL.
    marker = force_orphan(bao, moto, m, proxy, "marker")

    wait_until(lambda: marker in orphans(bao, m), "the marker's lease to end", 20)
    named = orphans(bao, m)
    assert not set(users) & set(named), (users, named)
    ok(bao.api("POST", f"{m}/tidy/iam-users", {"min_age": 0, "dry_run": False}), 200)
    assert all(user_exists(iam, u) for u in users) and not user_exists(iam, marker)
    for b in (plain, renewed):
        ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": b["lease_id"], "sync": True}), 204)
    assert not any(user_exists(iam, u) for u in users)


def test_the_sweep_spares_a_user_under_a_wal_entry_and_judges_one_without_a_record_by_age(bao, moto, m, proxy):
    iam = moto.client("iam")
    role(bao, m, "walheld", default_ttl="1s")
    role(bao, m, "walmark", default_ttl="2s")
    # A half-made user AWS will not let the engine undo: CreateAccessKey and DeleteUser refused.
    # Its WAL entry stays for the rollback, and so does its record (which ends after 1 s).
    denied = aws_error_xml("Sender", "AccessDenied", "not allowed").decode()
    proxy.configure(stub={"CreateAccessKey": [403, denied], "DeleteUser": [403, denied]})
    status, body = bao.api("GET", f"{m}/creds/walheld")
    proxy.configure(stub={})
    assert status >= 400, body
    names = [u["UserName"] for page in iam.get_paginator("list_users").paginate() for u in page["Users"]]
    (held,) = [n for n in names if "-walheld-" in n]
    # A user with the mount's tag that the engine never recorded (a lost record, a restored server).
    hand = f"tagged-by-hand-{uid()}"
    iam.create_user(UserName=hand, Tags=[{"Key": "vault-secrets-aws-mount", "Value": tag_of_mount(bao, m)}])
    marker = force_orphan(bao, moto, m, proxy, "walmark")

    try:
        wait_until(lambda: marker in orphans(bao, m), "the marker's lease to end", 20)
        named = orphans(bao, m)
        assert held not in named and hand in named, (held, hand, named)
        named = orphans(bao, m, "1h")
        assert hand not in named and marker not in named and held not in named, named
        out = ok(bao.api("POST", f"{m}/tidy/iam-users", {"min_age": 0, "dry_run": False}), 200)["data"]
        assert set(out["deleted_users"]) >= {hand, marker} and held not in out["deleted_users"], out
        assert user_exists(iam, held) and not user_exists(iam, hand)
    finally:
        for p in iam.list_user_policies(UserName=held)["PolicyNames"]:
            iam.delete_user_policy(UserName=held, PolicyName=p)
        iam.delete_user(UserName=held)
        if user_exists(iam, hand):
            iam.delete_user(UserName=hand)


def test_the_periodic_sweep_deletes_orphans_on_its_own(bao, moto, m, proxy):
    iam = moto.client("iam")
    role(bao, m, "periodic", default_ttl="1s")
    orphan = force_orphan(bao, moto, m, proxy, "periodic")
    ok(bao.api("POST", f"{m}/config/tidy", {"interval": "2s", "min_age": 0}), 204)
    read = ok(bao.api("GET", f"{m}/config/tidy"), 200)["data"]
    assert (read["interval"], read["min_age"]) == (2, 0)
    wait_until(lambda: not user_exists(iam, orphan), "the periodic sweep to delete the orphan", 30)
    assert ok(bao.api("GET", f"{m}/config/tidy"), 200)["data"]["last_run"]
    text = scrape(bao, m)
    assert metric(text, 'vault_aws_orphan_sweeps_total{outcome="success"}') >= 1, text
    assert metric(text, 'vault_aws_orphan_sweeps_total{outcome="error"}') == 0
    assert metric(text, "vault_aws_orphans_deleted_total") >= 1
    ok(bao.api("POST", f"{m}/config/tidy", {"interval": 0}), 204)


def test_new_fields_and_paths_are_in_path_help_and_openapi(bao, m):
    status, body = bao.api("GET", "sys/internal/specs/openapi")
    assert status == 200, body
    paths = body["paths"]
    roles = [f"/{m}/roles/{{name}}"]
    assert roles, sorted(paths)
    props = paths[roles[0]]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    for field in ("default_ttl", "max_ttl", "max_active_credentials", "key_ready_timeout"):
        assert field in props, sorted(props)
    assert f"/{m}/tidy/iam-users" in paths and f"/{m}/config/tidy" in paths
    help_text = bao.cli("path-help", f"{m}/roles/x", check=True).stdout
    assert "key_ready_timeout" in help_text and "max_active_credentials" in help_text
    tidy_help = bao.cli("path-help", f"{m}/tidy/iam-users", check=True).stdout
    assert "dry_run" in tidy_help and "min_age" in tidy_help
