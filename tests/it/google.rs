//! The `google` connector against a stand-in of Google on 127.0.0.1: its OpenID provider
//! (discovery, JWKS, authorization, and a token endpoint that signs ID tokens with a test RSA
//! key), the OAuth2 JWT-bearer grant of a service account (the assertion's signature, `iss`,
//! `aud`, `sub` and `scope` checked), and the Admin SDK's `groups.list`, whose every answer is
//! checked against Google's published discovery document (tests/api-descriptions/google/).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gantry::keys::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::api_descriptions::Directory;
use crate::microsoft::login_until_page;
use crate::support::*;

const CLIENT: &str = "gantry.apps.googleusercontent.com";
const SECRET: &str = "google-secret";
const SA_EMAIL: &str = "gantry@project.iam.gserviceaccount.com";
const SA_KEY_ID: &str = "key-1";
const SCOPE_READONLY: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";
/// Directory pages of this many groups, so that a list takes several.
const PAGE: usize = 2;

#[derive(Clone)]
struct Account {
    sub: String,
    email: String,
    hd: Option<String>,
}

struct Google {
    base: String,
    id_key: SigningKey,
    sa_key: SigningKey,
    admins: Vec<String>,
    next: Option<Account>,
    codes: HashMap<String, (Account, String)>,
    refresh: HashMap<String, Account>,
    sa_tokens: HashMap<String, String>,
    /// Who is a direct member of which groups (users and groups by email).
    member_of: HashMap<String, Vec<String>>,
    fail: Option<(StatusCode, Option<&'static str>)>,
    authorize: Vec<HashMap<String, String>>,
    assertion_subs: Vec<String>,
    lists: Vec<String>,
    violations: Vec<String>,
}

type S = Arc<Mutex<Google>>;

async fn discovery(State(s): State<S>) -> axum::Json<Value> {
    let b = s.lock().unwrap().base.clone();
    axum::Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/o/oauth2/v2/auth"),
        "token_endpoint": format!("{b}/token"),
        "userinfo_endpoint": format!("{b}/v1/userinfo"),
        "jwks_uri": format!("{b}/oauth2/v3/certs"),
        "response_types_supported": ["code", "token", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["plain", "S256"],
    }))
}

async fn certs(State(s): State<S>) -> axum::Json<Value> {
    axum::Json(json!({"keys": [s.lock().unwrap().id_key.jwk()]}))
}

async fn authorize(State(s): State<S>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut g = s.lock().unwrap();
    let who = g.next.clone().expect("a test account logs in");
    let code = gantry::secret::random_token(12);
    g.codes.insert(
        code.clone(),
        (who, q.get("nonce").cloned().unwrap_or_default()),
    );
    g.authorize.push(q.clone());
    let back = reqwest::Url::parse_with_params(
        &q["redirect_uri"],
        &[("code", code.as_str()), ("state", q["state"].as_str())],
    )
    .unwrap();
    Redirect::to(back.as_str()).into_response()
}

fn oauth_error(code: &str, why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": code, "error_description": why})),
    )
        .into_response()
}

fn id_token(g: &Google, a: &Account, nonce: Option<&str>) -> String {
    let now = gantry::keys::remote::unix_now();
    let mut c = json!({"iss": g.base, "aud": CLIENT, "azp": CLIENT, "sub": a.sub,
        "email": a.email, "email_verified": true, "name": format!("{} Example", a.sub),
        "iat": now, "exp": now + 3600});
    if let Some(hd) = &a.hd {
        c["hd"] = hd.clone().into();
    }
    if let Some(n) = nonce {
        c["nonce"] = n.into();
    }
    g.id_key.sign(&c, "JWT").unwrap()
}

/// Whether the client authenticated with its secret (Basic or in the form).
fn client_ok(h: &HeaderMap, f: &HashMap<String, String>) -> bool {
    let basic = format!(
        "Basic {}",
        base64_std(&format!("{}:{}", form_enc(CLIENT), form_enc(SECRET)))
    );
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(basic.as_str())
        || (f.get("client_id").map(String::as_str) == Some(CLIENT)
            && f.get("client_secret").map(String::as_str) == Some(SECRET))
}

