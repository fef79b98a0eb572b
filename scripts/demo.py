#!/usr/bin/env python3
"""A guided tour of the AWS secrets engine against a real OpenBao and moto.

    make demo                      # builds, sets up .venv, runs this
    .venv/bin/python scripts/demo.py [--plugin PATH] [--keep-going]

Starts moto and ``bao server -dev`` (scripts/devstack.py), installs the plugin
binary, then runs STEPS in order, printing every command and its output like a
tutorial. Everything started is stopped at the end (also on Ctrl-C or error).
Exit status: 0 if every step did what it expected, 1 otherwise.

Adding a step: append to STEPS. ``bao(...)`` runs the real bao CLI; its
arguments may use ``{name}`` placeholders filled from ``ctx.vars`` (e.g.
``{moto_endpoint}``, ``{plugin_sha256}``) and ``save=`` can store values from
the output for later steps. ``py(...)`` runs a Python function (boto3 checks).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import devstack  # noqa: E402

BOLD, DIM, RED, GREEN, RESET = "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m"
if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
    BOLD = DIM = RED = GREEN = RESET = ""


@dataclass
class Ctx:
    stack: devstack.Stack
    plugin: Path
    name: str = "aws"
    vars: dict = field(default_factory=dict)

    @property
    def bao(self) -> devstack.Bao:
        return self.stack.bao

    @property
    def moto(self) -> devstack.Moto:
        return self.stack.moto


@dataclass
class Step:
    title: str
    explain: str = ""
    # Exactly one of these two:
    args: Optional[list] = None  # bao CLI arguments ({placeholders} from ctx.vars)
    fn: Optional[Callable[[Ctx], Any]] = None  # Python step; raise (or return False) to fail
    expect_fail: bool = False  # for steps that show an error on purpose
    save: Optional[Callable[[Ctx, str], None]] = None  # bao steps: read values from stdout


def bao(title: str, *args: str, explain: str = "", expect_fail: bool = False,
        save: Optional[Callable[[Ctx, str], None]] = None) -> Step:
    return Step(title, explain, args=list(args), expect_fail=expect_fail, save=save)


def py(title: str, fn: Callable[[Ctx], Any], explain: str = "") -> Step:
    return Step(title, explain, fn=fn)


def say(cmd: str) -> None:
    print(f"{BOLD}$ {cmd}{RESET}", flush=True)


def out(text: str) -> None:
    text = text.rstrip("\n")
    if text:
        print(textwrap.indent(text, "  "), flush=True)


# --------------------------------------------------------------------------
# Python steps
# --------------------------------------------------------------------------


def copy_binary(ctx: Ctx) -> None:
    dest = devstack.copy_plugin(ctx.plugin, ctx.bao.plugin_dir)
    say(f"cp {_rel(ctx.plugin)} $PLUGIN_DIR/{dest.name}")
    say(f"sha256sum $PLUGIN_DIR/{dest.name}")
    ctx.vars["plugin_sha256"] = devstack.sha256_file(dest)
    out(f"{ctx.vars['plugin_sha256']}  {dest}")


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(devstack.REPO))
    except ValueError:
        return str(p)


ROOT_USER = "engine-root"  # the engine's own IAM user (not vault-*: those are the issued ones)
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
DEADLINE = 30.0


def _table(stdout: str) -> dict:
    """``bao read``/``write`` table output -> {key: value}."""
    rows = {}
    for line in stdout.splitlines()[2:]:  # skip "Key Value" and "--- -----"
        parts = line.split(None, 1)
        if len(parts) == 2:
            rows[parts[0]] = parts[1].strip()
    return rows


def save_as(prefix: str, *keys: str) -> Callable[[Ctx, str], None]:
    """``save=`` callback: store table values as ``{prefix}_{key}`` in ctx.vars."""
    def save(ctx: Ctx, stdout: str) -> None:
        rows = _table(stdout)
        for k in keys:
            if k not in rows:
                raise KeyError(f"{k} not in the output")
            ctx.vars[f"{prefix}_{k}"] = rows[k]
    return save


def _poll(fn: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Call ``fn`` until it stops raising botocore's ClientError; give up at the deadline."""
    from botocore.exceptions import ClientError

    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return fn()
        except ClientError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: still failing after {timeout:.0f}s") from None
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _aws(ctx: Ctx, prefix: str, cmd: str) -> None:
    """Print the aws-cli equivalent of a boto3 call made with issued key ``prefix``."""
    key = ctx.vars.get(f"{prefix}_access_key", "testing")
    say(f"AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY=*** aws --endpoint-url {ctx.moto.endpoint} {cmd}")


