"""The `metrics` path as an operator uses it: a real Prometheus scrapes a real OpenBao with the
plugin, using a token that may read `<mount>/metrics` and nothing else, and loads the rule files
from deploy/prometheus/. Every check goes through PromQL.

* every series an alert reads exists from start-up at 0;
* a healthy issue-and-revoke cycle raises no error series and adds no series;
* an AWS failure injected with scripts/faultproxy.py moves exactly the expected series, and so
  does a failed issue whose cleanup meets "already gone" (the login profile's NoSuchEntity is
  `absent`) and moto's unimplemented ListServiceSpecificCredentials (`skipped`);
* `promtool check metrics` accepts the text, `promtool test rules` passes, and every expression
  of the Grafana dashboard is valid PromQL with data behind it.

Prometheus and promtool come from Debian's `prometheus` package (scripts/setup-prometheus.sh,
run by `make test`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import devstack
from faultproxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULE_FILES = sorted((DEPLOY / "prometheus").glob("*.rules.yml"))
DASHBOARD = DEPLOY / "grafana" / "vault-aws-dashboard.json"
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]})
DEADLINE = 30.0


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run scripts/setup-prometheus.sh (make test does)", pytrace=False)
    return path


class Prometheus(devstack.ManagedProcess):
    """A Prometheus server on 127.0.0.1:<free port>, scraping every second."""

    kind = "prometheus"

    def __init__(self, config: str):
        super().__init__()
        self.port = devstack.free_port()
        (self.workdir / "prometheus.yml").write_text(config)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Prometheus":
        self._spawn([
            tool("prometheus"),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ])
        self._wait_until(lambda: devstack.http_request("GET", self.url + "/-/ready", timeout=2)[0] == 200,
                         60, "ready")
        return self

    def api(self, path: str, **params: str) -> dict:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        status, raw = devstack.http_request("GET", url, timeout=10)
        body = json.loads(raw)
        assert status == 200 and body["status"] == "success", f"{path} {params}: HTTP {status} {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query; the result vector."""
        return self.api("query", query=expr)["result"]

    def values(self, expr: str) -> dict[str, float]:
        """Instant query as ``{series text: value}``."""
        out = {}
        for s in self.query(expr):
            m = dict(s["metric"])
            name = m.pop("__name__", "")
            for k in ("job", "instance", "mount"):
                m.pop(k, None)
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(m.items()))
            out[f"{name}{{{labels}}}"] = float(s["value"][1])
        return out

    def wait_for(self, expr: str, what: str) -> None:
        """Polls until ``expr`` returns something (e.g. ``x == 1`` once a scrape shows it)."""
        deadline = time.monotonic() + DEADLINE
        while not self.query(expr):
            assert time.monotonic() < deadline, f"Prometheus never saw {what}: {expr}"
            time.sleep(0.2)


