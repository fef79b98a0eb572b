"""Retries by error class (issue 7 point 2), through the project's fault proxy.

The mount's IAM endpoint is ``scripts/faultproxy.py`` in front of moto, so each
test decides exactly which call fails and how, then checks what the plugin did:
the answer, the calls the proxy saw, the keys left in moto and the retry
counters the mount's ``metrics`` path reports per API and failure class.

* throttling, 5xx and dropped connections are retried (the SDK retryer:
  exponential backoff, full jitter, 60 s deadline);
* ``NoSuchEntity`` for a user created a moment ago is retried briefly;
* permanent errors (a missing policy, AccessDenied) fail at once, one call;
* a ``CreateAccessKey`` whose answer was lost leaves no second key;
* the retry quota never runs dry under sustained faults (the SDK's shared
  token bucket would stop retrying after ~100 failed requests);
* at the account's rate limit (the proxy's token-bucket mode) calls are paced, nothing
  fails, and a throttled step is sent again, never skipped (hashicorp/vault#2735).

Also here, because the proxy sees calls overlap: a new user's setup calls run side
by side (at most 4 at once) and several failures report the earliest in Vault's order.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from faultproxy import FaultProxy

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def ok(status_body, *statuses):
    status, body = status_body
    assert status in (statuses or (200, 204)), f"HTTP {status}: {body}"
    return body


def scrape(bao, m: str) -> str:
    req = urllib.request.Request(f"{bao.addr}/v1/{m}/metrics", headers={"X-Vault-Token": bao.token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def retries(text: str, operation: str, cls: str) -> int:
    pat = rf'^vault_aws_api_retries_total\{{service="IAM",operation="{operation}",class="{cls}"\}} (\d+)$'
    found = re.search(pat, text, re.M)
    return int(found.group(1)) if found else 0


def calls(proxy: FaultProxy, action: str) -> int:
    return proxy.stats()["actions"].get(action, {}).get("calls", 0)


@pytest.fixture(scope="module")
def proxy(moto):
    with FaultProxy(moto.endpoint, seed=7) as p:
        yield p


@pytest.fixture
def faulty(bao, moto, mount, proxy):
    """A mount whose IAM endpoint is the fault proxy; no faults until a test sets them."""
    proxy.quiet()
    m = mount()
    ok(bao.api("POST", f"{m}/config/root", {
        "access_key": "testing", "secret_key": "testing", "region": "us-east-1",
        "iam_endpoint": proxy.url, "sts_endpoint": moto.endpoint}), 204)
    ok(bao.api("POST", f"{m}/roles/r", {"credential_type": "iam_user", "policy_arns": [READ_ONLY]}), 200, 204)
    yield m
    proxy.quiet()


def fault(proxy: FaultProxy, action: str, mode: str, times: int = 1) -> None:
    """The next ``times`` calls of ``action`` fail with ``mode``; everything else passes."""
    proxy.configure(fraction=1.0, budget=times, actions=[action], modes=[mode])
    proxy.reset()


def key_ids(iam, user: str) -> list[str]:
    return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]


def owner_of(iam, access_key: str) -> str:
    """The IAM user holding ``access_key``."""
    return next(u["UserName"] for u in iam.list_users()["Users"] if access_key in key_ids(iam, u["UserName"]))


def revoke_and_check_gone(bao, iam, lease_id: str, user: str) -> None:
    """Revokes the lease synchronously and checks its IAM user no longer exists."""
    ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": lease_id, "sync": True}), 200, 204)
    assert user not in {u["UserName"] for u in iam.list_users()["Users"]}


@pytest.mark.parametrize("mode, cls", [
    ("500", "server_error"), ("503", "server_error"), ("throttle", "throttling"), ("drop", "transport"),
])
def test_transient_failure_is_retried(bao, moto, faulty, proxy, mode, cls):
    fault(proxy, "CreateUser", mode)
    body = ok(bao.api("GET", f"{faulty}/creds/r"), 200)
    assert body["data"]["access_key"]
    assert calls(proxy, "CreateUser") == 2, proxy.stats()["actions"]["CreateUser"]
    assert retries(scrape(bao, faulty), "CreateUser", cls) == 1


def test_missing_new_user_is_retried_briefly(bao, moto, faulty, proxy):
    fault(proxy, "AttachUserPolicy", "missing_user", times=2)
    body = ok(bao.api("GET", f"{faulty}/creds/r"), 200)
    assert calls(proxy, "AttachUserPolicy") == 3
    assert retries(scrape(bao, faulty), "AttachUserPolicy", "not_yet_visible") == 2
    iam = moto.client("iam")
    user = owner_of(iam, body["data"]["access_key"])
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [READ_ONLY]


def test_missing_user_that_stays_missing_gives_up_after_a_few_seconds(bao, moto, faulty, proxy):
    fault(proxy, "CreateAccessKey", "missing_user", times=100)
    started = time.monotonic()
    status, body = bao.api("GET", f"{faulty}/creds/r")
    took = time.monotonic() - started
    assert status == 400, body
    assert body["errors"][0].startswith("Error creating access keys: NoSuchEntity: The user with name "), body
    assert calls(proxy, "CreateAccessKey") == 6  # first try + 5 waits (0.1 .. 1.6 s)
    assert 3.0 <= took < 15.0, took


def test_permanent_error_fails_fast_with_one_call(bao, moto, faulty, proxy):
    ok(bao.api("POST", f"{faulty}/roles/bad", {
        "credential_type": "iam_user", "policy_arns": ["arn:aws:iam::aws:policy/DoesNotExist"]}), 200, 204)
    started = time.monotonic()
    status, body = bao.api("GET", f"{faulty}/creds/bad")
    took = time.monotonic() - started
    assert status == 400, body
    assert "Error attaching user policy: NoSuchEntity" in body["errors"][0], body
    assert calls(proxy, "AttachUserPolicy") == 1
    assert took < 2.0, took
    text = scrape(bao, faulty)
    # The series exist from start-up at 0; none of them moved.
    attach = re.findall(r'^vault_aws_api_retries_total\{service="IAM",operation="AttachUserPolicy",[^}]*\} (\d+)$', text, re.M)
    assert attach and all(n == "0" for n in attach), attach


def test_lost_create_access_key_answer_leaves_exactly_the_issued_key(bao, moto, faulty, proxy):
    iam = moto.client("iam")
    fault(proxy, "CreateAccessKey", "drop_after")
    body = ok(bao.api("GET", f"{faulty}/creds/r"), 200)
    st = proxy.stats()["actions"]["CreateAccessKey"]
    assert st["calls"] == 2 and st["forwarded"] == 2, st  # the lost one did create a key in moto
    issued = body["data"]["access_key"]
    user = owner_of(iam, issued)
    assert key_ids(iam, user) == [issued]
    assert calls(proxy, "DeleteAccessKey") == 1
    revoke_and_check_gone(bao, iam, body["lease_id"], user)


def test_lost_static_rotation_answer_leaves_one_engine_key(bao, moto, faulty, proxy):
    iam = moto.client("iam")
    user = f"static-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    try:
        ok(bao.api("POST", f"{faulty}/static-roles/s", {"username": user, "rotation_period": "1h"}), 200, 204)
        first = ok(bao.api("GET", f"{faulty}/static-creds/s"), 200)["data"]["access_key"]
        assert key_ids(iam, user) == [first]
        fault(proxy, "CreateAccessKey", "drop_after")
        ok(bao.api("POST", f"{faulty}/rotate-role/s", {}), 200, 204)
        now = ok(bao.api("GET", f"{faulty}/static-creds/s"), 200)["data"]["access_key"]
        assert now != first
        # Lost answer (a key was made), the retry refused (LimitExceeded: two keys), the
        # unknown key deleted, one more try.
        assert calls(proxy, "CreateAccessKey") == 3
        assert calls(proxy, "DeleteAccessKey") == 1
        # The previous key is kept (Vault's default two-key mode); the key of the lost answer is gone.
        assert sorted(key_ids(iam, user)) == sorted([first, now])
    finally:
        ok(bao.api("DELETE", f"{faulty}/static-roles/s"), 200, 204)


def test_retry_quota_never_runs_dry_under_sustained_faults(bao, moto, faulty, proxy):
    # 120 issues whose CreateUser fails on every attempt (3 each). With the SDK's default
    # shared bucket (500 tokens, 5 lost per failed request) retries stop after ~100 of them.
    fault(proxy, "CreateUser", "500", times=360)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: bao.api("GET", f"{faulty}/creds/r", timeout=120), range(120)))
    assert {s for s, _ in results} == {400}, {s for s, _ in results}
    assert all("Error creating IAM user" in b["errors"][0] for _, b in results)
    assert calls(proxy, "CreateUser") == 360  # every failing request made all its attempts
    # Then one more fault: still retried, so the request succeeds.
    fault(proxy, "CreateUser", "500", times=1)
    ok(bao.api("GET", f"{faulty}/creds/r"), 200)
    assert calls(proxy, "CreateUser") == 2


def test_lost_create_user_answer_adopts_the_user_it_made(bao, moto, faulty, proxy):
    iam = moto.client("iam")
    fault(proxy, "CreateUser", "drop_after")
    body = ok(bao.api("GET", f"{faulty}/creds/r"), 200)
    st = proxy.stats()["actions"]["CreateUser"]
    assert st["calls"] == 2 and st["forwarded"] == 2, st  # the first attempt did create the user
    issued = body["data"]["access_key"]
    user = owner_of(iam, issued)
    assert key_ids(iam, user) == [issued]
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]] == [READ_ONLY]
    revoke_and_check_gone(bao, iam, body["lease_id"], user)


def test_someone_elses_user_with_the_same_name_is_never_touched(bao, moto, faulty, proxy):
    iam = moto.client("iam")
    name = f"fixed-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.create_access_key(UserName=name)
    try:
        ok(bao.api("POST", f"{faulty}/config/root", {"username_template": name}), 204)
        status, body = bao.api("GET", f"{faulty}/creds/r")
        assert status == 400, body
        assert body["errors"][0].startswith("Error creating IAM user: EntityAlreadyExists"), body
        # Not deleted, not stripped: the engine did not make it.
        assert len(key_ids(iam, name)) == 1
        assert calls(proxy, "DeleteUser") == 0 and calls(proxy, "ListAccessKeys") == 0
    finally:
        for k in key_ids(iam, name):
            iam.delete_access_key(UserName=name, AccessKeyId=k)
        iam.delete_user(UserName=name)


def test_setup_calls_run_side_by_side_at_most_four(bao, moto, faulty, proxy):
    """Policies, inline policy, groups and tags go out together once the user exists (at most
    4 at a time); the key only after all of them succeeded."""
    iam = moto.client("iam")
    groups = [f"side-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for g in groups:
        iam.create_group(GroupName=g)
    policies = [READ_ONLY, "arn:aws:iam::aws:policy/IAMReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
    ok(bao.api("POST", f"{faulty}/roles/side", {
        "credential_type": "iam_user", "policy_arns": policies, "iam_groups": groups,
        "iam_tags": ["team=qa"]}), 200, 204)
    # Each setup call is held long enough that concurrent ones must overlap at the proxy.
    proxy.configure(delay={"AttachUserPolicy": 0.4, "AddUserToGroup": 0.4, "TagUser": 0.4})
    proxy.reset()
    body = ok(bao.api("GET", f"{faulty}/creds/side"), 200)
    assert proxy.stats()["in_flight_peak"] == 4, proxy.stats()
    user = owner_of(iam, body["data"]["access_key"])
    attached = {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]}
    assert attached == set(policies)
    assert {g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]} == set(groups)
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert tags["team"] == "qa" and set(tags) == {"team", "vault-secrets-aws-mount"}, tags
    assert key_ids(iam, user) == [body["data"]["access_key"]]
    ok(bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True}), 200, 204)
    for g in groups:
        iam.delete_group(GroupName=g)


def test_several_failing_setup_calls_report_the_first_in_vaults_order(bao, moto, faulty, proxy):
    """A missing policy and a missing group both fail; the answer is Vault's for the policy (the
    earlier step), no key is ever made, and the half-made user is gone."""
    ok(bao.api("POST", f"{faulty}/roles/twofail", {
        "credential_type": "iam_user", "policy_arns": ["arn:aws:iam::aws:policy/DoesNotExist"],
        "iam_groups": [f"no-such-{uuid.uuid4().hex[:8]}"]}), 200, 204)
    proxy.reset()
    status, body = bao.api("GET", f"{faulty}/creds/twofail")
    assert status == 400, body
    assert len(body["errors"]) == 1 and body["errors"][0].startswith("Error attaching user policy: NoSuchEntity"), body
    assert calls(proxy, "AddUserToGroup") == 1  # ran alongside, its failure not the one reported
    assert calls(proxy, "CreateAccessKey") == 0
    assert calls(proxy, "CreateUser") == 1 and calls(proxy, "DeleteUser") == 1
    assert not [u for u in moto.client("iam").list_users()["Users"] if "twofail" in u["UserName"]]


def test_at_the_rate_limit_issues_and_revokes_are_paced_and_nothing_fails(bao, moto, faulty, proxy):
    # IAM's limit is per account and cannot be raised: 5 calls/s here, bursts of 5.
    proxy.configure(rate_limit={"rate": 5, "burst": 5, "latency": 0.0})
    time.sleep(1.0)  # a full bucket
    proxy.reset()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: bao.api("GET", f"{faulty}/creds/r", timeout=120), range(16)))
    assert [s for s, _ in results] == [200] * 16, [b for s, b in results if s != 200]
    st = proxy.stats()["rate_limit_stats"]
    # Unpaced, 8 clients x 3 calls in a burst would see most of their calls throttled.
    assert st["throttled"] <= st["allowed"] // 3, st
    text = scrape(bao, faulty)
    assert sum(int(v) for v in re.findall(r'^vault_aws_pacer_wait_seconds_count\{service="IAM"\} (\d+)$', text, re.M)) > 0

    proxy.reset()
    ok(bao.api("PUT", f"sys/leases/revoke-prefix/{faulty}/creds/r", {"sync": True}, timeout=300), 200, 204)
    iam = moto.client("iam")
    keys = {b["data"]["access_key"] for _, b in results}
    left = [u["UserName"] for u in iam.list_users()["Users"] if set(key_ids(iam, u["UserName"])) & keys]
    assert not left, left
    assert not re.search(r'^vault_aws_revocations_total\{type="iam_user",outcome="error"\} [1-9]', scrape(bao, faulty), re.M)


def test_a_throttled_best_effort_step_is_sent_again_not_skipped(bao, moto, faulty, proxy):
    iam = moto.client("iam")
    body = ok(bao.api("GET", f"{faulty}/creds/r"), 200)
    user = owner_of(iam, body["data"]["access_key"])
    # A console password and an inline policy added by hand: DeleteUser refuses while the
    # policy is there (moto does not enforce the password), so revoke tears the user down
    # completely, including the best-effort DeleteLoginProfile.
    iam.create_login_profile(UserName=user, Password="Very-Long-Passw0rd!")
    iam.put_user_policy(UserName=user, PolicyName="by-hand", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}'))
    fault(proxy, "DeleteLoginProfile", "throttle")
    revoke_and_check_gone(bao, iam, body["lease_id"], user)
    st = proxy.stats()["actions"]["DeleteLoginProfile"]
    assert st["calls"] == 2 and st["faults"] == {"throttle": 1}, st
