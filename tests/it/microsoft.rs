//! The `microsoft` connector against a stand-in of Microsoft's identity platform and Graph on
//! 127.0.0.1 (the connector's `apiURL` and `graphURL`, as for a sovereign cloud). Every Graph
//! answer of the stand-in, and every body Gantry posts to a Graph action, is checked against
//! Graph's published metadata (tests/api-descriptions/microsoft/).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api_descriptions::Graph;
use crate::support::*;

const SECRET: &str = "ms-secret";
const TENANT: &str = "example.onmicrosoft.com";
/// Graph pages of this many entries, so that every list takes several.
const PAGE: usize = 2;

#[derive(Clone, Default)]
struct User {
    id: String,
    name: String,
    upn: String,
    nickname: String,
    /// (id, display name, security group)
    groups: Vec<(String, String, bool)>,
}

#[derive(Default)]
struct Ms {
    base: String,
    users: HashMap<String, User>,
    /// Who logs in at the next authorize request.
    next: String,
    codes: HashMap<String, (String, String)>,
    access: HashMap<String, String>,
    refresh: HashMap<String, String>,
    /// Graph's answer to every group call instead of the groups: status and Retry-After.
    fail: Option<(StatusCode, Option<&'static str>)>,
    authorize: Vec<HashMap<String, String>>,
    grants: Vec<String>,
    member_groups_bodies: Vec<Value>,
    lookups: usize,
    violations: Vec<String>,
}

type S = Arc<Mutex<Ms>>;

fn check(s: &S, what: &str, r: Result<(), String>) {
    if let Err(e) = r {
        s.lock().unwrap().violations.push(format!("{what}: {e}"));
    }
}

async fn authorize(
    State(s): State<S>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut m = s.lock().unwrap();
    assert_eq!(tenant, TENANT, "the tenant's endpoint");
    let code = gantry::secret::random_token(12);
    let who = m.next.clone();
    m.codes.insert(
        code.clone(),
        (who, q.get("code_challenge").cloned().unwrap_or_default()),
    );
    m.authorize.push(q.clone());
    let back = reqwest::Url::parse_with_params(
        &q["redirect_uri"],
        &[("code", code.as_str()), ("state", q["state"].as_str())],
    )
    .unwrap();
    Redirect::to(back.as_str()).into_response()
}

async fn token(State(s): State<S>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut m = s.lock().unwrap();
    if f.get("client_id").map(String::as_str) != Some("app")
        || f.get("client_secret").map(String::as_str) != Some(SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    m.grants.push(grant.clone());
    let login = match grant.as_str() {
        "authorization_code" => {
            let Some((login, challenge)) = m.codes.remove(&f["code"]) else {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "invalid_grant"})),
                )
                    .into_response();
            };
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let sent = gantry::secret::b64(&gantry::secret::sha256(verifier.as_bytes()));
            assert_eq!(sent, challenge, "PKCE verifier matches the challenge");
            login
        }
        "refresh_token" => match m.refresh.remove(&f["refresh_token"]) {
            Some(l) => l,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "invalid_grant",
                    "error_description": "AADSTS70008: the refresh token has expired"})),
                )
                    .into_response();
            }
        },
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    let at = gantry::secret::random_token(16);
    let rt = gantry::secret::random_token(16);
    m.access.insert(at.clone(), login.clone());
    m.refresh.insert(rt.clone(), login);
    axum::Json(
        json!({"token_type": "Bearer", "scope": "User.Read", "expires_in": 3600,
        "access_token": at, "refresh_token": rt}),
    )
    .into_response()
}

fn graph_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": msg}})),
    )
        .into_response()
}

/// The user the bearer token belongs to, or Graph's refusal.
fn who(m: &Ms, h: &HeaderMap) -> Result<User, Box<Response>> {
    let t = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    m.access
        .get(t)
        .and_then(|l| m.users.get(l))
        .cloned()
        .ok_or_else(|| {
            Box::new(graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.",
            ))
        })
}