fn base64_std(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn form_enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn token(
    State(s): State<S>,
    h: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut g = s.lock().unwrap();
    match f.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => jwt_bearer(&mut g, &f),
        Some("authorization_code") => {
            if !client_ok(&h, &f) {
                return oauth_error("invalid_client", "Unauthorized");
            }
            let Some((a, nonce)) = g.codes.remove(&f["code"]) else {
                return oauth_error("invalid_grant", "Malformed auth code.");
            };
            let rt = gantry::secret::random_token(16);
            g.refresh.insert(rt.clone(), a.clone());
            axum::Json(json!({"access_token": gantry::secret::random_token(16),
                "expires_in": 3599, "scope": "openid email profile", "token_type": "Bearer",
                "id_token": id_token(&g, &a, Some(&nonce)), "refresh_token": rt}))
            .into_response()
        }
        Some("refresh_token") => {
            if !client_ok(&h, &f) {
                return oauth_error("invalid_client", "Unauthorized");
            }
            let Some(a) = g.refresh.get(&f["refresh_token"]).cloned() else {
                return oauth_error("invalid_grant", "Token has been expired or revoked.");
            };
            // Google keeps the refresh token and sends a new ID token.
            axum::Json(json!({"access_token": gantry::secret::random_token(16),
                "expires_in": 3599, "token_type": "Bearer", "id_token": id_token(&g, &a, None)}))
            .into_response()
        }
        _ => oauth_error("unsupported_grant_type", "Invalid grant_type"),
    }
}