class Scraped:
    """One mount scraped by Prometheus, its IAM calls through a fault proxy."""

    def __init__(self, bao, mount: str, token: str, prom: Prometheus, proxy: FaultProxy):
        self.bao, self.mount, self.token, self.prom, self.proxy = bao, mount, token, prom, proxy

    def sel(self, **labels: str) -> str:
        """A label matcher for this mount's series, plus ``labels``."""
        return ",".join(f'{k}="{v}"' for k, v in {"mount": self.mount, **labels}.items())

    def series(self, name: str, **labels: str) -> str:
        return f"{name}{{{self.sel(**labels)}}}"

    def snapshot(self) -> dict[str, float]:
        """Every counter, histogram count and gauge of the mount, as Prometheus has it now."""
        return self.prom.values(f'{{__name__=~"vault_aws_.+",__name__!~".+_(bucket|sum)",{self.sel()}}}')

    def issue(self, role: str) -> tuple[int, dict]:
        return self.bao.api("GET", f"{self.mount}/creds/{role}")

    def healthy_cycle(self) -> int:
        """Issues and revokes an iam_user and an assumed_role lease; the issues count before."""
        issued = self.series("vault_aws_credentials_issued_total", outcome="success")
        revoked = self.series("vault_aws_revocations_total", outcome="success")
        n = sum(self.prom.values(issued).values())
        for role in ("dev", "ar"):
            status, body = self.issue(role)
            assert status == 200, body
            status, body = self.bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True})
            assert status in (200, 204), body
        self.prom.wait_for(f"sum({issued}) == {n + 2} and on() sum({revoked}) >= {n + 2}", "the healthy cycle")
        return int(n)

    def raw_metrics(self, headers: dict) -> tuple[int, bytes]:
        return devstack.http_request("GET", f"{self.bao.addr}/v1/{self.mount}/metrics", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def scraped(stack):
    bao, moto = stack.bao, stack.moto
    mount = f"aws-prom-{int(time.time() * 1000) % 10**8}"
    status, body = bao.api("POST", f"sys/mounts/{mount}", {"type": stack.plugin_name})
    assert status in (200, 204), body
    proxy = FaultProxy(moto.endpoint, seed=3)
    prom = None
    try:
        proxy.start()
        proxy.configure(fraction=0.0, budget=None, actions=None, modes=["throttle"])
        status, body = bao.api("POST", f"{mount}/config/root", {
            "access_key": "testing", "secret_key": "testing", "region": "us-east-1",
            "iam_endpoint": proxy.url, "sts_endpoint": moto.endpoint, "max_retries": 1})
        assert status == 204, body
        for role, data in (("dev", {"credential_type": "iam_user", "policy_document": DOC}),
                           ("nopolicy", {"credential_type": "iam_user",
                                         "policy_arns": ["arn:aws:iam::aws:policy/DoesNotExist"]}),
                           ("ar", {"credential_type": "assumed_role",
                                   "role_arns": ["arn:aws:iam::123456789012:role/metrics"]})):
            status, body = bao.api("POST", f"{mount}/roles/{role}", data)
            assert status in (200, 204), body
        policy = f'path "{mount}/metrics" {{ capabilities = ["read"] }}'
        status, body = bao.api("PUT", f"sys/policies/acl/{mount}-metrics", {"policy": policy})
        assert status in (200, 204), body
        status, body = bao.api("POST", "auth/token/create", {
            "policies": [f"{mount}-metrics"], "no_default_policy": True, "ttl": "1h"})
        assert status == 200, body
        token = body["auth"]["client_token"]
        host = urllib.parse.urlsplit(bao.addr).netloc
        config = json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in RULE_FILES],
            "scrape_configs": [{
                "job_name": "vault-aws",
                "metrics_path": f"/v1/{mount}/metrics",
                "authorization": {"type": "Bearer", "credentials": token},
                "static_configs": [{"targets": [host], "labels": {"mount": mount}}],
            }],
        })  # JSON is YAML
        prom = Prometheus(config).start()
        prom.wait_for(f'up{{mount="{mount}"}} == 1', "the mount's target up")
        yield Scraped(bao, mount, token, prom, proxy)
    finally:
        if prom is not None:
            prom.stop()
        proxy.stop()
        bao.api("DELETE", f"sys/mounts/{mount}")
        bao.api("DELETE", f"sys/policies/acl/{mount}-metrics")


def test_metrics_token_reads_metrics_and_nothing_else(scraped):
    for headers in ({"X-Vault-Token": scraped.token}, {"Authorization": f"Bearer {scraped.token}"}):
        status, text = scraped.raw_metrics(headers)
        assert status == 200, text
        assert b"# TYPE vault_aws_credentials_issued_total counter" in text
    for method, path in (("GET", "creds/dev"), ("GET", "sts/ar"), ("GET", "config/root"),
                         ("LIST", "roles"), ("POST", "config/rotate-root")):
        status, body = scraped.bao.api(method, f"{scraped.mount}/{path}", token=scraped.token)
        assert status == 403, (method, path, status, body)