async fn me(
    State(s): State<S>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let u = {
        let m = s.lock().unwrap();
        match who(&m, &h) {
            Ok(u) => u,
            Err(r) => return *r,
        }
    };
    assert_eq!(
        q.get("$select").map(String::as_str),
        Some("id,displayName,userPrincipalName,mailNickname,onPremisesSamAccountName"),
        "Dex's $select"
    );
    let v = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName,mailNickname,onPremisesSamAccountName)/$entity",
        "id": u.id, "displayName": u.name, "userPrincipalName": u.upn,
        "mailNickname": u.nickname, "onPremisesSamAccountName": null});
    check(&s, "GET /me", Graph::get().check_entity("user", &v, "$"));
    axum::Json(v).into_response()
}

/// One page of `items` at `skip`, with the next link to `path` while there is more.
fn page(base: &str, path: &str, items: Vec<Value>, skip: usize) -> Value {
    let mut v = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
        "value": items.iter().skip(skip).take(PAGE).cloned().collect::<Vec<_>>()});
    if skip + PAGE < items.len() {
        v["@odata.nextLink"] = format!("{base}{path}?$skiptoken={}", skip + PAGE).into();
    }
    v
}

fn skip(q: &HashMap<String, String>) -> usize {
    q.get("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn failing(m: &Ms) -> Option<Response> {
    let (status, retry) = m.fail?;
    let mut r = graph_error(
        status,
        if status == StatusCode::TOO_MANY_REQUESTS {
            "TooManyRequests"
        } else {
            "Authorization_RequestDenied"
        },
        "Insufficient privileges to complete the operation.",
    );
    if let Some(secs) = retry {
        r.headers_mut().insert("retry-after", secs.parse().unwrap());
    }
    Some(r)
}

async fn member_groups(
    State(s): State<S>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    check(
        &s,
        "POST getMemberGroups",
        Graph::get().check_action_request("getMemberGroups", &body),
    );
    let (u, base) = {
        let mut m = s.lock().unwrap();
        if let Some(r) = failing(&m) {
            return r;
        }
        m.member_groups_bodies.push(body.clone());
        match who(&m, &h) {
            Ok(u) => (u, m.base.clone()),
            Err(r) => return *r,
        }
    };
    let security_only = body["securityEnabledOnly"] == true;
    let ids: Vec<Value> = u
        .groups
        .iter()
        .filter(|(_, _, sec)| *sec || !security_only)
        .map(|(id, _, _)| json!(id))
        .collect();
    let v = page(&base, "/v1.0/me/getMemberGroups", ids, skip(&q));
    check(
        &s,
        "getMemberGroups answer",
        Graph::get().check_action_answer("getMemberGroups", &v),
    );
    axum::Json(v).into_response()
}

async fn get_by_ids(
    State(s): State<S>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    check(
        &s,
        "POST getByIds",
        Graph::get().check_action_request("getByIds", &body),
    );
    assert_eq!(body["types"], json!(["group"]), "Dex asks for groups only");
    let (u, base) = {
        let mut m = s.lock().unwrap();
        if let Some(r) = failing(&m) {
            return r;
        }
        m.lookups += 1;
        match who(&m, &h) {
            Ok(u) => (u, m.base.clone()),
            Err(r) => return *r,
        }
    };
    let asked: Vec<&str> = body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let found: Vec<Value> = asked
        .iter()
        .filter_map(|id| u.groups.iter().find(|(g, _, _)| g == id))
        .map(|(id, name, sec)| {
            json!({"@odata.type": "#microsoft.graph.group", "id": id, "displayName": name,
                   "securityEnabled": sec, "mailEnabled": !sec})
        })
        .collect();
    let v = page(&base, "/v1.0/directoryObjects/getByIds", found, skip(&q));
    check(
        &s,
        "getByIds answer",
        Graph::get().check_action_answer("getByIds", &v),
    );
    axum::Json(v).into_response()
}

/// The stand-in on a loopback port, and its state.
async fn microsoft() -> (String, S) {
    let s: S = Arc::new(Mutex::new(Ms::default()));
    let app = axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/getMemberGroups", post(member_groups))
        .route("/v1.0/directoryObjects/getByIds", post(get_by_ids))
        .with_state(s.clone());
    let port = serve_router(app).await;
    let base = format!("http://127.0.0.1:{port}");
    s.lock().unwrap().base = base.clone();
    (base, s)
}

fn add_user(s: &S, login: &str, groups: &[(&str, &str, bool)]) {
    let mut m = s.lock().unwrap();
    m.users.insert(
        login.into(),
        User {
            id: format!("id-{login}"),
            name: format!("{login} Example"),
            upn: format!("{}@Example.COM", login.to_uppercase()),
            nickname: login.into(),
            groups: groups
                .iter()
                .map(|(i, n, s)| (i.to_string(), n.to_string(), *s))
                .collect(),
        },
    );
    m.next = login.into();
}

async fn gantry(base: &str, extra: &str) -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: format!(
            r#"connectors:
  - type: microsoft
    id: microsoft
    name: Microsoft
    config:
      clientID: app
      clientSecret: {SECRET}
      redirectURI: @ISSUER@/callback
      tenant: {TENANT}
      apiURL: {base}
      graphURL: {base}/
{extra}"#
        ),
        ..Opts::default()
    })
    .await
}

