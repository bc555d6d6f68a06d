//! `/mfa`: the second-factor page of a login (enrolment, or a code), between the login and the
//! approval. Thin: `oauth::second_factor` decides; this reads the form and draws the answer.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::http::authorize::approval_url;
use crate::http::error::PageError;
use crate::http::extract::{page_form, page_query};
use crate::http::limits::{LoginForm as LoginLimit, RateLimited};
use crate::http::views::{MfaKeyPage, MfaPage, RecoveryCodesPage};
use crate::http::{AppState, csrf};
use crate::oauth::second_factor::{MfaAnswer, MfaOutcome, MfaRefusal, MfaStep};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mfa", get(mfa_page).post(mfa_submit))
        .route("/mfa/webauthn.js", get(script))
}

/// The WebAuthn page's script, compiled in: unlike `/static/`, no web directory can replace the
/// code that handles a second factor.
const SCRIPT: &str = include_str!("../../static/webauthn.js");

async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        SCRIPT,
    )
        .into_response()
}

/// Where a login goes for its second factor.
pub(crate) fn mfa_url(s: &AppState, req_id: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("req", req_id)
        .finish();
    format!("{}?{q}", s.web.path("/mfa"))
}

/// Where a login goes to register another WebAuthn key after giving one.
fn add_key_url(s: &AppState, req_id: &str) -> String {
    format!("{}&add=1", mfa_url(s, req_id))
}

#[derive(Deserialize)]
struct ReqQuery {
    req: Option<String>,
    add: Option<String>,
}

async fn mfa_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let (req_id, adding) = match page_query::<ReqQuery>(q.as_deref()) {
        Ok(ReqQuery { req: Some(r), add }) if !r.is_empty() => (r, add.is_some()),
        Ok(_) => {
            return PageError::new(StatusCode::BAD_REQUEST, "The link is incomplete.")
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let browser = csrf::cookie_value(&headers).unwrap_or_default();
    match s
        .provider
        .second_factor(&req_id, &browser, &s.web.title, adding)
        .await
    {
        Ok(MfaStep::Done) => Redirect::to(&approval_url(&s, &req_id)).into_response(),
        Ok(step) => draw(&s, &req_id, &browser, step, StatusCode::OK, ""),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct MfaForm {
    req: Option<String>,
    csrf: Option<String>,
    code: Option<String>,
    recovery_code: Option<String>,
    /// The browser's WebAuthn credential, as JSON.
    webauthn: Option<String>,
    key_name: Option<String>,
    add_another: Option<String>,
}

async fn mfa_submit(
    State(s): State<AppState>,
    RateLimited(ip, ..): RateLimited<LoginLimit>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let f = match page_form::<MfaForm>(&headers, body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let req_id = f.req.unwrap_or_default();
    let form_ok = csrf::check(&headers, &req_id, f.csrf.as_deref().unwrap_or_default());
    let browser = csrf::cookie_value(&headers).unwrap_or_default();
    let answer = match (&f.recovery_code, &f.webauthn, &f.code) {
        (Some(r), _, _) if !r.trim().is_empty() => MfaAnswer::RecoveryCode(r),
        (_, Some(w), _) => MfaAnswer::Key {
            response: w,
            name: f.key_name.as_deref().unwrap_or_default(),
            add_another: f.add_another.is_some(),
        },
        (_, _, c) => MfaAnswer::Code(c.as_deref().unwrap_or_default()),
    };
    let outcome = s
        .provider
        .answer_second_factor(&req_id, &browser, form_ok, answer, ip, &s.web.title)
        .await;
    match outcome {
        Ok(MfaOutcome::Done) => Redirect::to(&approval_url(&s, &req_id)).into_response(),
        Ok(MfaOutcome::AddKey) => Redirect::to(&add_key_url(&s, &req_id)).into_response(),
        Ok(MfaOutcome::RecoveryCodes(codes)) => no_store(
            RecoveryCodesPage {
                title: s.web.title.clone(),
                next: approval_url(&s, &req_id),
                codes,
            }
            .into_response(),
        ),
        Ok(MfaOutcome::Refused { again, why }) => {
            let (status, message) = match why {
                MfaRefusal::WrongCode => (StatusCode::UNAUTHORIZED, "That code is not right."),
                MfaRefusal::ReplayedCode => (
                    StatusCode::UNAUTHORIZED,
                    "That code was used already. Wait for the next one and enter it.",
                ),
                MfaRefusal::WrongRecoveryCode => (
                    StatusCode::UNAUTHORIZED,
                    "That recovery code is not right, or was used already.",
                ),
                MfaRefusal::Throttled => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many wrong codes. Wait a few minutes and try again.",
                ),
                MfaRefusal::KeyRefused => (
                    StatusCode::UNAUTHORIZED,
                    "That key was not accepted. Try again, with one of your registered keys.",
                ),
                MfaRefusal::KeyTimedOut => {
                    (StatusCode::UNAUTHORIZED, "That took too long. Try again.")
                }
            };
            draw(&s, &req_id, &browser, again, status, message)
        }
        Err(e) => e.into_response(),
    }
}

/// The page for a step: the enrolment (secret and QR code) or the code form.
fn draw(
    s: &AppState,
    req_id: &str,
    browser: &str,
    step: MfaStep,
    status: StatusCode,
    error: &str,
) -> Response {
    let mut page = MfaPage {
        title: s.web.title.clone(),
        action: s.web.path("/mfa"),
        request_id: req_id.to_string(),
        csrf: csrf::token(browser, req_id),
        username: String::new(),
        enrol: false,
        secret: String::new(),
        qr: String::new(),
        recovery: false,
        error: error.to_string(),
    };
    match step {
        MfaStep::Done => return Redirect::to(&approval_url(s, req_id)).into_response(),
        MfaStep::Key {
            username,
            page: key,
            adding,
            recovery,
        } => {
            let page = MfaKeyPage {
                title: s.web.title.clone(),
                action: s.web.path("/mfa"),
                request_id: req_id.to_string(),
                csrf: csrf::token(browser, req_id),
                username,
                register: key.register,
                adding,
                keys: key.keys,
                options: key.options,
                script: s.web.path("/mfa/webauthn.js"),
                skip: approval_url(s, req_id),
                recovery,
                error: error.to_string(),
            };
            let mut resp = no_store((status, page).into_response());
            // The one page that runs a script: its own, from this origin.
            if let Ok(v) = HeaderValue::from_str(&s.web.script_csp) {
                resp.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, v);
            }
            return resp;
        }
        MfaStep::Code { username, recovery } => {
            page.username = username;
            page.recovery = recovery;
        }
        MfaStep::Enrol {
            username,
            enrolment,
        } => {
            page.username = username;
            page.enrol = true;
            page.secret = enrolment.secret;
            if !enrolment.qr_svg.is_empty() {
                // An image, not inline markup: the page's CSP lets `data:` images in, and
                // nothing of the SVG can run or style the page.
                page.qr = format!(
                    "data:image/svg+xml;base64,{}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        enrolment.qr_svg
                    )
                );
            }
        }
    }
    no_store((status, page).into_response())
}

/// A page that holds a secret (the enrolment's, recovery codes) is kept by no cache.
fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
