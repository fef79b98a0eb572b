//! Bad input through the protocol: the server's side of the connection is the
//! only thing between the plugin and whatever bytes reach it, so a malformed
//! message must be answered, never crash the process, hang, drop the
//! connection or touch storage.
//!
//! This test plays the server (see `common::host`), sets up one mount, then
//! sends about 500 malformed messages straight to `pb.Backend`:
//!
//! * raw bodies that the plugin's own protobuf types cannot decode, for
//!   `HandleRequest`, `HandleExistenceCheck`, `SpecialPaths`, `Setup`,
//!   `InvalidateKey` and `Initialize`: random garbage, truncated and corrupted
//!   valid messages, wrong wire types, invalid UTF-8 in string fields, huge
//!   length prefixes and groups nested past the decoder's recursion limit;
//! * well-formed `HandleRequestArgs`/`HandleExistenceCheckArgs` with bad content
//!   (no request, bad paths and operations, data that is not a JSON object,
//!   wrong field types) and calls for mounts that do not exist.
//!
//! Every input is generated deterministically (a seeded SplitMix64), and each
//! raw body is checked with the same generated prost types the plugin uses, so
//! every one of them is known to be undecodable. The test asserts that every
//! call got an error (a gRPC status, or a reply whose `err` or `error` is set),
//! that the process and its connection survived every batch, and that a normal
//! write and read still work afterwards with storage holding only valid writes.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::bytes::{Buf, BufMut};
use prost::Message;
use serde_json::{json, Value};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use common::host::{launch, request, setup_mount, with_mount, Launched, MemStorage};
use vault_plugin_secrets_aws::proto::pb;

/// The one mount every well-addressed call goes to.
const MOUNT: &str = "mountMALFORMED";
/// The broker id its storage is announced under.
const BROKER_ID: u32 = 1;
/// No single call may take longer than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Undecodable bodies generated per (method, kind of corruption).
const PER_KIND: usize = 10;
/// Seed of the input generator.
const SEED: u64 = 0x5eed_0bad_1dea_2024;

// ---------------------------------------------------------------------------
// A raw-bytes codec: the body is sent and received exactly as given.

/// Sends and receives message bodies as plain bytes.
#[derive(Clone, Copy, Default)]
struct RawCodec;

/// Writes a body as-is.
struct RawEncoder;

/// Reads a body as-is.
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

// ---------------------------------------------------------------------------
// Deterministic input generation.

/// SplitMix64: tiny, seeded, the same sequence on every run and platform.
struct Rng(u64);

impl Rng {
    /// The next 64 random bits.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }
    /// A fair coin.
    fn coin(&mut self) -> bool {
        self.next() & 1 == 0
    }
    /// One element of `items`.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len())]
    }
    /// `n` random bytes.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// `n` random printable ASCII characters.
    fn ascii(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| b' ' + (self.next() % 95) as u8).collect()
    }
}

/// Protobuf wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
const I32: u8 = 5;

/// Appends a base-128 varint.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
fn put_tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// Appends a length-delimited field.
fn put_len(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    put_tag(out, field, LEN);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// Appends a well-formed payload for wire type `wire` (after its key).
fn put_payload(out: &mut Vec<u8>, rng: &mut Rng, field: u32, wire: u8) {
    match wire {
        VARINT => put_varint(out, rng.next() >> rng.range(0, 64)),
        I64 => out.extend(rng.bytes(8)),
        LEN => {
            let n = rng.range(0, 24);
            put_varint(out, n as u64);
            out.extend(rng.ascii(n));
        }
        SGROUP => put_tag(out, field, EGROUP),
        _ => out.extend(rng.bytes(4)),
    }
}

/// Byte sequences that are not UTF-8.
const BAD_UTF8: &[&[u8]] = &[
    &[0xff],
    &[0xfe, 0xff],
    &[0xc0, 0x80],
    &[0xed, 0xa0, 0x80],
    &[0xf8, 0x88, 0x80, 0x80, 0x80],
    &[0x80],
    &[0xe2, 0x82],
    &[0xf4, 0x90, 0x80, 0x80],
];

/// ASCII text with one invalid UTF-8 sequence somewhere in it.
fn bad_utf8(rng: &mut Rng) -> Vec<u8> {
    let n = rng.range(0, 16);
    let mut s = rng.ascii(n);
    let at = rng.range(0, s.len() + 1);
    let bad = rng.pick(BAD_UTF8).to_vec();
    s.splice(at..at, bad);
    s
}

/// The `pb.Request` string fields (all length-delimited).
const REQUEST_STRINGS: &[u32] = &[1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 17];
/// Every known `pb.Request` field with its wire type.
const REQUEST_FIELDS: &[(u32, u8)] = &[
    (1, LEN),
    (2, LEN),
    (3, LEN),
    (4, LEN),
    (5, LEN),
    (6, LEN),
    (7, LEN),
    (8, LEN),
    (9, LEN),
    (10, LEN),
    (11, LEN),
    (12, LEN),
    (13, LEN),
    (14, LEN),
    (15, LEN),
    (16, VARINT),
    (17, LEN),
    (18, VARINT),
    (19, VARINT),
    (20, LEN),
];

/// The `pb.Backend` methods that take a message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    HandleRequest,
    HandleExistenceCheck,
    SpecialPaths,
    Setup,
    InvalidateKey,
    Initialize,
}

