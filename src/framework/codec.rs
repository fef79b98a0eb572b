//! The wire codec of the `pb.Backend` protocol: decoding the server's requests into the
//! framework's plain types, encoding responses, and the one mapping of framework errors to
//! Vault's error kinds and replies (error responses, coded errors, the 502 convention, and
//! errors of calls that carry no response).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::proto::pb;

use super::error::Error;
use super::path::HandlerResult;
use super::request::{LeaseInfo, Operation, Request, Response, SecretResponse};

/// The server's sentinel text for "AWS throttled us" (answered 502).
pub(crate) const UPSTREAM_RATE_LIMITED: &str = "upstream rate limited";

/// How an error travels back in `HandleRequestReply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// `response.data = {"error": msg}` and no `err`: the server answers 400.
    ErrorResponse(String),
    /// `err = ProtoError{err_type, err_msg, err_code}`.
    Proto {
        err_type: u32,
        msg: String,
        code: i64,
    },
}

/// ProtoError kinds (openbao sdk/plugin/pb/translation.go).
pub(crate) mod err_type {
    pub(crate) const UNKNOWN: u32 = 0;
    /// A user error: what the server answers 400 when there is no response to carry it.
    pub(crate) const USER: u32 = 1;
    pub(crate) const CODED: u32 = 3;
    pub(crate) const UNSUPPORTED_OPERATION: u32 = 5;
    pub(crate) const UNSUPPORTED_PATH: u32 = 6;
    pub(crate) const UNRECOVERABLE: u32 = 10;
}

impl Error {
    /// The single mapping from our errors to Vault's kinds.
    pub(crate) fn to_wire(&self) -> WireError {
        let proto = |t, msg: &str, code| WireError::Proto {
            err_type: t,
            msg: msg.to_string(),
            code,
        };
        match self {
            Error::BadRequest(m) => WireError::ErrorResponse(m.clone()),
            Error::Internal(m) => proto(err_type::UNKNOWN, m, 0),
            Error::Coded(c, m) => proto(err_type::CODED, m, i64::from(*c)),
            Error::UnsupportedPath => proto(err_type::UNSUPPORTED_PATH, "unsupported path", 0),
            Error::UnsupportedOperation => {
                proto(err_type::UNSUPPORTED_OPERATION, "unsupported operation", 0)
            }
            Error::Unrecoverable => proto(err_type::UNRECOVERABLE, "unrecoverable error", 0),
        }
    }
}

/// What an error puts in a reply: the response (an error response) and the `err` field.
/// Every RPC's errors go through here.
pub(crate) struct ErrorReply {
    /// `{"error": msg}` data, when the reply has a response to carry it.
    pub(crate) response: Option<pb::Response>,
    pub(crate) err: Option<pb::ProtoError>,
}