def test_every_alert_series_exists_from_the_start_at_zero(scraped):
    prom, sel = scraped.prom, scraped.sel
    # min_over_time over everything scraped: each series was 0 at some scrape, i.e. it existed
    # before its first increment (so rate() and increase() see that increment).
    expected = {
        f'vault_aws_credentials_issued_total{{{sel()}}}': 4 * 3,  # 4 types x success/rejected/error
        f'vault_aws_revocations_total{{{sel()}}}': 2 * 2,  # iam_user/sts x success/error
        f'vault_aws_static_rotations_total{{{sel()}}}': 2,
        f'vault_aws_root_rotations_total{{{sel()}}}': 2,
        f'vault_aws_api_throttles_total{{{sel(service="STS")}}}': 3,
        f'vault_aws_api_retries_total{{{sel(service="IAM", operation="CreateUser")}}}': 5,
        f'vault_aws_api_calls_total{{{sel(operation="DeleteLoginProfile")}}}': 4,
        f'vault_aws_key_ready_timeouts_total{{{sel()}}}': 1,
        f'vault_aws_orphans_deleted_total{{{sel()}}}': 1,
        f'vault_aws_orphan_delete_failures_total{{{sel()}}}': 1,
        f'vault_aws_orphan_sweeps_total{{{sel()}}}': 2,
        f'vault_aws_key_ready_seconds_count{{{sel()}}}': 1,
        f'vault_aws_pacer_wait_seconds_count{{{sel()}}}': 2,
        f'vault_aws_wal_entries{{{sel()}}}': 1,
        f'vault_aws_wal_oldest_age_seconds{{{sel()}}}': 1,
        f'vault_aws_root_key_delete_pending{{{sel()}}}': 1,
        f'vault_aws_root_rotation_failing{{{sel()}}}': 1,
        f'vault_aws_static_queue_depth{{{sel()}}}': 1,
    }
    for series, n in expected.items():
        got = prom.query(f"min_over_time({series}[1h]) == 0")
        assert len(got) == n, (series, got)
    assert len(prom.query(f'vault_aws_api_throttles_total{{{sel(service="IAM")}}}')) >= 28