const METHODS: [Method; 6] = [
    Method::HandleRequest,
    Method::HandleExistenceCheck,
    Method::SpecialPaths,
    Method::Setup,
    Method::InvalidateKey,
    Method::Initialize,
];

/// The ways a body is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Corruption {
    /// Random bytes, 0..4096 long.
    Garbage,
    /// A valid message cut short.
    Truncated,
    /// A valid message with a few bytes flipped.
    Flipped,
    /// A known field with the wrong wire type (or, for messages without
    /// fields, an invalid wire type, a stray end-group or field number 0).
    WrongWireType,
    /// Invalid UTF-8 in a string field.
    BadUtf8,
    /// A length prefix far beyond the bytes that follow (or an overlong varint).
    HugeLength,
    /// Groups nested past the decoder's recursion limit.
    DeepGroups,
}

const CORRUPTIONS: [Corruption; 7] = [
    Corruption::Garbage,
    Corruption::Truncated,
    Corruption::Flipped,
    Corruption::WrongWireType,
    Corruption::BadUtf8,
    Corruption::HugeLength,
    Corruption::DeepGroups,
];

impl Method {
    /// The gRPC path.
    fn path(self) -> &'static str {
        match self {
            Method::HandleRequest => "/pb.Backend/HandleRequest",
            Method::HandleExistenceCheck => "/pb.Backend/HandleExistenceCheck",
            Method::SpecialPaths => "/pb.Backend/SpecialPaths",
            Method::Setup => "/pb.Backend/Setup",
            Method::InvalidateKey => "/pb.Backend/InvalidateKey",
            Method::Initialize => "/pb.Backend/Initialize",
        }
    }

    /// Whether the plugin's own request type (same generated code) decodes `body`.
    fn decodes(self, body: &[u8]) -> bool {
        match self {
            Method::HandleRequest => pb::HandleRequestArgs::decode(body).is_ok(),
            Method::HandleExistenceCheck => pb::HandleExistenceCheckArgs::decode(body).is_ok(),
            Method::SpecialPaths => pb::Empty::decode(body).is_ok(),
            Method::Setup => pb::SetupArgs::decode(body).is_ok(),
            Method::InvalidateKey => pb::InvalidateKeyArgs::decode(body).is_ok(),
            Method::Initialize => pb::InitializeArgs::decode(body).is_ok(),
        }
    }

    /// Known top-level fields with their wire types (none for empty messages).
    fn fields(self) -> &'static [(u32, u8)] {
        match self {
            Method::HandleRequest | Method::HandleExistenceCheck => &[(1, VARINT), (2, LEN)],
            Method::Setup => &[(1, VARINT), (2, LEN), (3, LEN)],
            Method::InvalidateKey => &[(1, LEN)],
            Method::SpecialPaths | Method::Initialize => &[],
        }
    }

    /// Whether the request carries a nested `pb.Request` in field 2.
    fn has_request(self) -> bool {
        matches!(self, Method::HandleRequest | Method::HandleExistenceCheck)
    }

    /// A valid body using most of the message's shape, to truncate and corrupt.
    fn sample(self) -> Vec<u8> {
        match self {
            Method::HandleRequest => pb::HandleRequestArgs {
                storage_id: 7,
                request: Some(rich_request()),
            }
            .encode_to_vec(),
            Method::HandleExistenceCheck => pb::HandleExistenceCheckArgs {
                storage_id: 7,
                request: Some(rich_request()),
            }
            .encode_to_vec(),
            Method::Setup => pb::SetupArgs {
                broker_id: 4242,
                config: [
                    ("plugin_name".to_string(), "aws".to_string()),
                    ("plugin_version".to_string(), "v0.1.0".to_string()),
                ]
                .into_iter()
                .collect(),
                backend_uuid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
            }
            .encode_to_vec(),
            Method::InvalidateKey => pb::InvalidateKeyArgs {
                key: "config/root/with/a/long/enough/key/for/cutting".into(),
            }
            .encode_to_vec(),
            // Messages without fields: a valid body is unknown fields of every wire type.
            Method::SpecialPaths | Method::Initialize => {
                let mut out = Vec::new();
                put_len(&mut out, 1, b"unknown field text");
                put_tag(&mut out, 2, VARINT);
                put_varint(&mut out, 300_000_000_000);
                put_tag(&mut out, 3, I64);
                out.extend([1, 2, 3, 4, 5, 6, 7, 8]);
                put_tag(&mut out, 4, I32);
                out.extend([9, 10, 11, 12]);
                put_tag(&mut out, 5, SGROUP);
                put_len(&mut out, 1, b"in a group");
                put_tag(&mut out, 5, EGROUP);
                put_len(&mut out, 6, &[0x0a, 0x03, b'a', b'b', b'c']);
                out
            }
        }
    }
}

