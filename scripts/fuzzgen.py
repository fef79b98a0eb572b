"""Generated bad requests for the AWS engine's HTTP API (used by scripts/soak.py, section f).

Every request this produces is meant to be refused with a 4xx: random paths under the
mount, wrong JSON types for known fields, invalid values of the right type, malformed
JSON bodies, missing required fields, unknown fields next to a bad one, huge and unicode
values, unsupported methods. It never produces a request that could legitimately change
the mount's protected state (config/root, config/lease, existing roles and static roles):
no valid writes, no DELETE of an existing name, no rotate-root / rotate-role, no creds
request that could issue.

Values that OpenBao's field parser accepts by weak typing are avoided on purpose (a
one-element list for a string, a number for a string or a bool, a float for an int, ""
or "0x10" for an int, "=" for key-value pairs), since those are not bad input in Vault
either. Also left out, because Vault accepts them by design: ``sts/<iam_user role>`` (the
path prefix does not pick the credential type of a single-type role: it issues a user), an unparsable
``username_template`` on config/root (Vault stores it; creds then fail with 500), and a
query string with broken percent-encoding (the server drops the whole query, so
``creds/x?ttl=%zz`` is a plain, valid creds request).
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Req:
    category: str
    method: str
    path: str
    body: Optional[bytes] = None
    headers: dict = field(default_factory=dict)


UNICODE = ["é", "ß", "漢字", "🙂", "\u202e", "\u0000", "\ufeff", "Ω", "ﬁ", "\U0001f4a9", "\u2028", "а"]

# field -> type, for the paths that take a body
ROOT_FIELDS = {
    "access_key": "string", "secret_key": "string", "region": "string", "iam_endpoint": "string",
    "sts_endpoint": "string", "sts_region": "string", "sts_fallback_endpoints": "slice",
    "sts_fallback_regions": "slice", "max_retries": "int", "username_template": "string",
}
LEASE_FIELDS = {"lease": "string", "lease_max": "string"}
ROLE_FIELDS = {
    "credential_type": "string", "role_arns": "slice", "policy_arns": "slice", "policy_document": "string",
    "iam_groups": "slice", "iam_tags": "kv", "default_sts_ttl": "duration", "max_sts_ttl": "duration",
    "user_path": "string", "permissions_boundary_arn": "string", "mfa_serial_number": "string",
    "session_tags": "kv", "external_id": "string", "role_session_name": "string", "source_identity": "string",
    "source_role_arn": "string", "source_external_id": "string", "no_lease": "bool",
    "default_ttl": "duration", "max_ttl": "duration", "max_active_credentials": "int",
    "key_ready_timeout": "duration",
}
STATIC_FIELDS = {"username": "string", "rotation_period": "duration", "assume_role_arn": "string",
                 "assume_role_session_name": "string", "external_id": "string", "single_key": "bool"}
CREDS_FIELDS = {"ttl": "duration", "role_arn": "string", "role_session_name": "string", "mfa_code": "string"}


class Generator:
    def __init__(self, mount: str, seed: int = 1, existing_roles: tuple = (), static_roles: tuple = (),
                 iam_user_roles: tuple = ()):
        self.m = mount.strip("/")
        self.rng = random.Random(seed)
        self.roles = list(existing_roles) or ["fz1"]
        self.iam_user_roles = list(iam_user_roles) or self.roles[:1]
        self.static = list(static_roles) or ["fzs"]
        self.categories = [
            (self.junk_path, 14), (self.bad_type, 26), (self.bad_value, 20), (self.malformed_json, 10),
            (self.missing_fields, 8), (self.unknown_and_bad, 6), (self.huge, 6), (self.wrong_method, 6),
            (self.bad_query, 4),
        ]
        self.weights = [w for _, w in self.categories]

    # -- helpers ------------------------------------------------------------------

    def r(self) -> random.Random:
        return self.rng

    def word(self, n: Optional[int] = None) -> str:
        n = n or self.rng.randint(1, 12)
        return "".join(self.rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))

    def uni(self, n: Optional[int] = None) -> str:
        n = n or self.rng.randint(1, 8)
        return "".join(self.rng.choice(UNICODE + list("aZ9_-.")) for _ in range(n))

    def new_name(self) -> str:
        return f"fznew-{self.word(8)}"

    def body(self, data: Any) -> bytes:
        return json.dumps(data, ensure_ascii=self.rng.random() < 0.5).encode("utf-8", "surrogatepass")

    def wrong_type(self, kind: str) -> Any:
        """A JSON value the field parser must refuse for a field of ``kind``."""
        rng = self.rng
        obj = {self.word(): rng.choice([1, "x", None, [1, 2]])}
        two_objs = [{"a": 1}, {"b": [2]}]
        if kind == "string":
            return rng.choice([obj, two_objs, ["a", "b", "c"], {"nested": {"deep": [1, 2, 3]}}])
        if kind == "int":
            return rng.choice([obj, "abc", "12abc", "1e999", "zz10", two_objs, "9" * 40, [1, 2]])
        if kind == "bool":
            return rng.choice([obj, "maybe", "yes please", "2", two_objs, [True, False]])
        if kind == "duration":
            return rng.choice([obj, "abc", "1x", "5 minutes", "--1s", two_objs, "1h1", "9" * 40 + "h", [1, 2]])
        if kind == "slice":
            return rng.choice([obj, two_objs, [obj, obj], {"a": "b"}])
        if kind == "kv":
            return rng.choice(["novalue", ["a=b", "nokey"], {"k": {"nested": 1}}, {"k": [1, 2]}, 5])
        return obj

    # -- categories ---------------------------------------------------------------

    def next(self) -> Req:
        gen = self.rng.choices([g for g, _ in self.categories], self.weights)[0]
        return gen()

    def junk_path(self) -> Req:
        rng = self.rng
        segs = []
        for _ in range(rng.randint(1, 5)):
            kind = rng.random()
            if kind < 0.35:
                segs.append("zz" + self.word())
            elif kind < 0.6:
                segs.append(self.uni())
            elif kind < 0.75:
                segs.append(rng.choice(["roles", "creds", "sts", "static-roles", "static-creds", "config"])
                            + rng.choice(["x", "_", "-", ""]) + self.word(3))
            elif kind < 0.85:
                segs.append("%" + rng.choice(["zz", "0", "ff", "c3%28", "00"]))
            else:
                segs.append("a" * rng.randint(300, 3000))
        path = "/".join(segs)
        enc = "".join(c if c in "%/" else urllib_quote(c) for c in path)
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "LIST", "PATCH"])
        body = self.body({self.word(): self.uni()}) if method in ("POST", "PUT", "PATCH") else None
        return Req("junk_path", method, f"{self.m}/{enc}", body)

    def target(self) -> tuple[str, dict, str]:
        """(path, fields, kind) of a path that takes a body, never a valid write."""
        rng = self.rng
        choice = rng.randrange(6)
        if choice == 0:
            return "config/root", ROOT_FIELDS, "root"
        if choice == 1:
            return "config/lease", LEASE_FIELDS, "lease"
        if choice == 2:
            return f"roles/{rng.choice(self.roles)}", ROLE_FIELDS, "role"
        if choice == 3:
            return f"roles/{self.new_name()}", ROLE_FIELDS, "newrole"
        if choice == 4:
            return f"static-roles/{rng.choice(self.static + [self.new_name()])}", STATIC_FIELDS, "static"
        return f"creds/{rng.choice(self.roles)}", CREDS_FIELDS, "creds"

    def bad_type(self) -> Req:
        path, fields, _ = self.target()
        name = self.rng.choice(list(fields))
        data = {name: self.wrong_type(fields[name])}
        method = self.rng.choice(["POST", "PUT"])
        return Req("bad_type", method, f"{self.m}/{path}", self.body(data))

    def bad_value(self) -> Req:
        rng = self.rng
        role = rng.choice(self.roles)
        options = [
            ("config/root", {"max_retries": rng.choice([-2, -100, -(2 ** 40)])}),
            ("config/root", {"sts_fallback_endpoints": ["http://a", "http://b"], "sts_fallback_regions": ["x"]}),
            ("config/lease", {"lease": rng.choice(["abc", "1x", "é"]), "lease_max": "1h"}),
            ("config/lease", {"lease": "1h", "lease_max": rng.choice(["abc", "-", "漢字"])}),
            (f"roles/{role}", {"credential_type": rng.choice(["iam_users", "nope", self.uni(), "IAM_USER "])}),
            (f"roles/{role}", {"policy_document": rng.choice(["{", "not json", "[1,2", "é{", "{\"a\":}"])}),
            (f"roles/{role}", {"user_path": rng.choice(["noslash", "/a", "a/", "/" + "é" + "/", "//x"])}),
            (f"roles/{role}", {"permissions_boundary_arn": rng.choice(["not-an-arn", "arn:aws:iam::x", self.uni()])}),
            (f"roles/{role}", {"credential_type": "iam_user", "default_sts_ttl": 3600}),
            (f"roles/{self.new_name()}", {"credential_type": "iam_user", "role_arns": ["arn:aws:iam::1:role/x"]}),
            (f"roles/{self.new_name()}", {"credential_type": "iam_user,assumed_role,nope"}),
            (f"static-roles/{self.new_name()}", {"username": "someone", "rotation_period": rng.choice([1, 59, 0, -5])}),
            (f"static-roles/{rng.choice(self.static)}", {"username": "someone-else-" + self.word(4)}),
            (f"static-roles/{rng.choice(self.static)}", {"rotation_period": rng.choice([1, 30, 59])}),
            (f"static-roles/{self.new_name()}", {"username": "u", "rotation_period": 3600,
                                                 "assume_role_session_name": "s"}),
            (f"creds/{role}", {"ttl": rng.choice(["abc", "1x", "--5s", "é"])}),
            (f"creds/{self.new_name()}", {}),
            (f"sts/{self.new_name()}", {"ttl": "1h"}),
        ]
        path, data = rng.choice(options)
        method = "GET" if path.startswith(("creds/", "sts/")) and not data and rng.random() < 0.5 else "POST"
        return Req("bad_value", method, f"{self.m}/{path}", None if method == "GET" else self.body(data))

    def malformed_json(self) -> Req:
        rng = self.rng
        path, _, _ = self.target()
        # not JSON, or JSON that is not an object. (Left out on purpose: ``null``, a lone
        # surrogate escape, invalid UTF-8 inside a string, and trailing data after an object:
        # Go's decoder accepts those, so the server sees a valid, empty or unknown-field-only body.)
        bodies = [b"{", b'{"a":', b"{'single': 'quotes'}", b"[1,2,3]", b'"just a string"', b"42",
                  b'{"a": NaN}', b'{"a": 1,}', b"\xff\xfe\x00{", b"<xml/>", b"\x00" * 10,
                  b'{"' + b"k" * 50 + b'": [' * 200, b"true", b'{"a" 1}']
        return Req("malformed_json", rng.choice(["POST", "PUT"]), f"{self.m}/{path}", rng.choice(bodies),
                   {"Content-Type": "application/json"})

    def missing_fields(self) -> Req:
        rng = self.rng
        options = [
            (f"roles/{self.new_name()}", {}),
            (f"roles/{self.new_name()}", {"policy_document": "", "user_path": "/"}),
            (f"static-roles/{self.new_name()}", {}),
            (f"static-roles/{self.new_name()}", {"rotation_period": 3600}),
            (f"static-roles/{self.new_name()}", {"username": "someone"}),
            ("config/lease", {}),
            ("config/lease", {"lease": "1h"}),
            ("config/lease", {"lease_max": "1h"}),
        ]
        path, data = rng.choice(options)
        return Req("missing_fields", "POST", f"{self.m}/{path}", self.body(data))

    def unknown_and_bad(self) -> Req:
        req = self.bad_type()
        data = json.loads(req.body)
        for _ in range(self.rng.randint(1, 5)):
            data[self.rng.choice(["zz_", "unknown_", self.uni(3)]) + self.word()] = self.rng.choice(
                [1, "x", None, {"a": 1}, [1, 2], self.uni(20)])
        return Req("unknown_and_bad", req.method, req.path, self.body(data))

    def huge(self) -> Req:
        rng = self.rng
        size = rng.choice([10_000, 100_000, 1_000_000])
        big = rng.choice(["a", "é", "🙂", "\u0000"]) * (size // 4)
        options = [
            (f"roles/{self.new_name()}", {"credential_type": "iam_user", "policy_document": "{" + big}),
            (f"roles/{rng.choice(self.roles)}", {"user_path": big}),
            (f"roles/{rng.choice(self.roles)}", {"credential_type": big}),
            (f"roles/{'r' * rng.choice([300, 5000])}", {"credential_type": "nope"}),
            ("config/root", {"max_retries": big}),
            ("config/lease", {"lease": big, "lease_max": big}),
            (f"creds/{rng.choice(self.roles)}", {"ttl": big}),
            (f"static-roles/{self.new_name()}", {"username": big, "rotation_period": 1}),
            (f"roles/{rng.choice(self.roles)}", {"iam_tags": {f"k{i}": big[:100] for i in range(2000)},
                                                 "user_path": "bad"}),
            (f"roles/{rng.choice(self.roles)}", {"policy_arns": [big[:2000]] * 200, "credential_type": "x"}),
        ]
        path, data = rng.choice(options)
        return Req("huge", "POST", f"{self.m}/{path}", self.body(data))

    def wrong_method(self) -> Req:
        rng = self.rng
        role = rng.choice(self.roles)
        options = [
            ("DELETE", "config/root"), ("DELETE", "config/lease"), ("LIST", "config/root"),
            ("LIST", f"creds/{role}"), ("DELETE", f"creds/{role}"), ("LIST", f"roles/{role}"),
            ("DELETE", "rotate-root"), ("GET", "config/rotate-root"), ("LIST", "config/rotate-root"),
            ("DELETE", f"static-creds/{rng.choice(self.static)}"), ("POST", f"static-creds/{rng.choice(self.static)}"),
            ("GET", f"rotate-role/{rng.choice(self.static)}"), ("DELETE", f"rotate-role/{rng.choice(self.static)}"),
            ("LIST", f"static-creds/{rng.choice(self.static)}"), ("PATCH", f"creds/{role}"),
            ("PATCH", "config/rotate-root"), ("DELETE", f"sts/{role}"), ("LIST", f"sts/{role}"),
        ]
        method, path = rng.choice(options)
        body = self.body({"zz": 1}) if method in ("POST", "PATCH") else None
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        return Req("wrong_method", method, f"{self.m}/{path}", body, headers)

    def bad_query(self) -> Req:
        rng = self.rng
        role = rng.choice(self.roles)
        q = rng.choice(["ttl=%C3%A9", "ttl=abc", "ttl=1x&ttl=2y", "ttl=1x%20",
                        "ttl=" + "9" * 50 + "s", f"ttl=-{self.word(3)}"])
        return Req("bad_query", "GET", f"{self.m}/creds/{role}?{q}")


def urllib_quote(s: str) -> str:
    import urllib.parse
    return urllib.parse.quote(s, safe="")
