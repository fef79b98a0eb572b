#!/usr/bin/env python3
"""Copy the plugin binary with another version stamped into it (no rebuild).

The binary reports ``v`` + Cargo.toml's version, kept in a fixed-size stamp after a marker
(src/plugin/version.rs). A release step can stamp a built binary with another version, as Go
plugins get theirs from ``go build -ldflags -X``. The upgrade test and ``make soak`` use this to
get a second binary that reports a different version (and so has another SHA-256) from the same
source, without a second release build.

Usage: python3 scripts/stamp_version.py IN OUT VERSION     e.g. ... target/release/x /tmp/x v0.1.1
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

MARK = b"\0vault-plugin-version:"
ROOM = 48
VERSION = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def stamp(src: Path, dest: Path, version: str) -> Path:
    if not VERSION.match(version) or len(version) >= ROOM:
        raise ValueError(f"{version!r} is not a semantic version like v1.2.3 (under {ROOM} characters)")
    data = bytearray(src.read_bytes())
    at = data.find(MARK)
    if at < 0 or data.find(MARK, at + 1) >= 0:
        raise ValueError(f"{src}: version stamp marker found {0 if at < 0 else 'more than once'}")
    start = at + len(MARK)
    data[start:start + ROOM] = version.encode().ljust(ROOM, b"\0")
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    tmp.write_bytes(bytes(data))
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        stamp(Path(argv[0]), Path(argv[1]), argv[2])
    except (OSError, ValueError) as e:
        print(f"stamp_version: {e}", file=sys.stderr)
        return 1
    print(f"{argv[1]}: reports {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
