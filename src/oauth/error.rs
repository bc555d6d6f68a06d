//! RFC 6749 errors: what the protocol layer returns, mapped to JSON or a redirect by `http/`.

use crate::connector::ConnectorError;
use crate::storage::StorageError;

/// The error codes of RFC 6749 section 5.2 and 4.1.2.1 plus OIDC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    ServerError,
    TemporarilyUnavailable,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

/// An OAuth error with a description safe to show the client. Internal causes are kept in
/// `internal` for the log and never serialised.
#[derive(Debug, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    pub internal: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            internal: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client() -> OAuthError {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
    pub fn server(cause: impl std::fmt::Display) -> OAuthError {
        OAuthError {
            code: ErrorCode::ServerError,
            description: "internal server error".into(),
            internal: Some(cause.to_string()),
        }
    }
}

impl From<StorageError> for OAuthError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            return OAuthError {
                code: ErrorCode::TemporarilyUnavailable,
                description: "the database is not answering; try again shortly".into(),
                internal: Some(e.to_string()),
            };
        }
        OAuthError::server(e)
    }
}

impl From<ConnectorError> for OAuthError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::UserGone => OAuthError::invalid_grant("the user is no longer valid"),
            ConnectorError::Rejected(why) => OAuthError::invalid_grant(why),
            ConnectorError::Unavailable(cause) => OAuthError {
                code: ErrorCode::TemporarilyUnavailable,
                description: "the identity source is not answering; try again later".into(),
                internal: Some(cause),
            },
            ConnectorError::Storage(e) => e.into(),
            other => OAuthError::server(other),
        }
    }
}
