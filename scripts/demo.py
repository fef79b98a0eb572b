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


# --------------------------------------------------------------------------
# The tour. Later issues append here: config/root against moto, roles,
# creds, prove the key works with boto3, revoke, prefix revoke, moto is empty.
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
