//! The response families: OAuth JSON errors, HTML error pages. Internal causes are logged here
//! (inside the request's span, so with its request id) and never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::http::views::ErrorPage;
use crate::oauth::authorize::{AuthorizeError, Refusal};
use crate::oauth::error::{ErrorCode, OAuthError};

/// RFC 6749 5.2 JSON error.
#[derive(Debug)]
pub struct OAuthJson(pub OAuthError);

impl From<OAuthError> for OAuthJson {
    fn from(e: OAuthError) -> Self {
        OAuthJson(e)
    }
}

impl IntoResponse for OAuthJson {
    fn into_response(self) -> Response {
        let e = self.0;
        if let Some(cause) = &e.internal {
            tracing::error!(error = %cause, "internal error");
        }
        let status = match e.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body =
            serde_json::json!({"error": e.code.as_str(), "error_description": e.description});
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match e.code {
            ErrorCode::InvalidClient => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"gantry\""),
                );
            }
            ErrorCode::InvalidToken => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        retry_later(&mut resp);
        resp
    }
}

/// On a 503: when to try again. The outages it answers (a database restarting, an identity
/// source reconnecting) last seconds; load balancers and clients honour it.
pub fn retry_later(resp: &mut Response) {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
}

/// An HTML error page for browsers.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }
    /// Gantry's database did not answer a browser's request: a page that says to retry.
    pub fn sign_in_unavailable(cause: impl std::fmt::Display) -> PageError {
        tracing::error!(error = %cause, "database unavailable");
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::oauth::authorize::SIGN_IN_UNAVAILABLE,
        )
    }
    pub fn internal(cause: impl std::fmt::Display) -> PageError {
        tracing::error!(error = %cause, "internal error");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let mut resp = (
            self.status,
            ErrorPage {
                title,
                message: self.message,
            },
        )
            .into_response();
        retry_later(&mut resp);
        // A cap that frees up as old requests expire: a minute is a fair guess.
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        resp
    }
}

/// A failed authorization: an error page (its status chosen here, from what went wrong), or
/// the error sent back to the client's redirect URI.
impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            AuthorizeError::Page { kind, message } => {
                let status = match kind {
                    Refusal::Invalid => StatusCode::BAD_REQUEST,
                    Refusal::OtherBrowser => StatusCode::FORBIDDEN,
                    Refusal::TooMany => StatusCode::TOO_MANY_REQUESTS,
                    Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    Refusal::NotFound => StatusCode::NOT_FOUND,
                    Refusal::NotAllowed => StatusCode::FORBIDDEN,
                };
                PageError::new(status, message).into_response()
            }
            AuthorizeError::Redirect(uri) => Redirect::to(&uri).into_response(),
            AuthorizeError::Internal(cause) => PageError::internal(cause).into_response(),
        }
    }
}
