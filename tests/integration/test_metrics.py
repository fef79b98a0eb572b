"""The `metrics` path: Prometheus text with issue/revoke counters and per-API AWS figures."""

from __future__ import annotations

import json
import re
import urllib.request


def scrape(bao, m: str) -> tuple[int, str, str]:
    req = urllib.request.Request(f"{bao.addr}/v1/{m}/metrics", headers={"X-Vault-Token": bao.token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def configured(bao, moto, m: str, role: str, *role_fields: str) -> str:
    """Points mount ``m`` at moto and writes ``role`` with ``role_fields``; returns ``m``."""
    bao.cli("write", f"{m}/config/root", "access_key=testing", "secret_key=testing", "region=us-east-1",
            f"iam_endpoint={moto.endpoint}", f"sts_endpoint={moto.endpoint}", check=True)
    bao.cli("write", f"{m}/roles/{role}", *role_fields, check=True)
    return m


def test_metrics_count_issue_revoke_and_aws_calls(bao, moto, mount):
    m = mount()
    bao.cli("write", f"{m}/config/root", "access_key=testing", "secret_key=testing", "region=us-east-1",
            f"iam_endpoint={moto.endpoint}", f"sts_endpoint={moto.endpoint}", check=True)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]})
    bao.cli("write", f"{m}/roles/met", "credential_type=iam_user", f"policy_document={doc}", check=True)
    lease = json.loads(bao.cli("read", "-format=json", f"{m}/creds/met", check=True).stdout)["lease_id"]
    bao.cli("lease", "revoke", "-sync", lease, check=True)
    # A failing issue: the role is gone.
    bao.cli("read", f"{m}/creds/missing")

    status, ctype, text = scrape(bao, m)
    assert status == 200
    assert ctype.startswith("text/plain"), ctype
    assert "# TYPE vault_aws_credential_issue_seconds histogram" in text
    assert value(text, 'vault_aws_credentials_issued_total{type="iam_user",outcome="success"}') == 1
    assert value(text, 'vault_aws_revocations_total{type="iam_user",outcome="success"}') == 1
    assert value(text, 'vault_aws_api_calls_total{service="IAM",operation="CreateUser",outcome="success"}') == 1
    assert value(text, 'vault_aws_api_calls_total{service="IAM",operation="DeleteUser",outcome="success"}') == 1
    assert value(text, 'vault_aws_credential_issue_seconds_count{type="iam_user",outcome="success"}') == 1
    assert value(text, "vault_aws_wal_entries") == 0
    assert re.search(r'^vault_aws_api_seconds_bucket\{service="IAM",operation="CreateAccessKey",outcome="success",le="\+Inf"\} 1$', text, re.M)
    # The failed issue (role missing) is not counted: it never reached a credential type.
    assert sum(value(text, f'vault_aws_credentials_issued_total{{type="{t}",outcome="{o}"}}')
               for t in ("iam_user", "assumed_role", "federation_token", "session_token")
               for o in ("rejected", "error")) == 0
    # Revoking a user the engine created: no AWS call counts as an error.
    errors = re.findall(r'^vault_aws_api_calls_total\{[^}]*outcome="error"\} (\d+)$', text, re.M)
    assert errors and all(n == "0" for n in errors), errors


def test_cleanup_of_a_failed_issue_counts_gone_as_absent_and_best_effort_as_skipped(bao, moto, mount):
    m = configured(bao, moto, mount(), "bad", "credential_type=iam_user",
                   "policy_arns=arn:aws:iam::aws:policy/DoesNotExist")
    status, body = bao.api("GET", f"{m}/creds/bad")
    assert status == 400, body
    # The half-made user is torn down at once, listing everything: its login profile does not
    # exist (NoSuchEntity: already gone) and moto does not implement a best-effort list.
    _, _, text = scrape(bao, m)
    assert value(text, 'vault_aws_api_calls_total{service="IAM",operation="DeleteLoginProfile",outcome="absent"}') == 1
    assert value(text, 'vault_aws_api_calls_total{service="IAM",operation="ListServiceSpecificCredentials",outcome="skipped"}') == 1
    assert value(text, 'vault_aws_api_calls_total{service="IAM",operation="DeleteUser",outcome="success"}') == 1
    errors = dict(re.findall(r'^vault_aws_api_calls_total\{([^}]*outcome="error")\} (\d+)$', text, re.M))
    assert {k: v for k, v in errors.items() if v != "0"} == {
        'service="IAM",operation="AttachUserPolicy",outcome="error"': "1"}, errors
    assert value(text, 'vault_aws_credentials_issued_total{type="iam_user",outcome="error"}') == 1
    assert value(text, "vault_aws_wal_entries") == 0


def test_bad_input_is_rejected_not_an_error(bao, moto, mount):
    m = configured(bao, moto, mount(), "ar", "credential_type=assumed_role",
                   "role_arns=arn:aws:iam::123456789012:role/a,arn:aws:iam::123456789012:role/b")
    # Two role ARNs and none chosen: Vault's 400, before any AWS call.
    status, body = bao.api("GET", f"{m}/sts/ar")
    assert status == 400, body
    _, _, text = scrape(bao, m)
    assert value(text, 'vault_aws_credentials_issued_total{type="assumed_role",outcome="rejected"}') == 1
    assert value(text, 'vault_aws_credentials_issued_total{type="assumed_role",outcome="error"}') == 0
    assert value(text, 'vault_aws_credential_issue_seconds_count{type="assumed_role",outcome="error"}') == 0


def test_metrics_are_per_mount(bao, moto, mount):
    a, b = mount(), mount()
    for m in (a, b):
        bao.cli("write", f"{m}/config/root", "access_key=testing", "secret_key=testing", "region=us-east-1",
                f"iam_endpoint={moto.endpoint}", f"sts_endpoint={moto.endpoint}", check=True)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]})
    bao.cli("write", f"{a}/roles/x", "credential_type=iam_user", f"policy_document={doc}", check=True)
    lease = json.loads(bao.cli("read", "-format=json", f"{a}/creds/x", check=True).stdout)["lease_id"]
    _, _, text_b = scrape(bao, b)
    assert value(text_b, 'vault_aws_credentials_issued_total{type="iam_user",outcome="success"}') == 0
    bao.cli("lease", "revoke", "-sync", lease, check=True)