/// A `pb.Request` with strings, a secret with lease options, headers and a connection.
fn rich_request() -> pb::Request {
    let mut r = request(
        "update",
        "config/lease",
        json!({"lease": "1h", "lease_max": "2h"}),
    )
    .request
    .expect("request() sets a request");
    r.client_token = "s.token".into();
    r.entity_id = "entity".into();
    r.client_token_remaining_uses = 3;
    r.secret = Some(pb::Secret {
        lease_options: Some(pb::LeaseOptions {
            ttl: 3_600_000_000_000,
            renewable: true,
            increment: 60,
            issue_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            max_ttl: 7_200_000_000_000,
        }),
        internal_data: r#"{"secret_type":"nope"}"#.into(),
        lease_id: "aws/creds/x/abc".into(),
    });
    r.headers.insert(
        "X-Test".into(),
        pb::Header {
            header: vec!["a".into(), "b".into()],
        },
    );
    r
}

/// Wraps a `pb.Request` body as field 2 of the method's args, after a storage id.
fn in_args(rng: &mut Rng, request_body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.coin() {
        put_tag(&mut out, 1, VARINT);
        put_varint(&mut out, rng.next() % 1000);
    }
    put_len(&mut out, 2, request_body);
    out
}

/// A candidate body for `method` broken in the way `kind` describes (it may
/// still decode; the caller keeps only those that do not).
fn corrupt(method: Method, kind: Corruption, rng: &mut Rng) -> Vec<u8> {
    match kind {
        Corruption::Garbage => {
            let max = *rng.pick(&[16usize, 256, 4096]);
            let n = rng.range(0, max);
            rng.bytes(n)
        }
        Corruption::Truncated => {
            let s = method.sample();
            let cut = rng.range(1, s.len());
            s[..cut].to_vec()
        }
        Corruption::Flipped => {
            let mut s = method.sample();
            for _ in 0..rng.range(1, 5) {
                let i = rng.range(0, s.len());
                s[i] ^= (rng.range(1, 256)) as u8;
            }
            s
        }
        Corruption::WrongWireType => wrong_wire_type(method, rng),
        Corruption::BadUtf8 => bad_utf8_body(method, rng),
        Corruption::HugeLength => huge_length(method, rng),
        Corruption::DeepGroups => deep_groups(method, rng),
    }
}

/// A known field sent with a wire type it does not have.
fn wrong_wire_type(method: Method, rng: &mut Rng) -> Vec<u8> {
    let fields = method.fields();
    let mut out = Vec::new();
    if fields.is_empty() {
        // Every wire type is fine for unknown fields: break the key itself.
        match rng.range(0, 3) {
            0 => {
                let field = rng.range(1, 100) as u32;
                put_tag(&mut out, field, *rng.pick(&[6u8, 7]));
                let n = rng.range(0, 8);
                out.extend(rng.bytes(n));
            }
            1 => put_tag(&mut out, rng.range(1, 100) as u32, EGROUP),
            _ => {
                put_tag(&mut out, 0, *rng.pick(&[VARINT, LEN, I32]));
                let n = rng.range(0, 8);
                out.extend(rng.bytes(n));
            }
        }
        return out;
    }
    let wrong = |rng: &mut Rng, right: u8| loop {
        let w = *rng.pick(&[VARINT, I64, LEN, SGROUP, I32]);
        if w != right {
            return w;
        }
    };
    if method.has_request() && rng.coin() {
        let (field, right) = *rng.pick(REQUEST_FIELDS);
        let w = wrong(rng, right);
        let mut inner = Vec::new();
        put_len(&mut inner, 4, b"config/lease");
        put_tag(&mut inner, field, w);
        put_payload(&mut inner, rng, field, w);
        return in_args(rng, &inner);
    }
    let (field, right) = *rng.pick(fields);
    let w = wrong(rng, right);
    put_tag(&mut out, field, w);
    put_payload(&mut out, rng, field, w);
    out
}

/// Invalid UTF-8 in one of the message's string fields.
fn bad_utf8_body(method: Method, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    match method {
        Method::HandleRequest | Method::HandleExistenceCheck => {
            let mut inner = Vec::new();
            put_len(&mut inner, 3, b"read");
            put_len(&mut inner, *rng.pick(REQUEST_STRINGS), &bad_utf8(rng));
            if rng.coin() {
                // Inside the secret's internal data, or a header value.
                let mut secret = Vec::new();
                put_len(&mut secret, 2, &bad_utf8(rng));
                put_len(&mut inner, 6, &secret);
            }
            return in_args(rng, &inner);
        }
        Method::Setup => {
            put_tag(&mut out, 1, VARINT);
            put_varint(&mut out, 4242);
            if rng.coin() {
                put_len(&mut out, 3, &bad_utf8(rng));
            } else {
                let mut entry = Vec::new();
                let (k, v) = if rng.coin() {
                    (bad_utf8(rng), b"value".to_vec())
                } else {
                    (b"key".to_vec(), bad_utf8(rng))
                };
                put_len(&mut entry, 1, &k);
                put_len(&mut entry, 2, &v);
                put_len(&mut out, 2, &entry);
            }
        }
        Method::InvalidateKey => put_len(&mut out, 1, &bad_utf8(rng)),
        // No string fields: nothing to do (and nothing is generated for these).
        Method::SpecialPaths | Method::Initialize => {}
    }
    out
}

