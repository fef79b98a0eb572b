//! One error type for the whole engine, mapped once to Vault's error kinds.

/// Everything a handler can fail with. The variant decides the HTTP status the
/// server answers with; the text is what the user sees.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Bad input: 400 with this exact text (sent as an error response, as Go
    /// engines do with `logical.ErrorResponse`). Nothing was changed.
    #[error("{0}")]
    BadRequest(String),
    /// A failure that is not the caller's fault: 500 with this text.
    #[error("{0}")]
    Internal(String),
    /// A specific status (e.g. 502 when AWS throttles).
    #[error("{1}")]
    Coded(u16, String),
    /// No path matches: 404 `unsupported path`.
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path exists but not for this operation: 405 `unsupported operation`.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// Revoke failed in a way that retrying cannot fix.
    #[error("unrecoverable error")]
    Unrecoverable,
}

impl Error {
    /// 400 with `msg`.
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }
    /// 500 with `msg`.
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }
}

/// Storage failures are server-side problems.
impl From<super::storage::StorageError> for Error {
    fn from(e: super::storage::StorageError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// How an error travels back in `HandleRequestReply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
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
pub mod err_type {
    pub const UNKNOWN: u32 = 0;
    pub const CODED: u32 = 3;
    pub const UNSUPPORTED_OPERATION: u32 = 5;
    pub const UNSUPPORTED_PATH: u32 = 6;
    pub const UNRECOVERABLE: u32 = 10;
}

impl Error {
    /// The single mapping from our errors to Vault's.
    pub fn to_wire(&self) -> WireError {
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
}
