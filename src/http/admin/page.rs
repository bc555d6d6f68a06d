//! The request families of the admin pages: a page view (the session cookie of an admin) and
//! a posted form (that, and the session's form token), with the HTML answer each gives when
//! the request is refused: the way to the sign-in, or an error page.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::{csrf_ok, session_token};
use crate::admin::{Admin, AdminError};
use crate::http::AppState;
use crate::http::error::PageError;
use crate::http::extract::page_form;

/// What an admin page answers instead: an admin error (the sign-in for one not signed in, an
/// error page otherwise) or an error page of its own.
#[derive(Debug)]
pub(crate) enum AdminPageError {
    Admin {
        error: AdminError,
        /// Where the sign-in starts.
        sign_in: String,
    },
    Page(PageError),
}

impl AdminPageError {
    pub(crate) fn new(s: &AppState, error: AdminError) -> AdminPageError {
        AdminPageError::Admin {
            error,
            sign_in: s.web.path("/admin/login"),
        }
    }

    /// A form that was not posted from the page this session was shown.
    pub(crate) fn forged() -> AdminPageError {
        AdminPageError::Page(PageError::new(
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this site. Go back, reload the page and try \
             again.",
        ))
    }
}

/// What an admin page handler answers: the page, or what its refusal gives.
pub(crate) type PageResult = Result<Response, AdminPageError>;

/// An admin error on its way out of a page handler, which must know where the sign-in starts.
pub(crate) trait OrPage<T> {
    fn or_page(self, s: &AppState) -> Result<T, AdminPageError>;
}

impl<T> OrPage<T> for Result<T, AdminError> {
    fn or_page(self, s: &AppState) -> Result<T, AdminPageError> {
        self.map_err(|e| AdminPageError::new(s, e))
    }
}

impl From<PageError> for AdminPageError {
    fn from(e: PageError) -> AdminPageError {
        AdminPageError::Page(e)
    }
}

impl IntoResponse for AdminPageError {
    fn into_response(self) -> Response {
        let (error, sign_in) = match self {
            AdminPageError::Page(p) => return p.into_response(),
            AdminPageError::Admin { error, sign_in } => (error, sign_in),
        };
        let page = match error {
            AdminError::NotSignedIn => return Redirect::to(&sign_in).into_response(),
            AdminError::Forbidden(who) => PageError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "You are signed in as {who}, who is not an administrator of this Gantry. \
                     Ask an administrator to add you to policy.admins."
                ),
            ),
            AdminError::BadRequest(m) => PageError::new(StatusCode::BAD_REQUEST, m),
            AdminError::Conflict(m) => PageError::new(StatusCode::CONFLICT, m),
            AdminError::Stale(m) => PageError::new(
                StatusCode::CONFLICT,
                format!(
                    "Someone else changed this after you opened the page, so nothing was done \
                     ({m}). Go back, reload the page and decide again."
                ),
            ),
            AdminError::NotFound => PageError::new(StatusCode::NOT_FOUND, "That no longer exists."),
            AdminError::Unavailable(cause) => {
                tracing::error!(error = %cause, "admin: database unavailable");
                PageError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is not answering. Try again in a few seconds.",
                )
            }
            AdminError::Internal(cause) => PageError::internal(cause),
        };
        page.into_response()
    }
}

/// An admin page request: the admin behind the session cookie, and the session's token.
#[derive(Debug)]
pub(crate) struct AdminPage {
    pub admin: Admin,
    pub token: String,
}

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = AdminPageError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, AdminPageError> {
        let token = session_token(&parts.headers);
        match s.admin.admin_session(&token).await {
            Ok(admin) => Ok(AdminPage { admin, token }),
            Err(e) => Err(AdminPageError::new(s, e)),
        }
    }
}

/// A form whose `csrf` field carries the admin page's form token.
pub(crate) trait WithCsrf {
    fn csrf(&self) -> Option<&str>;
}

/// `WithCsrf` for forms with a `csrf: Option<String>` field.
macro_rules! with_csrf {
    ($($t:ty),+) => {
        $(impl $crate::http::admin::page::WithCsrf for $t {
            fn csrf(&self) -> Option<&str> {
                self.csrf.as_deref()
            }
        })+
    };
}
pub(crate) use with_csrf;

/// A posted admin form: parsed, from a signed-in admin, with this session's form token.
#[derive(Debug)]
pub(crate) struct AdminForm<T> {
    pub form: T,
    pub admin: Admin,
    pub token: String,
}

impl<T: DeserializeOwned + WithCsrf + Send> FromRequest<AppState> for AdminForm<T> {
    type Rejection = AdminPageError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, AdminPageError> {
        let (parts, body) = req.into_parts();
        let form = page_form::<T>(&parts.headers, body).await?;
        let token = session_token(&parts.headers);
        let admin = match s.admin.admin_session(&token).await {
            Ok(a) => a,
            Err(e) => return Err(AdminPageError::new(s, e)),
        };
        if !csrf_ok(&token, form.csrf().unwrap_or_default()) {
            // An admin's browser made to post by another site: who it was aimed at is worth
            // knowing.
            s.provider
                .audit(
                    &admin.actor(),
                    "admin.ui",
                    "form",
                    "refused",
                    serde_json::json!({ "status": 403, "reason": "no valid form token" }),
                )
                .await;
            return Err(AdminPageError::forged());
        }
        Ok(AdminForm { form, admin, token })
    }
}