const SCOPE: &str = "openid email profile groups offline_access";

/// Follow the browser from the client's authorization request through Microsoft and back,
/// until a page that is no redirect or the approval page; (URL, status, body).
pub(crate) async fn login_until_page(
    app: &TestApp,
    b: &reqwest::Client,
    connector: &str,
    scope: &str,
) -> (String, StatusCode, String) {
    let mut url = rp_auth_url(app, connector, scope, &[("state", "st"), ("nonce", "nn")]);
    for _ in 0..10 {
        let r = b.get(&url).send().await.unwrap();
        if !r.status().is_redirection() {
            let status = r.status();
            return (url, status, r.text().await.unwrap());
        }
        url = reqwest::Url::parse(&url)
            .unwrap()
            .join(location(&r))
            .unwrap()
            .to_string();
        if url.starts_with(&app.url("/approval")) {
            return (url, StatusCode::SEE_OTHER, String::new());
        }
    }
    panic!("too many redirects, last {url}");
}

/// Log in with the `rp` client and approve; the tokens.
async fn tokens(app: &TestApp) -> Value {
    let b = app.browser();
    let (approval, status, page) = login_until_page(app, &b, "microsoft", SCOPE).await;
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

#[tokio::test]
async fn a_login_reads_the_user_and_every_page_of_groups_from_graph_and_refresh_reads_them_again() {
    let (base, ms) = microsoft().await;
    let groups = [
        ("g1", "developers", true),
        ("g2", "ops", true),
        ("g3", "all-staff", false),
        ("g4", "release", true),
        ("g5", "oncall", true),
    ];
    add_user(&ms, "ann", &groups);
    let app = gantry(
        &base,
        "      groups: [developers, admins]\n      emailToLowercase: true\n      preferredUsernameField: mailNickname\n      domainHint: example.com\n      promptType: select_account\n",
    )
    .await;
    // Approval is not skipped: the approval page follows the login.
    let t = tokens(&app).await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["email"], "ann@example.com", "emailToLowercase");
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["name"], "ann Example");
    assert_eq!(c["preferred_username"], "ann", "preferredUsernameField");
    assert_eq!(
        c["groups"],
        json!(["developers", "ops", "all-staff", "release", "oncall"]),
        "every group over three pages of ids and three of names, not only the allowed ones"
    );
    {
        let m = ms.lock().unwrap();
        let q = &m.authorize[0];
        assert_eq!(q["scope"], "user.read directory.read.all offline_access");
        assert_eq!(q["domain_hint"], "example.com");
        assert_eq!(q["prompt"], "select_account");
        assert_eq!(q["client_id"], "app");
        assert_eq!(
            m.member_groups_bodies[0],
            json!({"securityEnabledOnly": false})
        );
        assert_eq!(
            m.lookups, 3,
            "one getByIds call, followed over its three pages"
        );
        assert!(m.violations.is_empty(), "{:?}", m.violations);
    }

    // Groups change at Microsoft; the access token runs out: refresh takes a new one and
    // reads the groups again.
    ms.lock()
        .unwrap()
        .users
        .get_mut("ann")
        .unwrap()
        .groups
        .truncate(1);
    app.clock.advance(3700);
    let (s, b) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = jwt_claims(b["id_token"].as_str().unwrap());
    assert_eq!(c["groups"], json!(["developers"]));
    assert_eq!(
        ms.lock().unwrap().grants,
        ["authorization_code", "refresh_token"]
    );

    // Out of the allowed groups now: the refresh ends the session.
    ms.lock().unwrap().users.get_mut("ann").unwrap().groups =
        vec![("g9".into(), "sales".into(), true)];
    let (s, e) = refresh(&app, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{e}"
    );
    assert!(ms.lock().unwrap().violations.is_empty());
}

