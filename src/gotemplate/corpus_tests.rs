//! Replays the golden corpus recorded from Go (`tests/gotemplate/corpus.jsonl`, made by the Go
//! program in `tests/gotemplate/gen`): every template runs here with the case's data, clock and
//! random stream, and must give Go's output or Go's error text.
//!
//! One known difference is normalised here: Go's parse errors give only the line
//! (`template:1: …`), this engine's give `line:column`, so the column is left out before
//! comparing. The others (uuid version bits, invalid UTF-8 in output, unsupported syntax, the
//! 1 MiB limit) are handled by the generator, as its comments say.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{Data, Effects, Template, TemplateError};

const CORPUS: &str = include_str!("../../tests/gotemplate/corpus.jsonl");

/// One recorded case.
#[derive(Deserialize)]
struct Case {
    tpl: String,
    #[serde(rename = "type")]
    kind: String,
    display: String,
    policy: String,
    /// The pinned clock, Unix nanoseconds.
    now: i64,
    /// Seed of the splitmix64 random stream.
    seed: u64,
    out: Option<String>,
    err: Option<String>,
}

/// The generator's pinned clock and random bytes: successive splitmix64 outputs, little
/// endian, exactly as `tests/gotemplate/gen` produces them.
struct Recorded {
    now: OffsetDateTime,
    state: u64,
    buf: [u8; 8],
    left: usize,
}

impl Effects for Recorded {
    fn now(&mut self) -> OffsetDateTime {
        self.now
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> Result<(), String> {
        for b in buf {
            if self.left == 0 {
                self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                self.buf = z.to_le_bytes();
                self.left = 8;
            }
            *b = self.buf[8 - self.left];
            self.left -= 1;
        }
        Ok(())
    }
}

/// What this engine answers for a case, in the SDK's words.
fn answer(case: &Case) -> Result<String, String> {
    let template = match Template::parse(&case.tpl) {
        Ok(t) => t,
        // Known difference: Go reports the line only.
        Err(TemplateError::Parse { line, message, .. }) => {
            return Err(format!(
                "unable to parse template: template: template:{line}: {message}"
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let fields = [
        ("Type", case.kind.as_str()),
        ("DisplayName", case.display.as_str()),
        ("PolicyName", case.policy.as_str()),
    ];
    let data = Data {
        type_name: "aws.UsernameMetadata",
        fields: &fields,
    };
    let mut effects = Recorded {
        now: OffsetDateTime::from_unix_timestamp_nanos(i128::from(case.now))
            .map_err(|e| e.to_string())?,
        state: case.seed,
        buf: [0; 8],
        left: 0,
    };
    template
        .render_with(data, &mut effects)
        .map_err(|e| e.to_string())
}

#[test]
fn corpus_matches_go() {
    let mut cases = 0;
    let mut mismatches = Vec::new();
    for (n, line) in CORPUS.lines().enumerate() {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {n}: {e}"));
        let want = match (&case.out, &case.err) {
            (Some(out), None) => Ok(out.clone()),
            (None, Some(err)) => Err(err.clone()),
            _ => panic!("line {}: needs exactly one of out and err", n + 1),
        };
        let got = answer(&case);
        if got != want {
            mismatches.push(format!(
                "line {}: {:?}\n  go:   {want:?}\n  rust: {got:?}",
                n + 1,
                case.tpl
            ));
        }
        cases += 1;
    }
    assert!(cases > 3000, "only {cases} cases");
    assert!(
        mismatches.is_empty(),
        "{} of {cases} cases differ from Go:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
