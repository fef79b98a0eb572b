#!/usr/bin/env python3
"""Checks the source layout rules of the crate, so they are re-checked on every `make test`.

1. No production file is over LIMIT lines (unit tests excluded: a trailing `#[cfg(test)] mod
   tests { ... }` block, or a separate `tests.rs`/`*_tests.rs` file, does not count).
2. No source file imports a module that imports it back (no import circles between files).
   A file naming its own ancestors (`super::`, `crate::a::b` where a/b contains it) reaches
   its parent module's items, which is Rust's containment, not an import: those edges are
   not counted. Every other `use crate::...`/`super::...` path, and every `crate::x::y` path
   written in code, is an edge to the file that defines the module it names.

Usage: python3 scripts/layout.py [--limit N] [--verbose]   (exit 1 on a violation)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def module_of(path: Path) -> tuple[str, ...]:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def is_test_file(path: Path) -> bool:
    return path.name == "tests.rs" or path.name.endswith("_tests.rs")


def production_lines(text: str) -> int:
    """Lines before the first `#[cfg(test)]` that opens a `mod ... {` block at column 0."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]") and i + 1 < len(lines) and re.match(r"(pub(\(crate\))? )?mod \w+ \{", lines[i + 1]):
            return i
    return len(lines)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.split("\n"):
        # Drop line comments and string literals (paths inside strings are not imports).
        line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        line = line.split("//", 1)[0]
        out.append(line)
    return "\n".join(out)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and start is not None:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                items, d, cur = [], 0, ""
                for c in inner:
                    if c == "{":
                        d += 1
                    elif c == "}":
                        d -= 1
                    if c == "," and d == 0:
                        items.append(cur)
                        cur = ""
                    else:
                        cur += c
                if cur:
                    items.append(cur)
                out = []
                for it in items:
                    out.extend(expand_use(prefix + it + rest))
                return out
    return [tree]


def resolve(path: str, current: tuple[str, ...], modules: dict) -> tuple[str, ...] | None:
    """The longest module prefix of `path` (as written in file `current`) that is a file."""
    parts = [p for p in path.split("::") if p and p != "self"]
    if not parts:
        return None
    if parts[0] == "crate":
        base: list[str] = []
        parts = parts[1:]
    elif parts[0] == "super":
        base = list(current)
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
    else:
        # `use foo::...` where foo is a child module declared in this file.
        base = list(current)
        if tuple(base + parts[:1]) not in modules:
            return None
    best = None
    for n in range(len(parts) + 1):
        cand = tuple(base + parts[:n])
        if cand in modules:
            best = cand
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=1200)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    files = [p for p in SRC.rglob("*.rs") if not is_test_file(p)]
    modules = {module_of(p): p for p in files}
    problems = []

    for p in sorted(files):
        n = production_lines(p.read_text())
        if n > args.limit:
            problems.append(f"{p.relative_to(ROOT)}: {n} production lines (limit {args.limit})")

    edges: dict[tuple, set] = {m: set() for m in modules}
    for m, p in modules.items():
        text = strip_comments(p.read_text())
        text = text[: len("\n".join(text.split("\n")[: production_lines(text)]))]
        paths = []
        for u in re.finditer(r"\buse\s+([^;]+);", text):
            paths.extend(expand_use(u.group(1)))
        paths.extend(re.findall(r"\b((?:crate|super)(?:::\w+)+)", text))
        # Child modules this file declares, named without a prefix (`roles::RoleCache`).
        for child in re.findall(r"^\s*(?:pub(?:\(crate\))? )?mod (\w+);", text, flags=re.M):
            if re.search(rf"(?<![:\w]){child}::", text):
                paths.append(child)
        for path in paths:
            target = resolve(path, m, modules)
            if target is None or target == m:
                continue
            if m[: len(target)] == target:
                continue  # an ancestor: containment, not an import
            edges[m].add(target)

    # Circles: strongly connected components with more than one file.
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            strong(v)
    for comp in comps:
        names = sorted(str(modules[c].relative_to(ROOT)) for c in comp)
        problems.append("import circle: " + " <-> ".join(names))

    if args.verbose:
        for m in sorted(edges):
            print(f"{modules[m].relative_to(ROOT)} -> " + ", ".join(sorted(str(modules[t].relative_to(ROOT)) for t in edges[m])))
    for line in problems:
        print(f"layout: {line}")
    if not problems:
        print(f"layout: {len(files)} files, none over {args.limit} production lines, no import circles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