#[tokio::test]
async fn microsoft_refusing_the_refresh_token_ends_the_session() {
    let (base, ms) = microsoft().await;
    add_user(&ms, "bo", &[("g1", "developers", true)]);
    let app = gantry(&base, "").await;
    let t = tokens(&app).await;
    // Within the access token's life, refresh asks Graph with it; no token call.
    let (s, b) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(ms.lock().unwrap().grants, ["authorization_code"]);
    ms.lock().unwrap().refresh.clear();
    app.clock.advance(3700);
    let (s, e) = refresh(&app, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{e}"
    );
}

#[tokio::test]
async fn a_user_in_none_of_the_allowed_groups_is_refused_with_a_page_that_says_so() {
    let (base, ms) = microsoft().await;
    add_user(
        &ms,
        "cy",
        &[("g7", "sales", true), ("g8", "marketing", false)],
    );
    let app = gantry(&base, "      groups: [developers]\n").await;
    let (_, status, page) =
        login_until_page(&app, &app.browser(), "microsoft", "openid email").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("is not in any of the required groups"),
        "{page}"
    );
}

#[tokio::test]
async fn ids_security_groups_and_the_whitelist_are_dexs() {
    let (base, ms) = microsoft().await;
    add_user(
        &ms,
        "di",
        &[
            ("g1", "developers", true),
            ("g2", "mail-list", false),
            ("g3", "ops", true),
        ],
    );
    let app = gantry(
        &base,
        "      groups: [g3, g2]\n      groupNameFormat: id\n      onlySecurityGroups: true\n      useGroupsAsWhitelist: true\n",
    )
    .await;
    let t = tokens(&app).await;
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        json!(["g3"]),
        "ids, security groups only, and only the listed ones"
    );
    let m = ms.lock().unwrap();
    assert_eq!(
        m.member_groups_bodies[0],
        json!({"securityEnabledOnly": true})
    );
    assert_eq!(m.lookups, 0, "ids are not resolved to names");
    assert!(m.violations.is_empty(), "{:?}", m.violations);
}

#[tokio::test]
async fn graph_answering_429_or_403_is_a_clear_login_error_never_a_500() {
    let (base, ms) = microsoft().await;
    add_user(&ms, "ed", &[("g1", "developers", true)]);
    let app = gantry(&base, "").await;
    for (status, retry, want_status, want) in [
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("7"),
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
            "Insufficient privileges",
        ),
    ] {
        ms.lock().unwrap().fail = Some((status, retry));
        let (_, got, page) = login_until_page(&app, &app.browser(), "microsoft", SCOPE).await;
        assert_eq!(got, want_status, "{status} {retry:?}: {page}");
        assert!(page.contains(want), "{status} {retry:?}: {page}");
    }
}