/// RFC 7523: the service account's assertion, checked as Google checks it.
fn jwt_bearer(g: &mut Google, f: &HashMap<String, String>) -> Response {
    let assertion = f.get("assertion").cloned().unwrap_or_default();
    let jwk = g.sa_key.jwk().clone();
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[format!("{}/token", g.base)]);
    v.set_issuer(&[SA_EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let checked = jsonwebtoken::decode_header(&assertion)
        .map_err(|e| e.to_string())
        .and_then(|h| {
            if h.kid.as_deref() == Some(SA_KEY_ID) {
                Ok(())
            } else {
                Err(format!("kid {:?}", h.kid))
            }
        })
        .and_then(|_| {
            jsonwebtoken::decode::<Value>(&assertion, &key, &v).map_err(|e| e.to_string())
        });
    let c = match checked {
        Ok(d) => d.claims,
        Err(e) => {
            g.violations.push(format!("assertion: {e}"));
            return oauth_error("invalid_grant", "Invalid JWT Signature.");
        }
    };
    let sub = c["sub"].as_str().unwrap_or_default().to_string();
    let lifetime = c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0);
    if c["scope"] != SCOPE_READONLY || !(1..=3600).contains(&lifetime) {
        g.violations.push(format!("assertion claims: {c}"));
        return oauth_error(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    if !g.admins.contains(&sub) {
        return oauth_error(
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    g.assertion_subs.push(sub.clone());
    let at = gantry::secret::random_token(16);
    g.sa_tokens.insert(at.clone(), sub);
    axum::Json(json!({"access_token": at, "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}

fn api_error(status: StatusCode, reason: &str, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "message": msg,
            "errors": [{"message": msg, "domain": "global", "reason": reason}]}})),
    )
        .into_response()
}

async fn groups_list(
    State(s): State<S>,
    h: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut g = s.lock().unwrap();
    if let Err(e) = Directory::get().check_list_query(&q) {
        g.violations.push(format!("groups.list query: {e}"));
    }
    let bearer = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !g.sa_tokens.contains_key(bearer) {
        return api_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials");
    }
    if let Some((status, retry)) = g.fail {
        let mut r = if status == StatusCode::TOO_MANY_REQUESTS {
            api_error(
                status,
                "rateLimitExceeded",
                "Quota exceeded for quota metric 'Queries'.",
            )
        } else {
            api_error(
                status,
                "forbidden",
                "Not Authorized to access this resource/api",
            )
        };
        if let Some(secs) = retry {
            r.headers_mut().insert("retry-after", secs.parse().unwrap());
        }
        return r;
    }
    let q: HashMap<String, String> = q.into_iter().collect();
    let key = q.get("userKey").cloned().unwrap_or_default();
    g.lists.push(key.clone());
    let all = g.member_of.get(&key).cloned().unwrap_or_default();
    let from: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("p"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let groups: Vec<Value> = all
        .iter()
        .skip(from)
        .take(PAGE)
        .map(|e| {
            json!({"kind": "admin#directory#group", "id": format!("id-{e}"), "etag": "\"e\"",
                "email": e, "name": e.split('@').next().unwrap(), "directMembersCount": "2",
                "description": "", "adminCreated": true})
        })
        .collect();
    let mut v = json!({"kind": "admin#directory#groups", "etag": "\"list\""});
    if !groups.is_empty() {
        v["groups"] = groups.into();
    }
    if from + PAGE < all.len() {
        v["nextPageToken"] = format!("p{}", from + PAGE).into();
    }
    if let Err(e) = Directory::get().check("Groups", &v) {
        g.violations.push(format!("groups.list answer: {e}"));
    }
    axum::Json(v).into_response()
}

/// The stand-in on a loopback port, its state, and a service-account key file for it.
async fn google(dir: &std::path::Path) -> (String, S, String) {
    let (sa_key, der) = SigningKey::generate(Algorithm::RS256).unwrap();
    let s: S = Arc::new(Mutex::new(Google {
        base: String::new(),
        id_key: SigningKey::generate(Algorithm::RS256).unwrap().0,
        sa_key,
        admins: vec!["admin@example.com".into(), "boss@other.example".into()],
        next: None,
        codes: HashMap::new(),
        refresh: HashMap::new(),
        sa_tokens: HashMap::new(),
        member_of: HashMap::new(),
        fail: None,
        authorize: Vec::new(),
        assertion_subs: Vec::new(),
        lists: Vec::new(),
        violations: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/v3/certs", get(certs))
        .route("/o/oauth2/v2/auth", get(authorize))
        .route("/token", post(token))
        .route("/admin/directory/v1/groups", get(groups_list))
        .with_state(s.clone());
    let port = serve_router(app).await;
    let base = format!("http://127.0.0.1:{port}");
    s.lock().unwrap().base = base.clone();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let key_file = dir.join("sa.json");
    std::fs::write(
        &key_file,
        json!({"type": "service_account", "project_id": "project",
            "private_key_id": SA_KEY_ID, "private_key": pem, "client_email": SA_EMAIL,
            "client_id": "1234", "auth_uri": format!("{base}/o/oauth2/auth"),
            "token_uri": format!("{base}/token")})
        .to_string(),
    )
    .unwrap();
    (base, s, key_file.display().to_string())
}

fn logs_in(s: &S, sub: &str, email: &str, hd: Option<&str>) {
    s.lock().unwrap().next = Some(Account {
        sub: sub.into(),
        email: email.into(),
        hd: hd.map(str::to_string),
    });
}

fn member_of(s: &S, who: &str, groups: &[&str]) {
    s.lock()
        .unwrap()
        .member_of
        .insert(who.into(), groups.iter().map(|g| g.to_string()).collect());
}

async fn gantry(base: &str, key_file: &str, extra: &str) -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: google
    id: google
    name: Google
    config:
      clientID: {CLIENT}
      clientSecret: {SECRET}
      redirectURI: @ISSUER@/callback
      issuer: {base}
      directoryURL: {base}
      serviceAccountFilePath: {key_file}
      domainToAdminEmail:
        "*": admin@example.com
        other.example: boss@other.example
{extra}"#
        ),
        ..Opts::default()
    })
    .await
}

const SCOPE: &str = "openid email profile groups offline_access";

async fn tokens(app: &TestApp) -> Value {
    let b = app.browser();
    let (approval, status, page) = login_until_page(app, &b, "google", SCOPE).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let back = walk(&b, &approval, "", "", |u| u.starts_with(RP_REDIRECT)).await;
    let code = query_param(&back, "code").expect("code");
    let (status, body) = app.exchange(&code, None, RP).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post_token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Some(RP),
    )
    .await
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_login_reads_nested_groups_through_a_cycle_as_each_domains_admin_and_refresh_reads_them_again()
 {
    let dir = tempfile::tempdir().unwrap();
    let (base, g, key) = google(dir.path()).await;
    logs_in(&g, "1001", "ann@example.com", Some("example.com"));
    member_of(
        &g,
        "ann@example.com",
        &["eng@example.com", "all@example.com", "staff@example.com"],
    );
    member_of(&g, "eng@example.com", &["platform@example.com"]);
    // A cycle: platform is in eng, eng in platform; and a group of another domain.
    member_of(
        &g,
        "platform@example.com",
        &["eng@example.com", "infra@other.example"],
    );
    member_of(&g, "infra@other.example", &["platform@example.com"]);
    let app = gantry(
        &base,
        &key,
        "      hostedDomains: [example.com]\n      groups: [eng@example.com, platform@example.com, infra@other.example, admins@example.com]\n      fetchTransitiveGroupMembership: true\n",
    )
    .await;
    let t = tokens(&app).await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["email"], "ann@example.com");
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["name"], "1001 Example");
    assert_eq!(
        set(&c["groups"]),
        set(&json!([
            "eng@example.com",
            "platform@example.com",
            "infra@other.example"
        ])),
        "direct and nested groups, each once, the cycle closed; as in Dex, only the allowed ones"
    );
    {
        let s = g.lock().unwrap();
        let q = &s.authorize[0];
        assert_eq!(q["hd"], "example.com");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["scope"], "openid profile email");
        assert!(!q["nonce"].is_empty());
        assert!(
            s.assertion_subs.iter().any(|a| a == "admin@example.com")
                && s.assertion_subs.iter().any(|a| a == "boss@other.example"),
            "each domain's groups are read as its admin: {:?}",
            s.assertion_subs
        );
        let mut lists = s.lists.clone();
        lists.sort();
        lists.dedup();
        assert_eq!(
            lists.len(),
            6,
            "the user and each of the five groups: {:?}",
            s.lists
        );
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    }

    member_of(&g, "ann@example.com", &["eng@example.com"]);
    member_of(&g, "eng@example.com", &[]);
    let (s, b) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = jwt_claims(b["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        json!(["eng@example.com"]),
        "groups read again on refresh"
    );

    g.lock().unwrap().refresh.clear();
    let (s, e) = refresh(&app, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "Google revoking the token ends the session: {e}"
    );
    assert!(g.lock().unwrap().violations.is_empty());
}

#[tokio::test]
async fn an_account_of_a_hosted_domain_not_allowed_is_refused_with_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let (base, g, key) = google(dir.path()).await;
    let app = gantry(
        &base,
        &key,
        "      hostedDomains: [example.com, example.org]\n",
    )
    .await;
    for hd in [Some("evil.example"), None] {
        logs_in(&g, "2002", "bo@evil.example", hd);
        let (_, status, page) = login_until_page(&app, &app.browser(), "google", SCOPE).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(
            page.contains("is not one of the allowed hosted domains"),
            "{page}"
        );
    }
    assert_eq!(
        g.lock().unwrap().authorize[0]["hd"],
        "*",
        "Dex's hd for several domains"
    );
}