def _client(ctx: Ctx, service: str, prefix: str):
    return ctx.moto.client(service, access_key=ctx.vars[f"{prefix}_access_key"],
                           secret_key=ctx.vars[f"{prefix}_secret_key"])


def create_root_user(ctx: Ctx) -> None:
    iam = ctx.moto.client("iam")  # moto's dummy key; moto does not check it yet
    admin = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    say(f"aws --endpoint-url {ctx.moto.endpoint} iam create-user --user-name {ROOT_USER}")
    user = iam.create_user(UserName=ROOT_USER)["User"]
    out(f"Arn: {user['Arn']}")
    say(f"aws iam put-user-policy --user-name {ROOT_USER} --policy-name admin --policy-document '{admin}'")
    iam.put_user_policy(UserName=ROOT_USER, PolicyName="admin", PolicyDocument=admin)
    say(f"aws iam create-access-key --user-name {ROOT_USER}")
    key = iam.create_access_key(UserName=ROOT_USER)["AccessKey"]
    ctx.vars["root_access_key"] = key["AccessKeyId"]
    ctx.vars["root_secret_key"] = key["SecretAccessKey"]
    out(f"AccessKeyId: {key['AccessKeyId']}\nSecretAccessKey: {key['SecretAccessKey']}")


def enforce_auth(ctx: Ctx) -> None:
    from botocore.exceptions import ClientError

    say(f"curl -X POST -H 'Content-Type: text/plain' -d 0 {ctx.moto.endpoint}/moto-api/reset-auth")
    out(json.dumps(ctx.moto.set_auth(0)))
    _aws(ctx, "nobody", "iam list-users")
    try:
        ctx.moto.client("iam").list_users()
    except ClientError as e:
        out(f"An error occurred ({e.response['Error']['Code']}): {e.response['Error']['Message']}")
        print(f"  {DIM}(refused: moto now wants a real key){RESET}")
        return
    raise AssertionError("moto still accepts the dummy key")


def who_am_i(prefix: str, iam_via: Optional[str] = None) -> Callable[[Ctx], None]:
    """sts get-caller-identity with issued key ``prefix``; then iam get-user with it (or ``iam_via``)."""
    def step(ctx: Ctx) -> None:
        _aws(ctx, prefix, "sts get-caller-identity")
        ident = _poll(lambda: _client(ctx, "sts", prefix).get_caller_identity(), "sts get-caller-identity")
        out(f"Account: {ident['Account']}\nArn:     {ident['Arn']}")
        user_name = ctx.vars[f"{prefix}_user"] = ident["Arn"].rsplit("/", 1)[1]
        via = iam_via or prefix
        _aws(ctx, via, f"iam get-user --user-name {user_name}")
        user = _poll(lambda: _client(ctx, "iam", via).get_user(UserName=user_name), "iam get-user")["User"]
        out(f"UserName:   {user['UserName']}\nPath:       {user['Path']}\n"
            f"CreateDate: {user['CreateDate']:%Y-%m-%d %H:%M:%S}")
    return step


def read_only_is_read_only(ctx: Ctx) -> None:
    from botocore.exceptions import ClientError

    iam = _client(ctx, "iam", "ro")
    _aws(ctx, "ro", f"iam list-access-keys --user-name {ROOT_USER}")
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=ROOT_USER)["AccessKeyMetadata"]]
    out("\n".join(keys))
    if keys != [ctx.vars["rotated_access_key"]]:
        raise AssertionError(f"expected only the rotated key {ctx.vars['rotated_access_key']}, got {keys}")
    print(f"  {DIM}(one key: the one rotate-root made; the key we typed in is gone){RESET}")
    _aws(ctx, "ro", "iam create-user --user-name intruder")
    try:
        iam.create_user(UserName="intruder")
    except ClientError as e:
        out(f"An error occurred ({e.response['Error']['Code']}): {e.response['Error']['Message']}")
        return
    raise AssertionError("a ReadOnlyAccess key could create a user")


def show_inline_policy(ctx: Ctx) -> None:
    from botocore.exceptions import ClientError

    user = ctx.vars["inline_user"]
    _aws(ctx, "inline", "iam list-users")
    try:
        _client(ctx, "iam", "inline").list_users()
    except ClientError as e:
        out(f"An error occurred ({e.response['Error']['Code']}): {e.response['Error']['Message']}")
    else:
        raise AssertionError("the S3-only key could call IAM")
    print(f"  {DIM}(this key may only read S3; the read-only key can show us its policy){RESET}")
    _aws(ctx, "ro", f"iam get-user-policy --user-name {user} --policy-name s3-reader")
    doc = _client(ctx, "iam", "ro").get_user_policy(UserName=user, PolicyName="s3-reader")["PolicyDocument"]
    out(json.dumps(doc, indent=2))


