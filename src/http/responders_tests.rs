//! What each response family answers, and what each request family's extractor refuses with:
//! status, headers and body, as clients see them.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

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

/// The app on a fresh SQLite file, with a budget of one request a minute per address.
async fn app(dir: &std::path::Path) -> crate::app::App {
    let yaml = format!(
        "issuer: http://127.0.0.1:5556/dex\nstorage:\n  type: sqlite3\n  config:\n    file: \
         {}/gantry.db\nweb:\n  http: 127.0.0.1:5556\nenablePasswordDB: true\nrateLimits:\n  \
         perAddress: {{ perMinute: 1, burst: 1 }}\n",
        dir.display()
    );
    let cfg = crate::config::Config::parse(&yaml).unwrap();
    crate::app::build(&cfg, std::sync::Arc::new(crate::clock::SystemClock))
        .await
        .unwrap()
}

fn request(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

async fn send(app: &crate::app::App, req: Request<Body>) -> Response {
    let mut req = req;
    req.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 7],
            4000,
        ))));
    app.router.clone().oneshot(req).await.unwrap()
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
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let s = crate::http::AppState {
        provider: app.provider.clone(),
        admin: app.admin.clone(),
        registry: app.registry.clone(),
        web: std::sync::Arc::new(crate::http::WebSettings {
            base_url: "http://127.0.0.1:5556/dex".into(),
            base_path: "/dex".into(),
            secure_cookies: false,
            title: "Gantry".into(),
            logo_url: None,
            discovery: std::sync::OnceLock::new(),
        }),
    };
    let r = RegistryFailure::new(
        &s,
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
    let r = RegistryFailure::new(&s, "r", RegistryError::Unavailable("ldap down".into()))
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

#[tokio::test]
async fn extractors_refuse_in_their_familys_format() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;

    // An admin page without a session: to the sign-in.
    let r = send(
        &app,
        request("GET", "/dex/admin/users")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, header::LOCATION), Some("/dex/admin/login"));

    // An admin form that is no form: a 400 page, before the session is looked at.
    let r = send(
        &app,
        request("POST", "/dex/admin/users")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        header(&r, header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/html")
    );
    // A form with a forged session: to the sign-in.
    let r = send(
        &app,
        request("POST", "/dex/admin/users")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, "gantry_admin=forged")
            .body(Body::from("csrf=x"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The admin API without credentials: a 401 problem document.
    let r = send(
        &app,
        request("GET", "/dex/api/v1/users")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&r, header::CONTENT_TYPE),
        Some("application/problem+json")
    );

    // The registry endpoint over its budget: 429 in the registry's format, then in OAuth's.
    let get = || {
        request("GET", "/dex/registry/token?service=x")
            .body(Body::empty())
            .unwrap()
    };
    let first = send(&app, get()).await;
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = send(&app, get()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&r, header::RETRY_AFTER).is_some());
    assert!(body(r).await.contains("\"TOOMANYREQUESTS\""));
    let r = send(
        &app,
        request("POST", "/dex/registry/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("grant_type=password"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(body(r).await.contains("\"temporarily_unavailable\""));

    // The password form over the login budget: an HTML page.
    let login = || {
        request("POST", "/dex/auth/local")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("req=x"))
            .unwrap()
    };
    let first = send(&app, login()).await;
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = send(&app, login()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        header(&r, header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/html")
    );
}
