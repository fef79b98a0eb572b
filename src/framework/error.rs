//! One error type for every handler; `codec.rs` maps it to Vault's error kinds, once.

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