def test_promtool_accepts_the_text_and_the_rules(scraped):
    status, text = scraped.raw_metrics({"Authorization": f"Bearer {scraped.token}"})
    assert status == 200
    r = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert r.returncode == 0 and not r.stdout and not r.stderr, r.stdout + r.stderr
    r = subprocess.run([tool("promtool"), "check", "rules", *map(str, RULE_FILES)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([tool("promtool"), "test", "rules", "vault-aws-rules.test.yml"], capture_output=True,
                       text=True, timeout=120, cwd=DEPLOY / "prometheus" / "tests")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    # The running Prometheus loaded and evaluates every rule against the real series.
    groups = scraped.prom.api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 14, [r["name"] for r in rules]
    scraped.prom.wait_for('vault_aws:issue_error_ratio:rate5m{type="iam_user"}', "a recorded rule")
    rules = [r for g in scraped.prom.api("rules")["groups"] for r in g["rules"]]
    assert all(r["health"] == "ok" and not r.get("lastError") for r in rules), rules


def test_healthy_issue_and_revoke_raises_no_error_series(scraped):
    before = scraped.snapshot()
    scraped.healthy_cycle()
    after = scraped.snapshot()
    assert set(after) >= set(before)
    # No series with an error outcome rose, whatever its metric.
    rose = {s: after[s] - before.get(s, 0) for s in after
            if 'outcome="error"' in s and after[s] != before.get(s, 0)}
    assert rose == {}, rose
    assert scraped.prom.query(f'{{__name__=~"vault_aws_.+_total",{scraped.sel(outcome="error")}}} > 0') == []

    def moved(series: str) -> float:
        return after.get(series, 0) - before.get(series, 0)
    assert moved('vault_aws_api_calls_total{operation="DeleteAccessKey",outcome="success",service="IAM"}') == 1
    assert moved('vault_aws_api_calls_total{operation="DeleteUser",outcome="success",service="IAM"}') == 1
    assert moved('vault_aws_api_calls_total{operation="AssumeRole",outcome="success",service="STS"}') == 1
    assert moved('vault_aws_credential_issue_seconds_count{outcome="success",type="iam_user"}') == 1
    assert moved('vault_aws_revocations_total{outcome="success",type="sts"}') == 1
    assert moved('vault_aws_revoke_seconds_count{outcome="success",type="iam_user"}') == 1
    # Counters of every call the cycle made existed before it (only latency histograms are new).
    new = {s for s in set(after) - set(before) if not s.startswith("vault_aws_api_seconds_count")}
    assert new == set(), new


def test_injected_throttling_moves_exactly_the_expected_series(scraped):
    before = scraped.snapshot()
    errors = before.get('vault_aws_credentials_issued_total{outcome="error",type="iam_user"}', 0)
    # Both attempts of the next CreateUser (max_retries=1) are throttled; everything else passes.
    scraped.proxy.configure(fraction=1.0, budget=2, actions=["CreateUser"], modes=["throttle"])
    try:
        status, body = scraped.issue("dev")
    finally:
        scraped.proxy.configure(fraction=0.0, budget=None, actions=None)
    assert status == 502, body
    issued = scraped.series("vault_aws_credentials_issued_total", type="iam_user", outcome="error")
    scraped.prom.wait_for(f"{issued} == {errors + 1}", "the failed issue")
    after = scraped.snapshot()
    moved = without_timing({s: after[s] - before.get(s, 0) for s in after if after[s] != before.get(s, 0)})
    assert moved == {
        'vault_aws_credentials_issued_total{outcome="error",type="iam_user"}': 1,
        'vault_aws_credential_issue_seconds_count{outcome="error",type="iam_user"}': 1,
        'vault_aws_api_calls_total{operation="CreateUser",outcome="error",service="IAM"}': 1,
        'vault_aws_api_seconds_count{operation="CreateUser",outcome="error",service="IAM"}': 1,
        'vault_aws_api_throttles_total{operation="CreateUser",service="IAM"}': 2,
        'vault_aws_api_retries_total{class="throttling",operation="CreateUser",service="IAM"}': 1,
    }, moved
    # The series existed at 0, so rate() sees the very first throttle and the rules react.
    scraped.prom.wait_for(f'vault_aws:api_throttles:rate5m{{{scraped.sel(service="IAM")}}} > 0',
                          "the throttle rate")
    scraped.prom.wait_for(f'vault_aws:issue_error_ratio:rate5m{{{scraped.sel(type="iam_user")}}} > 0',
                          "the issue error ratio")


def without_timing(moved: dict) -> dict:
    """The series that count outcomes: the pacer's wait (one sample per AWS call sent) and the
    issue phase timers (one sample per phase reached) move with any traffic."""
    return {s: v for s, v in moved.items()
            if not s.startswith(("vault_aws_pacer_wait_seconds", "vault_aws_issue_phase_seconds"))}


def test_failed_issue_moves_only_its_error_and_its_cleanup(scraped):
    before = scraped.snapshot()
    # A policy that does not exist: AttachUserPolicy fails, and the half-made user is torn down
    # at once by the full teardown, which meets "already gone" and an unimplemented call.
    status, body = scraped.issue("nopolicy")
    assert status == 400 and "NoSuchEntity" in body["errors"][0], body
    errors = before.get('vault_aws_credentials_issued_total{outcome="error",type="iam_user"}', 0)
    issued = scraped.series("vault_aws_credentials_issued_total", type="iam_user", outcome="error")
    scraped.prom.wait_for(f"{issued} == {errors + 1}", "the failed issue")
    after = scraped.snapshot()
    moved = without_timing({s: after[s] - before.get(s, 0) for s in after if after[s] != before.get(s, 0)})
    # The teardown's successful calls move too; everything else is exactly this.
    not_success = {s: v for s, v in moved.items() if 'outcome="success"' not in s or "_api_" not in s}
    assert not_success == {
        'vault_aws_credentials_issued_total{outcome="error",type="iam_user"}': 1,
        'vault_aws_credential_issue_seconds_count{outcome="error",type="iam_user"}': 1,
        'vault_aws_api_calls_total{operation="AttachUserPolicy",outcome="error",service="IAM"}': 1,
        'vault_aws_api_seconds_count{operation="AttachUserPolicy",outcome="error",service="IAM"}': 1,
        'vault_aws_api_calls_total{operation="DeleteLoginProfile",outcome="absent",service="IAM"}': 1,
        'vault_aws_api_seconds_count{operation="DeleteLoginProfile",outcome="absent",service="IAM"}': 1,
        'vault_aws_api_calls_total{operation="ListServiceSpecificCredentials",outcome="skipped",service="IAM"}': 1,
        'vault_aws_api_seconds_count{operation="ListServiceSpecificCredentials",outcome="skipped",service="IAM"}': 1,
    }, not_success
    assert moved['vault_aws_api_calls_total{operation="DeleteUser",outcome="success",service="IAM"}'] == 1
    assert after['vault_aws_wal_entries{}'] == 0


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def test_dashboard_expressions_are_valid_promql_with_data(scraped):
    scraped.healthy_cycle()  # the per-call latency panel needs calls
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    mount = scraped.sel()
    for title, expr in exprs:
        q = (expr.replace("$__rate_interval", "1m").replace('job=~"$job"', 'job=~".+"')
             .replace('instance=~"$instance"', mount))
        assert "$" not in q, (title, q)
        result = scraped.prom.query(q)
        assert result, f"panel {title!r}: no data for {q}"
    dash = json.loads(DASHBOARD.read_text())
    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        metric, label = var["query"]["query"].removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
        metric = metric.replace('job=~"$job"', 'job=~".+"')
        values = scraped.prom.api(f"label/{label}/values", **{"match[]": metric})
        assert values, var