/// A length prefix that promises far more than follows, or an overlong varint.
fn huge_length(method: Method, rng: &mut Rng) -> Vec<u8> {
    let n = rng.range(0, 32);
    let follow = rng.bytes(n);
    let len: u64 = *rng.pick(&[
        follow.len() as u64 + 1,
        follow.len() as u64 + 1000,
        1 << 31,
        1 << 32,
        (1 << 32) + 5,
        i64::MAX as u64,
        u64::MAX,
    ]);
    let field = method
        .fields()
        .iter()
        .filter(|(_, w)| *w == LEN)
        .map(|(f, _)| *f)
        .collect::<Vec<_>>();
    let field = if field.is_empty() {
        rng.range(1, 50) as u32
    } else {
        *rng.pick(&field)
    };
    let mut body = Vec::new();
    put_tag(&mut body, field, LEN);
    if rng.range(0, 4) == 0 {
        // An 11-byte varint: longer than any u64.
        body.extend([0xff; 10]);
        body.push(0x01);
    } else {
        put_varint(&mut body, len);
    }
    body.extend(follow);
    if method.has_request() && rng.coin() {
        // The same, one level down inside a correctly sized `pb.Request`.
        let mut inner = Vec::new();
        put_len(&mut inner, 3, b"read");
        put_tag(&mut inner, *rng.pick(REQUEST_STRINGS), LEN);
        put_varint(&mut inner, len);
        inner.extend(rng.ascii(8));
        return in_args(rng, &inner);
    }
    body
}

/// Unknown-field groups nested deeper than the decoder allows.
fn deep_groups(method: Method, rng: &mut Rng) -> Vec<u8> {
    let depth = *rng.pick(&[101usize, 150, 1000, 10_000, 50_000]);
    let field = rng.range(50, 90) as u32;
    let closed = rng.coin();
    let mut groups = Vec::new();
    for _ in 0..depth {
        put_tag(&mut groups, field, SGROUP);
    }
    if closed {
        for _ in 0..depth {
            put_tag(&mut groups, field, EGROUP);
        }
    }
    if method.has_request() && rng.coin() {
        let mut inner = Vec::new();
        put_len(&mut inner, 3, b"read");
        inner.extend(groups);
        return in_args(rng, &inner);
    }
    groups
}

/// Whether `kind` can break `method` (no strings, no invalid UTF-8).
fn applies(method: Method, kind: Corruption) -> bool {
    !(kind == Corruption::BadUtf8 && method.fields().is_empty())
}

