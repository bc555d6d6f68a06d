//! What each response family answers: status, headers and body, as clients see them. (What
//! each request family's extractor refuses with is checked against the running app in
//! tests/it/limits.rs.)

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::admin::AdminError;
use crate::http::admin::api::ApiError;
use crate::http::admin::page::AdminPageError;
use crate::http::error::{OAuthJson, PageError};
use crate::http::registry::RegistryFailure;
use crate::oauth::authorize::{AuthorizeError, Refusal};
use crate::oauth::error::OAuthError;
use crate::registry::RegistryError;

async fn body(r: Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(b.to_vec()).unwrap()
}

fn header(r: &Response, name: header::HeaderName) -> Option<&str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn api_errors_are_problem_documents() {
    let r = ApiError::from(AdminError::NotSignedIn).into_response();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&r, header::CONTENT_TYPE),
        Some("application/problem+json")
    );
    assert_eq!(header(&r, header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(
        header(&r, header::WWW_AUTHENTICATE),
        Some("Bearer realm=\"gantry-admin\"")
    );
    assert_eq!(
        body(r).await,
        r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"a bearer token of an admin client, or an admin session, is required"}"#
    );
    let r = ApiError::from(AdminError::Unavailable("pool timed out".into())).into_response();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&r, header::RETRY_AFTER), Some("5"));
    let b = body(r).await;
    assert!(!b.contains("pool timed out"), "{b}");
    let r = ApiError::from(AdminError::Stale("changed".into())).into_response();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&r, header::WWW_AUTHENTICATE), None);
    assert_eq!(header(&r, header::RETRY_AFTER), None);
}

#[tokio::test]
async fn registry_errors_challenge_with_the_realm_and_service() {
    let web = crate::http::WebSettings {
        base_url: "http://127.0.0.1:5556/dex".into(),
        base_path: "/dex".into(),
        secure_cookies: false,
        title: "Gantry".into(),
        frontend: Default::default(),
        discovery: std::sync::OnceLock::new(),
        script_csp: String::new(),
    };
    let r = RegistryFailure::new(
        &web,
        "reg\"istry",
        RegistryError::Unauthorized("authentication required".into()),
    )
    .into_response();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&r, header::WWW_AUTHENTICATE),
        Some("Basic realm=\"http://127.0.0.1:5556/dex/registry/token\",service=\"registry\"")
    );
    assert_eq!(
        body(r).await,
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
    );
    let r = RegistryFailure::new(&web, "r", RegistryError::Unavailable("ldap down".into()))
        .into_response();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&r, header::RETRY_AFTER), Some("5"));
    assert_eq!(header(&r, header::WWW_AUTHENTICATE), None);
    assert!(body(r).await.contains("\"UNAVAILABLE\""));
}

#[tokio::test]
async fn authorize_errors_get_their_status_from_what_went_wrong() {
    for (kind, status) in [
        (Refusal::Invalid, StatusCode::BAD_REQUEST),
        (Refusal::OtherBrowser, StatusCode::FORBIDDEN),
        (Refusal::TooMany, StatusCode::TOO_MANY_REQUESTS),
        (Refusal::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
        (Refusal::NotFound, StatusCode::NOT_FOUND),
        (Refusal::NotAllowed, StatusCode::FORBIDDEN),
    ] {
        let r = AuthorizeError::Page {
            kind,
            message: "why".into(),
        }
        .into_response();
        assert_eq!(r.status(), status);
        assert!(body(r).await.contains("why"));
    }
    let r = AuthorizeError::Redirect("https://rp.example/cb?error=access_denied".into())
        .into_response();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, header::LOCATION),
        Some("https://rp.example/cb?error=access_denied")
    );
    let r = AuthorizeError::Internal("secret cause".into()).into_response();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!body(r).await.contains("secret cause"));
}

#[tokio::test]
async fn oauth_and_page_errors_keep_their_headers() {
    let r = OAuthJson(OAuthError::invalid_client()).into_response();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&r, header::WWW_AUTHENTICATE),
        Some("Basic realm=\"gantry\"")
    );
    assert_eq!(header(&r, header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(
        body(r).await,
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#
    );
    let r = PageError::new(StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    assert_eq!(header(&r, header::RETRY_AFTER), Some("60"));
    assert!(
        header(&r, header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn admin_page_errors_send_the_signed_out_to_sign_in() {
    let r = AdminPageError::Admin {
        error: AdminError::NotSignedIn,
        sign_in: "/dex/admin/login".into(),
    }
    .into_response();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, header::LOCATION), Some("/dex/admin/login"));
    let r = AdminPageError::Admin {
        error: AdminError::Forbidden("ann@example.com".into()),
        sign_in: "/dex/admin/login".into(),
    }
    .into_response();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body(r).await.contains("ann@example.com"));
    let r = AdminPageError::forged().into_response();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body(r).await.contains("did not come from this site"));
}