/// Encodes `e` for a reply. `with_response` says whether the reply has a response slot
/// (`HandleRequest`); calls without one (existence check, initialize) send bad input as a user
/// error, which the server answers 400, and any other kind as itself.
pub(crate) fn error_reply(e: &Error, with_response: bool) -> ErrorReply {
    let error_data = |msg: String| {
        let mut m = Map::new();
        m.insert("error".into(), msg.into());
        encode_response(Response::with_data(m), SystemTime::now())
    };
    let proto = |err_type, err_msg, err_code| {
        Some(pb::ProtoError {
            err_type,
            err_msg,
            err_code,
        })
    };
    match (e.to_wire(), with_response) {
        (WireError::ErrorResponse(msg), true) => ErrorReply {
            response: Some(error_data(msg)),
            err: None,
        },
        (WireError::ErrorResponse(msg), false) => ErrorReply {
            response: None,
            err: proto(err_type::USER, msg, 0),
        },
        // A 502 is sent as Vault's engines do (`ErrorResponse` + `ErrUpstreamRateLimited`): the
        // server takes the status from the sentinel text and the plain message from the error
        // response.
        (
            WireError::Proto {
                err_type: err_type::CODED,
                msg,
                code: 502,
            },
            true,
        ) => ErrorReply {
            response: Some(error_data(msg)),
            err: proto(err_type::UNKNOWN, UPSTREAM_RATE_LIMITED.to_string(), 0),
        },
        (
            WireError::Proto {
                err_type,
                msg,
                code,
            },
            _,
        ) => ErrorReply {
            response: None,
            err: proto(err_type, msg, code),
        },
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn duration_of(ns: i64) -> Duration {
    Duration::from_nanos(ns.max(0) as u64)
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn json_object(text: &str, what: &str) -> Result<Map<String, Value>, Error> {
    let t = text.trim();
    if t.is_empty() || t == "null" {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(Error::bad(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::bad(format!("{what} is not valid JSON: {e}"))),
    }
}

/// Decodes the wire request.
pub(crate) fn decode_request(r: pb::Request) -> Result<Request, Error> {
    let data = json_object(&r.data, "request data")?;
    let lease = match r.secret {
        None => None,
        Some(s) => {
            let lo = s.lease_options.unwrap_or_default();
            Some(LeaseInfo {
                lease_id: s.lease_id,
                internal_data: json_object(&s.internal_data, "secret internal data")?,
                ttl: duration_of(lo.ttl),
                max_ttl: duration_of(lo.max_ttl),
                increment: duration_of(lo.increment),
                renewable: lo.renewable,
                issue_time: lo.issue_time.and_then(|t| {
                    UNIX_EPOCH.checked_add(Duration::new(
                        t.seconds.max(0) as u64,
                        t.nanos.max(0) as u32,
                    ))
                }),
            })
        }
    };
    Ok(Request {
        id: r.id,
        operation: Operation::parse(&r.operation),
        path: r.path,
        data,
        lease,
        display_name: r.display_name,
        mount_point: r.mount_point,
        entity_id: r.entity_id,
    })
}

fn encode_secret(s: SecretResponse, issue_time: SystemTime) -> pb::Secret {
    pb::Secret {
        lease_options: Some(pb::LeaseOptions {
            ttl: nanos(s.ttl),
            renewable: s.renewable,
            increment: 0,
            issue_time: Some(timestamp(issue_time)),
            max_ttl: nanos(s.max_ttl),
        }),
        internal_data: Value::Object(s.internal_data).to_string(),
        lease_id: String::new(),
    }
}

/// Encodes a response (`data` is always valid JSON, `issue_time` always set).
pub(crate) fn encode_response(r: Response, issue_time: SystemTime) -> pb::Response {
    pb::Response {
        secret: r.secret.map(|s| encode_secret(s, issue_time)),
        data: match (r.encoded_data, r.data) {
            (Some(encoded), _) => encoded.to_string(),
            (None, Some(d)) => Value::Object(d).to_string(),
            (None, None) => "null".into(),
        },
        warnings: r.warnings,
        ..Default::default()
    }
}

/// Encodes a handler outcome into the reply.
pub(crate) fn encode_result(
    result: HandlerResult,
    issue_time: SystemTime,
) -> pb::HandleRequestReply {
    match result {
        Ok(resp) => pb::HandleRequestReply {
            response: resp.map(|r| encode_response(r, issue_time)),
            err: None,
        },
        Err(e) => {
            let reply = error_reply(&e, true);
            pb::HandleRequestReply {
                response: reply.response,
                err: reply.err,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_vaults_error_type() {
        assert_eq!(
            Error::bad("x").to_wire(),
            WireError::ErrorResponse("x".into())
        );
        assert_eq!(
            Error::internal("boom").to_wire(),
            WireError::Proto {
                err_type: 0,
                msg: "boom".into(),
                code: 0
            }
        );
        assert_eq!(
            Error::Coded(502, "slow down".into()).to_wire(),
            WireError::Proto {
                err_type: 3,
                msg: "slow down".into(),
                code: 502
            }
        );
        assert!(matches!(
            Error::UnsupportedPath.to_wire(),
            WireError::Proto { err_type: 6, .. }
        ));
        assert!(matches!(
            Error::UnsupportedOperation.to_wire(),
            WireError::Proto { err_type: 5, .. }
        ));
        assert!(matches!(
            Error::Unrecoverable.to_wire(),
            WireError::Proto { err_type: 10, .. }
        ));
    }

    #[test]
    fn a_502_is_an_error_response_plus_the_upstream_sentinel() {
        let reply = error_reply(&Error::Coded(502, "Throttling: slow down".into()), true);
        let data = reply.response.map(|r| r.data).unwrap_or_default();
        assert_eq!(data, r#"{"error":"Throttling: slow down"}"#);
        let err = reply.err.expect("err");
        assert_eq!(
            (err.err_type, err.err_msg.as_str()),
            (0, UPSTREAM_RATE_LIMITED)
        );
    }

    #[test]
    fn bad_input_without_a_response_slot_is_a_user_error() {
        let reply = error_reply(&Error::bad("no such field"), false);
        assert!(reply.response.is_none());
        let err = reply.err.expect("err");
        assert_eq!((err.err_type, err.err_msg.as_str()), (1, "no such field"));
    }

    #[test]
    fn a_list_encoded_once_goes_out_as_the_same_data_as_a_built_one() {
        let keys = vec!["a".to_string(), "b\"c".to_string()];
        let built = encode_response(Response::list(keys.clone()), SystemTime::UNIX_EPOCH);
        let encoded = encode_response(
            Response::encoded(Response::encode_list(&keys)),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(built.data, encoded.data);
        assert_eq!(built.data, r#"{"keys":["a","b\"c"]}"#);
    }
}