def revoked_key_is_dead(ctx: Ctx) -> None:
    from botocore.exceptions import ClientError

    _aws(ctx, "ro", "sts get-caller-identity")
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            _client(ctx, "sts", "ro").get_caller_identity()
        except ClientError as e:
            out(f"An error occurred ({e.response['Error']['Code']}): {e.response['Error']['Message']}")
            return
        if time.monotonic() > deadline:
            raise AssertionError("the revoked key still works")
        time.sleep(0.2)


def no_users_left(ctx: Ctx) -> None:
    say(f"curl -X POST -H 'Content-Type: text/plain' -d inf {ctx.moto.endpoint}/moto-api/reset-auth")
    ctx.moto.set_auth(float("inf"))
    print(f"  {DIM}(moto's checks off again, to look around with its dummy key){RESET}")
    say(f"aws --endpoint-url {ctx.moto.endpoint} iam list-users --query 'Users[].UserName'")
    iam = ctx.moto.client("iam")
    names = [u["UserName"] for page in iam.get_paginator("list_users").paginate() for u in page["Users"]]
    out(json.dumps(names, indent=2))
    left = [n for n in names if n.startswith("vault-")]
    if left:
        raise AssertionError(f"users the engine made are still there: {left}")
    print(f"  {DIM}(only {ROOT_USER}: every user the engine created is gone){RESET}")


# --------------------------------------------------------------------------
# The tour
# --------------------------------------------------------------------------

STEPS: list[Step] = [
    py("Put the plugin binary into the server's plugin directory", copy_binary,
       explain="The server runs only binaries from its plugin_directory, and only "
               "with the SHA-256 registered in its catalog."),
    bao("Register it in the plugin catalog",
        "plugin", "register", "-sha256={plugin_sha256}", "-command=vault-plugin-secrets-aws",
        "secret", "{name}"),
    bao("Mount the engine at aws/", "secrets", "enable", "-path=aws", "{name}",
        explain="Mounting launches the plugin process (handshake, mTLS, Setup)."),
    bao("Set the default and maximum lease for issued credentials",
        "write", "aws/config/lease", "lease=1h", "lease_max=2h"),
    bao("Read it back", "read", "aws/config/lease"),
    bao("Every path documents itself", "path-help", "aws/config/lease"),

    # -- root credentials ------------------------------------------------------
    py("Give the engine an AWS identity of its own", create_root_user,
       explain="The engine needs an IAM user allowed to manage IAM. In moto (a local AWS) we create "
               f"'{ROOT_USER}' with an admin policy and one access key."),
    bao("Tell the engine about it, and point it at moto",
        "write", "aws/config/root", "access_key={root_access_key}", "secret_key={root_secret_key}",
        "region=us-east-1", "iam_endpoint={moto_endpoint}", "sts_endpoint={moto_endpoint}"),
    bao("Read the configuration back: the secret key is never shown", "read", "aws/config/root"),
    bao("Rotate the root key, so that only the engine knows it",
        "write", "-f", "aws/config/rotate-root", save=save_as("rotated", "access_key"),
        explain="The engine creates a new key, checks that it works, stores it and deletes the "
                "one we typed in. Only the new key id is returned."),
    py("From now on moto checks every signature and policy, as AWS does", enforce_auth),

    # -- roles -------------------------------------------------------------------
    bao("A role: IAM users with AWS's ReadOnlyAccess policy",
        "write", "aws/roles/readonly", "credential_type=iam_user", f"policy_arns={READ_ONLY}"),
    bao("Another role: IAM users with an inline policy",
        "write", "aws/roles/s3-reader", "credential_type=iam_user",
        'policy_document={{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", '
        '"Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}}]}}',
        explain="The document is stored compacted and attached to each user as an inline policy "
                "named after the role."),
    bao("Read a role", "read", "aws/roles/s3-reader"),
    bao("List the roles", "list", "aws/roles"),

    # -- credentials ---------------------------------------------------------------
    bao("Ask for credentials", "read", "aws/creds/readonly",
        save=save_as("ro", "lease_id", "access_key", "secret_key"),
        explain="The engine creates a brand-new IAM user, attaches the role's policy and makes "
                "an access key. The lease (1h, from config/lease) owns that user."),
    py("The key is real: who am I?", who_am_i("ro")),
    py("It can read IAM, and nothing more", read_only_is_read_only),
    bao("Credentials from the other role", "read", "aws/creds/s3-reader",
        save=save_as("inline", "lease_id", "access_key", "secret_key")),
    py("Who is that?", who_am_i("inline", iam_via="ro")),
    py("Its permissions are exactly the role's inline policy", show_inline_policy),
    bao("One more read-only key (to revoke by prefix below)", "read", "aws/creds/readonly"),

    # -- leases ----------------------------------------------------------------------
    bao("Renew a lease for 30 more minutes", "lease", "renew", "-increment=30m", "{ro_lease_id}"),
    bao("Revoke one lease: its IAM user is deleted", "lease", "revoke", "-sync", "{ro_lease_id}"),
    py("The revoked key no longer works", revoked_key_is_dead),
    bao("Revoke everything the engine issued", "lease", "revoke", "-sync", "-prefix", "aws/creds",
        explain="-prefix revokes every lease under aws/creds; -sync waits until each IAM user is gone."),
    py("moto has no vault-* users left", no_users_left),
]


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------


