//! Unit tests of the template engine, with the AWS engine's data shape
//! (`aws.UsernameMetadata{Type, DisplayName, PolicyName}`) and a pinned clock and randomness.

use super::funcs::sha256_hex;
use super::*;

const FIELDS: [(&str, &str); 3] = [
    ("Type", "IAM"),
    ("DisplayName", "token"),
    ("PolicyName", "deploy"),
];

fn iam() -> Data<'static> {
    Data {
        type_name: "aws.UsernameMetadata",
        fields: &FIELDS,
    }
}

/// Renders with the pinned clock and randomness.
fn pinned(src: &str) -> Result<String, TemplateError> {
    Template::parse(src)?.render_with(iam(), &mut Pinned)
}

/// Renders with the system clock and randomness.
fn live(src: &str) -> String {
    Template::parse(src)
        .unwrap()
        .render_with(iam(), &mut SystemEffects)
        .unwrap()
}

fn ok(src: &str) -> String {
    match pinned(src) {
        Ok(s) => s,
        Err(e) => panic!("{src:?} failed: {e}"),
    }
}

fn err(src: &str) -> String {
    match pinned(src) {
        Ok(s) => panic!("{src:?} rendered {s:?}, expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn sdk_functions() {
    assert_eq!(ok(r#"{{ printf "foo-%s" (random 5) }}"#), "foo-XXXXX");
    assert_eq!(ok("{{ .DisplayName | uppercase }}"), "TOKEN");
    assert_eq!(ok(r#"{{ .PolicyName | replace "e" "E" }}"#), "dEploy");
    // truncate_sha256 N: keep N-8 bytes, then the first 8 hex digits of the SHA-256 of the rest.
    let expect = format!("ab{}", &sha256_hex(b"cdefghijklmnop")[..8]);
    assert_eq!(ok(r#"{{ truncate_sha256 10 "abcdefghijklmnop" }}"#), expect);
    assert_eq!(expect, "ab936d7cdc");
    assert_eq!(ok(r#"{{ truncate_sha256 20 "short" }}"#), "short");
    assert_eq!(
        err(r#"{{ truncate_sha256 8 "abc" }}"#),
        "unable to apply template: template: template:1:3: executing \"template\" at \
         <truncate_sha256 8 \"abc\">: error calling truncate_sha256: max length must be > 8 but was 8"
    );
    assert_eq!(ok(r#"{{ "abcdef" | truncate 3 }}"#), "abc");
    assert_eq!(
        ok(r#"{{ lowercase "ABC" }}-{{ sha256 "abc" | truncate 8 }}"#),
        "abc-ba7816bf"
    );
    assert_eq!(ok(r#"{{ base64 "hello" }}"#), "aGVsbG8=");
}

#[test]
fn clock_and_random_functions() {
    let unix = live("{{ unix_time }}");
    assert!(is_digits(&unix, 10) && (unix.parse::<i64>().unwrap() - unix_now()).abs() < 10);
    let millis = live("{{ unix_time_millis }}");
    assert!(is_digits(&millis, 13), "{millis}");
    let id = live("{{ uuid }}");
    let groups: Vec<&str> = id.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    let random = live("{{ random 2000 }}");
    assert!(is_base62(&random, 2000));
    assert!(
        random.bytes().any(|b| b.is_ascii_digit())
            && random.bytes().any(|b| b.is_ascii_lowercase())
    );

    assert_eq!(ok("{{ unix_time }}"), "1709211845");
    assert_eq!(ok("{{ unix_time_millis }}"), "1709211845123");
    assert_eq!(ok("{{ uuid }}"), "17171717-1717-4717-9717-171717171717");
    assert_eq!(ok("[{{ random 0 }}]"), "[]");
    assert_eq!(
        err("{{ random -1 }}"),
        "unable to apply template: template: template:1:3: executing \"template\" at \
         <random -1>: error calling random: runtime error: makeslice: cap out of range"
    );
}

#[test]
fn timestamp_uses_go_layouts() {
    assert_eq!(
        ok(r#"{{ timestamp "2006-01-02T15:04:05Z07:00" }}"#),
        "2024-02-29T13:04:05Z"
    );
    assert_eq!(
        ok(r#"{{ timestamp "Mon Jan _2 15:04:05 MST 2006" }}"#),
        "Thu Feb 29 13:04:05 UTC 2024"
    );
    assert_eq!(
        ok(r#"{{ timestamp "Monday, 02-Jan-06 03:04:05.000 PM -0700" }}"#),
        "Thursday, 29-Feb-24 01:04:05.123 PM +0000"
    );
    assert_eq!(
        ok(r#"{{ timestamp ".999999999 .000000 ,999 .9 20060102150405 002 __2 January" }}"#),
        ".123456789 .123456 ,123 .1 20240229130405 060  60 February"
    );
    assert_eq!(ok(r#"{{ timestamp "Month Jant" }}"#), "Month Jant");
}

#[test]
fn language_features() {
    // Trim markers need a space; `{{-3}}` is the number -3.
    assert_eq!(ok("a  {{- .Type -}}  b"), "aIAMb");
    assert_eq!(ok("x\n\t {{- 1 }}|{{ 2 -}} \n y"), "x1|2y");
    assert_eq!(ok("{{-3}}"), "-3");
    assert_eq!(ok("a {{- /* comment */ -}} b{{/* x */}}"), "ab");
    // if / else if / else, with, and, or, not, comparisons.
    let t = r#"{{ if eq .Type "STS" }}s{{ else if ne .DisplayName "" }}d{{ else }}x{{ end }}"#;
    assert_eq!(ok(t), "d");
    assert_eq!(
        ok(r#"{{ if and .DisplayName (not "") }}y{{ else }}n{{ end }}"#),
        "y"
    );
    assert_eq!(
        ok(r#"{{ or "" .PolicyName }}|{{ and 1 0 2 }}|{{ eq 2 1 2 }}|{{ lt 1 2 }}"#),
        "deploy|0|true|true"
    );
    assert_eq!(
        ok(r#"{{ with .DisplayName }}[{{ . }}]{{ else }}-{{ end }}"#),
        "[token]"
    );
    assert_eq!(
        ok(r#"{{ with "" }}x{{ else with "z" }}{{ . }}{{ end }}"#),
        "z"
    );
    // Nested parentheses and pipelines; the piped value is the last argument.
    assert_eq!(
        ok(
            r#"{{ printf "%s-%s" (lowercase (uppercase (.DisplayName))) (truncate 3 (printf "%s" .PolicyName)) }}"#
        ),
        "token-dep"
    );
    assert_eq!(
        ok(r#"{{ .DisplayName | printf "%s-%s" .PolicyName }}"#),
        "deploy-token"
    );
    // Variables, scoped to their block.
    assert_eq!(
        ok("{{ $x := 3 }}{{ if true }}{{ $x := 4 }}{{ $x }}{{ end }}{{ $x }}"),
        "43"
    );
    assert_eq!(
        ok("{{ $x := 1 }}{{ with 2 }}{{ $x = 3 }}{{ end }}{{ $x }}"),
        "3"
    );
    assert_eq!(ok("{{ $.DisplayName }}"), "token");
    // Literals.
    assert_eq!(
        ok(r#"{{ "a\tb\x41\u00e9" }}|{{ `r\n` }}|{{ 'a' }}|{{ 0x1F }}|{{ 1.5 }}|{{ 1e8 }}"#),
        "a\tbAé|r\\n|97|31|1.5|1e+08"
    );
    assert_eq!(ok("{{ . }}"), "{IAM token deploy}");
    assert_eq!(ok("{{ and nil }}"), "<no value>");
    assert_eq!(
        ok(r#"{{ len "abc" }}{{ index "abc" 1 }}{{ slice "abcdef" 1 3 }}"#),
        "398bc"
    );
    assert_eq!(
        ok(r#"{{ html "<a&b>" }} {{ urlquery "a b/c" }} {{ js "a'b" }}"#),
        "&lt;a&amp;b&gt; a+b%2Fc a\\'b"
    );
    assert_eq!(
        ok(
            r#"{{ glob "to*" .DisplayName }} {{ hex "hi" }} {{ decode_hex "6869" }} {{ decode_base64 "aGk=" }}"#
        ),
        "true 6869 hi hi"
    );
}

#[test]
fn go_fmt_output() {
    assert_eq!(
        ok(r#"{{ printf "%s|%d|%v|%q" "a" 5 true "b" }}"#),
        "a|5|true|\"b\""
    );
    assert_eq!(
        ok(
            r#"{{ printf "%5s|%-5s|%.2s|%05d|%+d|%x|%X|%o|%b|%#x|%c|%U" "ab" "ab" "abc" 42 42 255 255 8 5 255 65 65 }}"#
        ),
        "   ab|ab   |ab|00042|+42|ff|FF|10|101|0xff|A|U+0041"
    );
    assert_eq!(ok(r#"{{ printf "%d" "x" }}"#), "%!d(string=x)");
    assert_eq!(ok(r#"{{ printf "%s" 5 }}"#), "%!s(int=5)");
    assert_eq!(ok(r#"{{ printf "%s %s" "a" }}"#), "a %!s(MISSING)");
    assert_eq!(
        ok(r#"{{ printf "%s" "a" 1 "b" }}"#),
        "a%!(EXTRA int=1, string=b)"
    );
    // After `%[1]s` the next argument is the second: `%T` sees "b".
    assert_eq!(
        ok(r#"{{ printf "%[2]s %[1]s %T" "a" "b" 1.5 }}"#),
        "b a string"
    );
    assert_eq!(
        ok(r#"{{ print 1 2 "a" 3 }}{{ println "x" 1 }}"#),
        "1 2a3x 1\n"
    );
    assert_eq!(
        ok(r#"{{ printf "%v|%+v|%#v" . . . }}"#),
        "{IAM token deploy}|{Type:IAM DisplayName:token PolicyName:deploy}|\
         aws.UsernameMetadata{Type:\"IAM\", DisplayName:\"token\", PolicyName:\"deploy\"}"
    );
    assert_eq!(
        ok(
            r#"{{ printf "%.2f %e %g %.3g %v %.0f %.0f" 3.14159 1234.5678 0.000012345 3.14159 100000000.0 0.5 1.5 }}"#
        ),
        "3.14 1.234568e+03 1.2345e-05 3.14 1e+08 0 2"
    );
    assert_eq!(
        ok(r#"{{ printf "%q %+q %#q" "é\n" "é" "a" }}"#),
        "\"é\\n\" \"\\u00e9\" `a`"
    );
}

#[test]
fn parse_errors_carry_line_and_column() {
    assert_eq!(Template::parse("").unwrap_err(), TemplateError::Missing);
    assert_eq!(
        Template::parse("{{ foo }}").unwrap_err(),
        TemplateError::Parse {
            line: 1,
            column: 3,
            message: "function \"foo\" not defined".into()
        }
    );
    assert_eq!(
        err("ok\n{{ .DisplayName | nope }}"),
        "unable to parse template: template: template:2:18: function \"nope\" not defined"
    );
    let cases = [
        ("{{ if true }}", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ \"unterminated }}", "unterminated quoted string"),
        ("{{ 1\n 2", "unclosed action started at template:1"),
        ("{{ (1 }}", "unclosed left paren"),
        ("{{ }}", "missing value for command"),
        (
            "{{ \"a\" | \"b\" }}",
            "non executable command in pipeline stage 2",
        ),
        ("{{ $y }}", "undefined variable \"$y\""),
        ("{{ = }}", "unexpected \"=\" in command"),
        ("{{ 3.X }}", "bad number syntax: \"3.X\""),
        ("{{ \"a\".X }}", "unexpected . after term \"\\\"a\\\"\""),
        ("{{/* c */ x }}", "comment ends before closing delimiter"),
        (
            "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
            "expected end; found {{else}}",
        ),
        ("{{ break }}", "{{break}} outside {{range}}"),
        (
            "{{ range 3 }}{{ end }}",
            "{{range}} is not supported by this engine",
        ),
        (
            "{{ 1i }}",
            "complex number constants are not supported by this engine",
        ),
    ];
    for (src, message) in cases {
        match Template::parse(src) {
            Err(TemplateError::Parse { message: m, .. }) => assert_eq!(m, message, "{src:?}"),
            other => panic!("{src:?}: {other:?}"),
        }
    }
}

#[test]
fn execution_errors_match_go() {
    assert_eq!(
        err("{{ .Foo }}"),
        "unable to apply template: template: template:1:3: executing \"template\" at <.Foo>: \
         can't evaluate field Foo in type aws.UsernameMetadata"
    );
    assert_eq!(
        err("line1\n  {{ .DisplayName | truncate 0 }}"),
        "unable to apply template: template: template:2:20: executing \"template\" at \
         <truncate 0>: error calling truncate: max length must be > 0 but was 0"
    );
    assert_eq!(
        err(r#"{{ "x" | random }}"#),
        "unable to apply template: template: template:1:9: executing \"template\" at <random>: \
         wrong type for value; expected int; got string"
    );
    assert_eq!(
        err(r#"{{ truncate "x" 2 }}"#),
        "unable to apply template: template: template:1:12: executing \"template\" at <\"x\">: \
         expected integer; found \"x\""
    );
    assert_eq!(
        err("{{ truncate 2 }}"),
        "unable to apply template: template: template:1:3: executing \"template\" at <truncate>: \
         wrong number of args for truncate: want 2 got 1"
    );
    assert_eq!(
        err(r#"{{ eq 1 "a" }}"#),
        "unable to apply template: template: template:1:3: executing \"template\" at <eq 1 \"a\">: \
         error calling eq: incompatible types for comparison: int and string"
    );
    assert_eq!(
        err(r#"{{ decode_hex "6g" }}"#),
        "unable to apply template: template: template:1:3: executing \"template\" at \
         <decode_hex \"6g\">: error calling decode_hex: encoding/hex: invalid byte: U+0067 'g'"
    );
    assert_eq!(
        err(r#"{{ "a" "b" }}"#),
        "unable to apply template: template: template:1:3: executing \"template\" at <\"a\">: \
         can't give argument to non-function \"a\""
    );
}

#[test]
fn hostile_templates_are_bounded() {
    let deep = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
    assert_eq!(ok(&deep(MAX_PAREN_DEPTH)), "1");
    match Template::parse(&deep(MAX_PAREN_DEPTH + 1)) {
        Err(TemplateError::Parse { message, .. }) => {
            assert_eq!(message, "max expression depth exceeded")
        }
        other => panic!("{other:?}"),
    }
    let nest = |n: usize| format!("{}x{}", "{{ if 1 }}".repeat(n), "{{ end }}".repeat(n));
    assert_eq!(ok(&nest(MAX_CONTROL_DEPTH)), "x");
    assert!(Template::parse(&nest(MAX_CONTROL_DEPTH + 1)).is_err());
    // Both at their limit at once still fits a test thread's 2 MiB stack in debug builds.
    let both = format!(
        "{}{}{}",
        "{{ with 1 }}".repeat(MAX_CONTROL_DEPTH),
        deep(MAX_PAREN_DEPTH),
        "{{ end }}".repeat(MAX_CONTROL_DEPTH)
    );
    assert_eq!(ok(&both), "1");
    assert!(err("{{ random 2000000 }}").contains("exceeds this engine's limit"));
    let grow = r#"{{ $s := "aaaaaaaaaa" }}"#.to_string()
        + &r#"{{ $s = replace "a" "aaaaaaaaaa" $s }}"#.repeat(8)
        + "{{ $s }}";
    assert!(err(&grow).contains("exceeds this engine's limit"));
}