/// `PER_KIND` bodies per applicable kind that `method`'s type cannot decode.
fn undecodable_bodies(method: Method, rng: &mut Rng) -> Vec<(Corruption, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in CORRUPTIONS.into_iter().filter(|k| applies(method, *k)) {
        let mut found = 0;
        let mut tries = 0;
        while found < PER_KIND {
            tries += 1;
            assert!(
                tries < 100_000,
                "generator cannot break {method:?} by {kind:?}: test setup bug"
            );
            let body = corrupt(method, kind, rng);
            if !method.decodes(&body) {
                out.push((kind, body));
                found += 1;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Calls and their outcomes.

/// What a call came back with.
#[derive(Debug)]
enum Outcome<T> {
    /// A reply message.
    Reply(T),
    /// A gRPC error status.
    Status(Code, String),
    /// Nothing within `CALL_TIMEOUT`.
    Hung,
}

/// Runs `fut` under `CALL_TIMEOUT` and sorts its result.
async fn outcome<T>(
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
) -> Outcome<T> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Err(_) => Outcome::Hung,
        Ok(Ok(r)) => Outcome::Reply(r.into_inner()),
        Ok(Err(s)) => Outcome::Status(s.code(), s.message().to_string()),
    }
}

/// Sends `body` unchanged as the request message of `method`, for mount `MOUNT`.
async fn raw_call(ch: &Channel, method: Method, body: Vec<u8>) -> Outcome<Vec<u8>> {
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    outcome(async move {
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
        grpc.unary(
            with_mount(MOUNT, body),
            PathAndQuery::from_static(method.path()),
            RawCodec,
        )
        .await
    })
    .await
}

/// Status codes that mean the transport failed rather than the plugin answering.
fn transport_trouble(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Cancelled | Code::Unknown | Code::DeadlineExceeded
    )
}

/// The JSON object in a reply's response data, if it is one.
fn reply_data(r: &pb::HandleRequestReply) -> Option<serde_json::Map<String, Value>> {
    let data = &r.response.as_ref()?.data;
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Whether a HandleRequest reply reports an error (`err`, or data with `error`).
fn is_error_reply(r: &pb::HandleRequestReply) -> bool {
    r.err.is_some()
        || reply_data(r)
            .and_then(|m| m.get("error").and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|e| !e.is_empty())
}

/// Counts what was sent and what came back as an error.
#[derive(Default)]
struct Tally {
    sent: usize,
    errors: usize,
    /// Calls that were not answered with an error: label and outcome.
    misses: Vec<String>,
}

impl Tally {
    /// Records one call; `errored` says whether it was answered with an error.
    fn record(&mut self, label: &str, errored: bool, outcome: impl std::fmt::Debug) {
        self.sent += 1;
        if errored {
            self.errors += 1;
        } else {
            let mut o = format!("{outcome:?}");
            o.truncate(300);
            self.misses.push(format!("{label}: {o}"));
        }
    }
}

/// A raw outcome counts as an error only if it is the decode error status.
fn raw_errored(o: &Outcome<Vec<u8>>) -> bool {
    matches!(o, Outcome::Status(code, msg)
        if *code == Code::Internal && msg.contains("failed to decode Protobuf message"))
}

/// A typed outcome counts as an error if it is a non-transport status or `is_err` says so.
fn typed_errored<T>(o: &Outcome<T>, is_err: impl Fn(&T) -> bool) -> bool {
    match o {
        Outcome::Reply(r) => is_err(r),
        Outcome::Status(code, _) => !transport_trouble(*code),
        Outcome::Hung => false,
    }
}

/// The plugin is still the same running process and the connection never redialled.
fn assert_alive(l: &mut Launched, pid: u32, dials: &AtomicUsize, after: &str) {
    let status = l.child.try_wait();
    let lines = l.stderr_lines.lock().expect("lock").clone();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    assert!(
        matches!(status, Ok(None)),
        "plugin exited after {after}: {status:?}\nstderr tail:\n{tail}"
    );
    assert_eq!(l.child.id(), pid, "plugin pid changed after {after}");
    assert_eq!(
        dials.load(Ordering::SeqCst),
        1,
        "the connection was dropped and redialled after {after}\nstderr tail:\n{tail}"
    );
    assert!(
        !lines.iter().any(|x| x.contains("panicked")),
        "plugin logged a panic after {after}:\n{tail}"
    );
}

/// A snapshot of everything in the mount's storage.
fn snapshot(s: &MemStorage) -> BTreeMap<String, Vec<u8>> {
    s.0.lock().expect("lock").clone()
}

// ---------------------------------------------------------------------------
// Well-formed messages with bad content.

/// `HandleRequestArgs` for `op` on `path` with `data` sent as raw text.
fn text_request(op: &str, path: &str, data: &str) -> pb::HandleRequestArgs {
    let mut args = request(op, path, Value::Null);
    if let Some(r) = args.request.as_mut() {
        r.data = data.to_string();
    }
    args
}

/// `HandleRequestArgs` for `op` on `path` whose secret has `internal_data`.
fn secret_request(op: &str, internal_data: Option<&str>) -> pb::HandleRequestArgs {
    let mut args = request(op, "creds/dev", json!({}));
    if let (Some(r), Some(d)) = (args.request.as_mut(), internal_data) {
        r.secret = Some(pb::Secret {
            lease_options: None,
            internal_data: d.to_string(),
            lease_id: "aws/creds/dev/x".into(),
        });
    }
    args
}

/// `n` nested JSON arrays.
fn nested_arrays(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// Structurally valid HandleRequest calls whose content is wrong.
fn bad_content_requests() -> Vec<(String, pb::HandleRequestArgs)> {
    let mut v: Vec<(String, pb::HandleRequestArgs)> = Vec::new();
    let mut add = |label: &str, args: pb::HandleRequestArgs| v.push((label.to_string(), args));
    let lease = "config/lease";

    add(
        "no request",
        pb::HandleRequestArgs {
            storage_id: 0,
            request: None,
        },
    );
    for op in ["read", "update", "create", "delete", "list", "patch"] {
        add(&format!("empty path, {op}"), request(op, "", json!({})));
    }
    let long_op = "x".repeat(1000);
    for op in [
        "",
        "READ",
        "reed",
        "update ",
        " read",
        "delete\0",
        "rëad",
        "resolve-path",
        "alias-lookahead",
        "header",
        "scan",
        long_op.as_str(),
    ] {
        add(
            &format!("operation {op:.20?}"),
            request(op, lease, json!({})),
        );
    }
    for data in [
        "{",
        "not json",
        "{\"lease\":",
        "\0",
        "{'lease':'1h'}",
        "[",
        "{\"lease\":\"1h\",\"lease_max\":\"2h\"}}",
        "NaN",
        "\"unterminated",
        "{\"lease\":\"1h\",\"lease_max\":\"2h\",}",
        "-1e999",
    ] {
        add(
            &format!("data {data:?}"),
            text_request("update", lease, data),
        );
    }
    for data in ["[]", "[1,2]", "42", "\"a string\"", "true", "1.5"] {
        add(
            &format!("data shape {data}"),
            text_request("update", lease, data),
        );
    }
    add(
        "data 10k nested arrays",
        text_request("update", lease, &nested_arrays(10_000)),
    );
    add(
        "lease 10k nested arrays",
        text_request(
            "update",
            lease,
            &format!(
                "{{\"lease\":{},\"lease_max\":\"2h\"}}",
                nested_arrays(10_000)
            ),
        ),
    );
    add(
        "data 10k nested objects",
        text_request(
            "update",
            lease,
            &format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
        ),
    );
    let mib = "a".repeat(1 << 20);
    add(
        "lease 1 MiB string",
        request("update", lease, json!({"lease": mib, "lease_max": "2h"})),
    );
    add(
        "lease_max 1 MiB of digits",
        text_request(
            "update",
            lease,
            &format!("{{\"lease\":\"1h\",\"lease_max\":{}}}", "9".repeat(1 << 20)),
        ),
    );
    add(
        "data 1 MiB not JSON",
        text_request("update", lease, &format!("{{{mib}")),
    );
    let long_name = "a".repeat(2000);
    for path in [
        "config/lease\0".to_string(),
        "\0".to_string(),
        "config/\0lease".to_string(),
        "cönfig/lease".to_string(),
        "config/lease/".to_string(),
        "/config/lease".to_string(),
        "config//lease".to_string(),
        "CONFIG/LEASE".to_string(),
        "roles/\0".to_string(),
        "roles/dev\0".to_string(),
        "roles/dév".to_string(),
        "creds/\u{202e}dev".to_string(),
        "💥".to_string(),
        "../config/lease".to_string(),
        format!("creds/{long_name}/x"),
    ] {
        add(
            &format!("path {path:.40?}"),
            request("read", &path, json!({})),
        );
    }
    add("read roles/", request("read", "roles/", json!({})));
    add(
        "read creds/<2000 chars>",
        request("read", &format!("creds/{long_name}"), json!({})),
    );
    add(
        "update sts/<2000 chars>",
        request("update", &format!("sts/{long_name}"), json!({})),
    );
    add(
        "update rotate-role/<2000 chars>",
        request("update", &format!("rotate-role/{long_name}"), json!({})),
    );
    for (label, data) in [
        ("credential_type bogus", json!({"credential_type": "bogus"})),
        (
            "policy_arns object",
            json!({"credential_type": "iam_user", "policy_arns": {"a": 1}}),
        ),
        (
            "default_sts_ttl forever",
            json!({"credential_type": "assumed_role", "role_arns": ["arn:aws:iam::123456789012:role/x"], "default_sts_ttl": "forever"}),
        ),
        (
            "user_path without slashes",
            json!({"credential_type": "iam_user", "user_path": "no-slash"}),
        ),
        (
            "policy_document not JSON",
            json!({"credential_type": "iam_user", "policy_document": "{not json"}),
        ),
    ] {
        add(
            &format!("roles/dév update, {label}"),
            request("update", "roles/dév", data.clone()),
        );
        add(
            &format!("roles/dev update, {label}"),
            request("update", "roles/dev", data),
        );
    }
    for (label, data) in [
        ("max_retries word", json!({"max_retries": "many"})),
        ("max_retries array", json!({"max_retries": [1]})),
        ("max_retries object", json!({"max_retries": {}})),
        ("max_retries 1e100", json!({"max_retries": 1e100})),
        ("access_key array", json!({"access_key": []})),
        ("secret_key object", json!({"secret_key": {"a": "b"}})),
        ("region array", json!({"region": [1, 2]})),
        ("iam_endpoint object", json!({"iam_endpoint": {}})),
        (
            "sts_fallback_endpoints object",
            json!({"sts_fallback_endpoints": {"a": 1}}),
        ),
    ] {
        for op in ["update", "create"] {
            add(
                &format!("config/root {op}, {label}"),
                request(op, "config/root", data.clone()),
            );
        }
    }
    for (label, data) in [
        ("lease array", json!({"lease": [], "lease_max": "2h"})),
        ("lease object", json!({"lease": {}, "lease_max": "2h"})),
        (
            "lease_max nonsense",
            json!({"lease": "1h", "lease_max": "nonsense"}),
        ),
        ("lease_max missing", json!({"lease": "1h"})),
        ("lease NUL", json!({"lease": "1h\u{0}", "lease_max": "2h"})),
        (
            "lease 1e400 text",
            json!({"lease": "1e400", "lease_max": "2h"}),
        ),
    ] {
        add(
            &format!("config/lease, {label}"),
            request("update", lease, data),
        );
    }
    add("renew without a secret", secret_request("renew", None));
    add("revoke without a secret", secret_request("revoke", None));
    add(
        "revoke, secret internal data not JSON",
        secret_request("revoke", Some("{not json")),
    );
    add(
        "renew, secret internal data an array",
        secret_request("renew", Some("[1]")),
    );
    add(
        "revoke, unknown secret type",
        secret_request("revoke", Some(r#"{"secret_type":"nope"}"#)),
    );
    add(
        "renew, secret type a number",
        secret_request("renew", Some(r#"{"secret_type":7}"#)),
    );
    v
}

/// Structurally valid HandleExistenceCheck calls whose content is wrong.
fn bad_existence_checks() -> Vec<(String, pb::HandleExistenceCheckArgs)> {
    let of = |args: pb::HandleRequestArgs| pb::HandleExistenceCheckArgs {
        storage_id: 0,
        request: args.request,
    };
    vec![
        (
            "no request".into(),
            pb::HandleExistenceCheckArgs {
                storage_id: 0,
                request: None,
            },
        ),
        ("empty path".into(), of(request("create", "", json!({})))),
        (
            "NUL path".into(),
            of(request("create", "config/root\0", json!({}))),
        ),
        (
            "unknown path".into(),
            of(request("create", "no/such/path", json!({}))),
        ),
        (
            "data not JSON".into(),
            of(text_request("create", "config/root", "{")),
        ),
        (
            "data an array".into(),
            of(text_request("create", "config/root", "[1]")),
        ),
        (
            "data 10k nested".into(),
            of(text_request(
                "create",
                "config/root",
                &nested_arrays(10_000),
            )),
        ),
        (
            "max_retries wrong type".into(),
            of(request(
                "create",
                "config/root",
                json!({"max_retries": "x"}),
            )),
        ),
        (
            "secret internal data not JSON".into(),
            of(secret_request("create", Some("{"))),
        ),
    ]
}

/// Metadata that names no mount: missing, unknown, empty, not text, very long.
fn wrong_mounts() -> Vec<(String, Option<MetadataValue<tonic::metadata::Ascii>>)> {
    let v = |s: &str| Some(s.parse().expect("ascii metadata"));
    vec![
        ("no multiplex_id".into(), None),
        ("unknown mount".into(), v("nosuchmount")),
        ("empty mount id".into(), v("")),
        ("mount id in other case".into(), v("MOUNTMALFORMED")),
        ("mount id with a suffix".into(), v("mountMALFORMED-")),
        (
            "mount id with obs-text bytes".into(),
            Some(
                MetadataValue::try_from(&[b'm', 0xff, 0xfe, b'x'][..])
                    .expect("obs-text is a valid header value"),
            ),
        ),
        ("4 KiB mount id".into(), v(&"m".repeat(4096))),
    ]
}

/// Wraps `msg` with `id` as multiplex_id metadata, or none.
fn addressed<T>(id: &Option<MetadataValue<tonic::metadata::Ascii>>, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(id) = id {
        r.metadata_mut().insert("multiplex_id", id.clone());
    }
    r
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_never_crash_hang_or_write() {
    let started = Instant::now();
    let mut l = launch().await;
    let pid = l.child.id();
    let storage = setup_mount(&l, MOUNT, BROKER_ID).await;
    let (ch, dials) = l.connect_counted().await;
    let mut backend = pb::backend_client::BackendClient::new(ch.clone())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);

    // One valid write, so there is something malformed input could damage.
    let r = backend
        .handle_request(with_mount(
            MOUNT,
            request(
                "update",
                "config/lease",
                json!({"lease": "1h", "lease_max": "2h"}),
            ),
        ))
        .await
        .expect("valid config/lease write")
        .into_inner();
    assert!(
        r.err.is_none() && r.response.is_none(),
        "valid write: {r:?}"
    );
    assert_eq!(
        storage.get_json("config/lease"),
        Some(json!({"Lease": 3_600_000_000_000i64, "LeaseMax": 7_200_000_000_000i64}))
    );
    let before = snapshot(&storage);
    assert_alive(&mut l, pid, &dials, "setup");

    let mut tally = Tally::default();
    let mut rng = Rng(SEED);

    // 1. Raw bodies the plugin's types cannot decode.
    let mut raw_sent = 0;
    for method in METHODS {
        for (kind, body) in undecodable_bodies(method, &mut rng) {
            let len = body.len();
            let o = raw_call(&ch, method, body).await;
            tally.record(
                &format!("{method:?} {kind:?} ({len} bytes)"),
                raw_errored(&o),
                &o,
            );
            raw_sent += 1;
        }
        assert_alive(&mut l, pid, &dials, &format!("raw {method:?} bodies"));
    }

    // 2. Well-formed HandleRequest with bad content.
    let cases = bad_content_requests();
    let content_sent = cases.len();
    for (label, args) in cases {
        let o = outcome(backend.handle_request(with_mount(MOUNT, args))).await;
        let errored = typed_errored(&o, is_error_reply);
        tally.record(&format!("HandleRequest {label}"), errored, &o);
    }
    assert_alive(&mut l, pid, &dials, "bad-content HandleRequest");

    // 3. Well-formed HandleExistenceCheck with bad content.
    let checks = bad_existence_checks();
    let checks_sent = checks.len();
    for (label, args) in checks {
        let o = outcome(backend.handle_existence_check(with_mount(MOUNT, args))).await;
        let errored = typed_errored(&o, |r| r.err.is_some());
        tally.record(&format!("HandleExistenceCheck {label}"), errored, &o);
    }
    assert_alive(&mut l, pid, &dials, "bad-content HandleExistenceCheck");

    // 4. Calls for mounts that do not exist.
    let mounts = wrong_mounts();
    let mounts_sent = mounts.len() * 3;
    for (label, id) in &mounts {
        let read = request("read", "config/lease", json!({}));
        let o = outcome(backend.handle_request(addressed(id, read))).await;
        let errored = typed_errored(&o, is_error_reply);
        tally.record(&format!("HandleRequest, {label}"), errored, &o);
        let check = pb::HandleExistenceCheckArgs {
            storage_id: 0,
            request: request("create", "config/root", json!({})).request,
        };
        let o = outcome(backend.handle_existence_check(addressed(id, check))).await;
        let errored = typed_errored(&o, |r| r.err.is_some());
        tally.record(&format!("HandleExistenceCheck, {label}"), errored, &o);
        let o = outcome(backend.initialize(addressed(id, pb::InitializeArgs {}))).await;
        let errored = typed_errored(&o, |r| r.err.is_some());
        tally.record(&format!("Initialize, {label}"), errored, &o);
    }
    assert_alive(&mut l, pid, &dials, "calls for unknown mounts");

    // 5. Setup naming a broker id the server never announced (the plugin waits
    // its 5 s for it): for our mount, which must keep working, and two others.
    let setup = |id: &'static str| {
        let mut b = backend.clone();
        async move {
            let args = pb::SetupArgs {
                broker_id: 999,
                config: Default::default(),
                backend_uuid: "uuid".into(),
            };
            (id, outcome(b.setup(with_mount(id, args))).await)
        }
    };
    let (a, b, c) = futures::join!(setup(MOUNT), setup("mountNOBROKER"), setup("single"));
    let setups = [a, b, c];
    let setups_sent = setups.len();
    for (id, o) in &setups {
        let errored = typed_errored(o, |r| !r.err.is_empty());
        tally.record(&format!("Setup with unannounced broker, {id}"), errored, o);
    }
    assert_alive(&mut l, pid, &dials, "Setup with an unannounced broker id");

    // Every malformed call was answered with an error.
    assert!(
        tally.misses.is_empty(),
        "{} of {} malformed calls were not answered with an error:\n{}",
        tally.misses.len(),
        tally.sent,
        tally.misses.join("\n")
    );
    let expected = raw_sent + content_sent + checks_sent + mounts_sent + setups_sent;
    assert_eq!(tally.sent, expected);
    assert_eq!(tally.errors, tally.sent, "errors answered == calls sent");
    assert!(
        tally.sent >= 500,
        "only {} malformed calls sent",
        tally.sent
    );

    // Nothing malformed reached storage.
    assert_eq!(
        snapshot(&storage),
        before,
        "storage changed under malformed input"
    );

    // The same process, on the same connection, still serves normal requests.
    let read = |b: &pb::backend_client::BackendClient<Channel>| {
        let mut b = b.clone();
        async move {
            b.handle_request(with_mount(
                MOUNT,
                request("read", "config/lease", json!(null)),
            ))
            .await
            .expect("config/lease read after malformed input")
            .into_inner()
        }
    };
    let r = read(&backend).await;
    assert_eq!(
        reply_data(&r).map(Value::Object),
        Some(json!({"lease": "1h0m0s", "lease_max": "2h0m0s"})),
        "{r:?}"
    );
    let r = backend
        .handle_request(with_mount(
            MOUNT,
            request(
                "update",
                "config/lease",
                json!({"lease": "2h", "lease_max": "3h"}),
            ),
        ))
        .await
        .expect("config/lease write after malformed input")
        .into_inner();
    assert!(r.err.is_none() && r.response.is_none(), "{r:?}");
    let r = read(&backend).await;
    assert_eq!(
        reply_data(&r).map(Value::Object),
        Some(json!({"lease": "2h0m0s", "lease_max": "3h0m0s"})),
        "{r:?}"
    );
    assert_eq!(
        storage.get_json("config/lease"),
        Some(json!({"Lease": 7_200_000_000_000i64, "LeaseMax": 10_800_000_000_000i64}))
    );
    let (mut now, mut then) = (snapshot(&storage), before);
    now.remove("config/lease");
    then.remove("config/lease");
    assert_eq!(now, then, "only the valid writes changed storage");
    assert_alive(&mut l, pid, &dials, "the final valid requests");
    eprintln!(
        "{} malformed calls ({raw_sent} raw, {content_sent} bad content, {checks_sent} existence, {mounts_sent} unknown mount, {setups_sent} setup), all errors, in {:?}",
        tally.sent,
        started.elapsed()
    );
}