def run_step(ctx: Ctx, step: Step) -> bool:
    try:
        if step.fn is not None:
            return step.fn(ctx) is not False
        args = [a.format(**ctx.vars) for a in step.args]
        say("bao " + " ".join(shlex.quote(a) for a in args))
        res = ctx.bao.cli(*args)
        out(res.stdout)
        out(res.stderr)
        ok = (res.returncode == 0) != step.expect_fail
        if ok and step.save:
            step.save(ctx, res.stdout)
        if step.expect_fail and res.returncode != 0:
            print(f"  {DIM}(failed, as expected){RESET}")
        return ok
    except Exception as e:  # a demo step failing must not skip the cleanup
        print(f"  {RED}{type(e).__name__}: {e}{RESET}")
        return False


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plugin", default=str(devstack.default_plugin_binary()),
                    help="plugin binary (default target/release/vault-plugin-secrets-aws)")
    ap.add_argument("--name", default="aws", help="plugin catalog name (default aws)")
    ap.add_argument("--keep-going", action="store_true", help="run the remaining steps after a failure")
    args = ap.parse_args(argv)
    plugin = Path(args.plugin)
    if not plugin.is_file():
        print(f"demo: {plugin} not found; run `make build` (or `make demo`)", file=sys.stderr)
        return 1
    devstack.handle_sigterm()

    print(f"{DIM}starting moto and OpenBao (dev mode)...{RESET}", flush=True)
    t0 = time.monotonic()
    failed: list[str] = []
    try:
        with devstack.start_stack() as stack:
            b, m = stack.bao, stack.moto
            print(f"{DIM}ready in {time.monotonic() - t0:.1f}s: bao pid {b.pid} log {_rel(b.log_path)}, "
                  f"moto pid {m.pid}{RESET}\n")
            say(f"export BAO_ADDR={b.addr} BAO_TOKEN={b.token}")
            say(f"export PLUGIN_DIR={b.plugin_dir}    # plugin_directory in the server's config")
            print(f"  {DIM}(moto, the local AWS, listens on {m.endpoint}){RESET}")
            ctx = Ctx(stack, plugin, args.name,
                      vars={"name": args.name, "moto_endpoint": m.endpoint, "plugin_dir": str(b.plugin_dir)})
            for i, step in enumerate(STEPS, 1):
                print(f"\n{BOLD}== {i}. {step.title}{RESET}")
                if step.explain:
                    print(textwrap.fill(step.explain, 78, initial_indent="   ", subsequent_indent="   "))
                if not run_step(ctx, step):
                    failed.append(f"{i}. {step.title}")
                    print(f"{RED}   step {i} FAILED{RESET}")
                    if not args.keep_going:
                        break
            if failed:
                print(f"\n{DIM}--- last lines of the OpenBao log ({b.log_path}) ---{RESET}")
                print(b.log_tail(40))
    except KeyboardInterrupt:
        print("\ninterrupted; everything stopped", file=sys.stderr)
        return 130
    except devstack.StackError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    if failed:
        print(f"\n{RED}demo FAILED at: {', '.join(failed)}{RESET}")
        return 1
    print(f"\n{GREEN}demo: all {len(STEPS)} steps passed{RESET}; moto and OpenBao stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