#[tokio::test]
async fn a_user_in_no_allowed_group_is_refused_with_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let (base, g, key) = google(dir.path()).await;
    logs_in(&g, "3003", "cy@example.com", Some("example.com"));
    member_of(&g, "cy@example.com", &["sales@example.com"]);
    let app = gantry(&base, &key, "      groups: [admins@example.com]\n").await;
    // The client does not ask for groups: the configured gate holds all the same.
    let (_, status, page) = login_until_page(&app, &app.browser(), "google", "openid email").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("is not in any of the required groups"),
        "{page}"
    );
}

#[tokio::test]
async fn the_admin_sdk_answering_429_or_403_is_a_clear_login_error_never_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let (base, g, key) = google(dir.path()).await;
    logs_in(&g, "4004", "di@example.com", Some("example.com"));
    let app = gantry(&base, &key, "").await;
    for (status, retry, want_status, want) in [
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("5"),
            StatusCode::SERVICE_UNAVAILABLE,
            "not answering",
        ),
        (
            StatusCode::FORBIDDEN,
            Some("30"),
            StatusCode::SERVICE_UNAVAILABLE,
            "not answering",
        ),
        (
            StatusCode::FORBIDDEN,
            None,
            StatusCode::FORBIDDEN,
            "Not Authorized to access",
        ),
    ] {
        g.lock().unwrap().fail = Some((status, retry));
        let (_, got, page) = login_until_page(&app, &app.browser(), "google", SCOPE).await;
        assert_eq!(got, want_status, "{status} {retry:?}: {page}");
        assert!(page.contains(want), "{status} {retry:?}: {page}");
    }
}

#[tokio::test]
async fn a_service_account_the_admin_does_not_delegate_to_is_a_clear_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (base, g, key) = google(dir.path()).await;
    g.lock().unwrap().admins.clear();
    logs_in(&g, "5005", "ed@example.com", Some("example.com"));
    let app = gantry(&base, &key, "").await;
    let (_, status, page) = login_until_page(&app, &app.browser(), "google", SCOPE).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("may not act as admin@example.com"), "{page}");
    assert!(page.contains("unauthorized_client"), "{page}");
}
