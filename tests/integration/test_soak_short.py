"""The short soak (scripts/soak.py --short) as part of `make test`, and its invariants.

One run of the soak (its own moto + OpenBao servers + scripts/faultproxy.py, ~2.5 min),
then one test per section that asserts the figures the soak marks as invariants:

a. 10% injected AWS faults over 100 creds requests from 10 clients: every failed request's
   error names the AWS call; after revoke -prefix and the rollback tick (WAL entries
   backdated through sys/raw), 0 users and 0 access keys left; no user outside a WAL entry.
b. kill -9 of the plugin while creds requests wait in CreateAccessKey: the next request
   works, no panic, 0 orphans after the rollback tick.
c. RaftBao restart with leases outstanding: renew and revoke of the old leases work and
   delete their users.
e. revoke -prefix of 50 leases: all users gone (the time beside boto3 is printed, not asserted).
f. 500 generated bad requests: same plugin pid, no 5xx from the plugin, no 2xx, every 4xx
   with a message, config/root + roles unchanged.
g. trace logging: no secret key / session token / root secret in the server log or in a
   response that did not issue it.
h. upgrade (plugin register -version, secrets tune -plugin-version, plugin reload) to the same
   build stamped with the next version, under ~10 req/s of creds / sts / revoke: no operation
   fails twice, both mounts run the new version, old leases renew and revoke under it, no
   user outside a lease or WAL entry (0 after the rollback tick), and the root key (20 s) and a
   static role (60 s) rotate after the upgrade.

(d, the 3-node HA failover, needs two 60 s rotation periods: `make soak` only.)
The soak's own output (every figure beside its goal) is shown when a test fails.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import devstack

TIMEOUT = 600  # seconds; the short soak takes ~2.5 min


@pytest.fixture(scope="module")
def soak(plugin_binary, tmp_path_factory):
    out = tmp_path_factory.mktemp("soak") / "soak.json"
    cmd = [devstack.venv_python(), str(devstack.REPO / "scripts" / "soak.py"), "--short",
           "--plugin", str(plugin_binary), "--json", str(out)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=devstack.REPO)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"soak --short did not finish in {TIMEOUT}s:\n{(e.stdout or b'')[-20000:]}", pytrace=False)
    if not out.exists():
        pytest.fail(f"soak --short wrote no results (exit {res.returncode}):\n{res.stdout[-20000:]}\n"
                    f"{res.stderr[-5000:]}", pytrace=False)
    data = json.loads(out.read_text())
    data["stdout"] = res.stdout
    data["stderr"] = res.stderr
    return data


def assert_invariants(soak: dict, section: str) -> None:
    rows = [r for r in soak["figures"] if r["section"] == section]
    assert rows, f"section {section} produced no figures:\n{soak['stdout'][-20000:]}"
    failed = [r for r in rows if r["invariant"] and r["met"] is False]
    if failed:
        lines = "\n".join(f"  {r['name']}: {r['value']!r} (goal {r['goal']!r})" for r in failed)
        details = json.dumps(soak["details"].get(section, {}), indent=1, ensure_ascii=False, default=str)
        pytest.fail(f"soak section {section}: invariants missed:\n{lines}\n\ndetails:\n{details[:15000]}\n\n"
                    f"soak output (tail):\n{soak['stdout'][-12000:]}\n{soak['stderr'][-3000:]}", pytrace=False)


def test_soak_ran_without_errors_of_its_own(soak):
    assert soak["errors"] == {}, f"{soak['errors']}\n{soak['stderr'][-10000:]}"
    print(soak["stdout"][soak["stdout"].find("== figures"):], file=sys.stderr)


def test_no_vault_user_or_key_left_in_moto_at_the_end(soak):
    assert_invariants(soak, "all")


def test_a_faults_leave_no_users_and_errors_name_the_aws_call(soak):
    assert_invariants(soak, "a")


def test_b_kill9_mid_issue_next_request_works_and_no_orphans(soak):
    assert_invariants(soak, "b")


def test_c_restart_with_leases_outstanding(soak):
    assert_invariants(soak, "c")


def test_e_mass_revocation_deletes_every_user(soak):
    assert_invariants(soak, "e")


def test_f_bad_input_is_refused_with_4xx_and_changes_nothing(soak):
    assert_invariants(soak, "f")


def test_g_no_secret_in_trace_log_or_non_issuing_responses(soak):
    assert_invariants(soak, "g")


def test_h_upgrade_under_traffic_loses_nothing(soak):
    assert_invariants(soak, "h")
