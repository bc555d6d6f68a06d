//! The `gitlab` connector against a stand-in GitLab on 127.0.0.1: its OAuth pages and token
//! endpoint (refresh tokens rotate, as GitLab's do), `/api/v4/user`, the OpenID userinfo with
//! its groups and role claims, and the groups API of `inheritedGroups`.
//!
//! The answers follow GitLab's documentation ("Users API: get the current user", "Groups API",
//! "GitLab as an OpenID Connect provider"). GitLab's machine-readable OpenAPI description
//! (doc/api/openapi/openapi_v2.yaml) was not vendored, and /oauth/userinfo is not in it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::forge::{self, browser, log_in, refresh};
use crate::support::*;

const CLIENT_ID: &str = "gantry-gl";
const CLIENT_SECRET: &str = "gl-secret";

#[derive(Clone, Default)]
struct Account {
    id: i64,
    username: String,
    name: String,
    email: String,
    /// Direct groups (userinfo's `groups`).
    groups: Vec<String>,
    owner: Vec<String>,
    maintainer: Vec<String>,
    developer: Vec<String>,
    /// Groups of the groups API: (id, full_path, access level), inherited ones too.
    all_groups: Vec<(i64, String, i64)>,
}

#[derive(Default)]
struct Lab {
    base: String,
    accounts: HashMap<String, Account>,
    next_login: String,
    codes: HashMap<String, String>,
    tokens: HashMap<String, String>,
    refresh_tokens: HashMap<String, String>,
    scopes_asked: Vec<String>,
    calls: Vec<String>,
}

#[derive(Clone)]
struct StandIn {
    lab: Arc<Mutex<Lab>>,
    base: String,
}

impl StandIn {
    async fn start() -> StandIn {
        let lab = Arc::new(Mutex::new(Lab::default()));
        let router = axum::Router::new()
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(token))
            .route("/oauth/userinfo", get(userinfo))
            .route("/api/v4/user", get(user))
            .route("/api/v4/groups", get(groups))
            .route("/api/v4/groups/{id}/members/all/{uid}", get(member))
            .with_state(lab.clone());
        let port = serve_router(router).await;
        let base = format!("http://127.0.0.1:{port}");
        lab.lock().unwrap().base = base.clone();
        StandIn { lab, base }
    }

    fn add(&self, a: Account) {
        self.lab
            .lock()
            .unwrap()
            .accounts
            .insert(a.username.clone(), a);
    }

    fn edit(&self, username: &str, f: impl FnOnce(&mut Account)) {
        f(self.lab.lock().unwrap().accounts.get_mut(username).unwrap());
    }

    fn next_login(&self, username: &str) {
        self.lab.lock().unwrap().next_login = username.into();
    }

    fn scopes_asked(&self) -> Vec<String> {
        self.lab.lock().unwrap().scopes_asked.clone()
    }

    fn calls(&self) -> Vec<String> {
        self.lab.lock().unwrap().calls.clone()
    }

    fn live_refresh_tokens(&self) -> usize {
        self.lab.lock().unwrap().refresh_tokens.len()
    }

    fn connector(&self, id: &str, extra: &str) -> String {
        format!(
            "  - type: gitlab\n    id: {id}\n    name: GitLab\n    config:\n      baseURL: {}\n      \
             clientID: {CLIENT_ID}\n      clientSecret: {CLIENT_SECRET}\n      \
             redirectURI: @ISSUER@/callback\n{extra}",
            self.base
        )
    }
}

async fn authorize(State(lab): State<Arc<Mutex<Lab>>>, uri: Uri) -> Response {
    let q = forge::query(&uri);
    let mut l = lab.lock().unwrap();
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return (StatusCode::BAD_REQUEST, "invalid request").into_response();
    }
    l.scopes_asked
        .push(q.get("scope").cloned().unwrap_or_default());
    let code = gantry::secret::random_token(10);
    let who = l.next_login.clone();
    l.codes.insert(code.clone(), who);
    let back = reqwest::Url::parse_with_params(
        q.get("redirect_uri")
            .map(String::as_str)
            .unwrap_or_default(),
        &[("code", code.as_str()), ("state", q["state"].as_str())],
    )
    .unwrap();
    Redirect::to(back.as_str()).into_response()
}

/// GitLab's token endpoint (Doorkeeper): client credentials by Basic, refresh tokens rotate.
async fn token(
    State(lab): State<Arc<Mutex<Lab>>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut l = lab.lock().unwrap();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .map(|b| String::from_utf8_lossy(&b).to_string());
    if basic.as_deref() != Some(&format!("{CLIENT_ID}:{CLIENT_SECRET}")) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client",
                "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})),
        )
            .into_response();
    }
    let who = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => f.get("code").and_then(|c| l.codes.remove(c)),
        Some("refresh_token") => f
            .get("refresh_token")
            .and_then(|r| l.refresh_tokens.remove(r)),
        _ => None,
    };
    let Some(who) = who else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant",
                "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."})),
        )
            .into_response();
    };
    let access = gantry::secret::random_token(16);
    let rt = gantry::secret::random_token(16);
    l.tokens.insert(access.clone(), who.clone());
    l.refresh_tokens.insert(rt.clone(), who);
    axum::Json(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": 7200,
        "refresh_token": rt, "scope": "read_user openid", "created_at": 1_700_000_000}),
    )
    .into_response()
}

/// The account a bearer token belongs to, recording the call.
fn caller(l: &mut Lab, headers: &HeaderMap, uri: &Uri) -> Option<Account> {
    l.calls.push(format!(
        "GET {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
    ));
    let t = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let who = l.tokens.get(t)?;
    l.accounts.get(who).cloned()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"message": "401 Unauthorized"})),
    )
        .into_response()
}

async fn user(State(lab): State<Arc<Mutex<Lab>>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut l = lab.lock().unwrap();
    let Some(a) = caller(&mut l, &headers, &uri) else {
        return unauthorized();
    };
    let base = &l.base;
    axum::Json(json!({
        "id": a.id, "username": a.username, "name": a.name, "state": "active",
        "locked": false, "avatar_url": format!("{base}/uploads/{}.png", a.id),
        "web_url": format!("{base}/{}", a.username), "created_at": "2020-01-01T00:00:00.000Z",
        "bio": "", "public_email": null, "email": a.email, "is_admin": false,
        "two_factor_enabled": true, "external": false, "private_profile": false,
    }))
    .into_response()
}

async fn userinfo(State(lab): State<Arc<Mutex<Lab>>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut l = lab.lock().unwrap();
    let Some(a) = caller(&mut l, &headers, &uri) else {
        return unauthorized();
    };
    axum::Json(json!({
        "sub": a.id.to_string(), "sub_legacy": "", "name": a.name, "nickname": a.username,
        "preferred_username": a.username, "email": a.email, "email_verified": true,
        "website": "", "profile": format!("{}/{}", l.base, a.username), "picture": "",
        "groups": a.groups,
        "https://gitlab.org/claims/groups/owner": a.owner,
        "https://gitlab.org/claims/groups/maintainer": a.maintainer,
        "https://gitlab.org/claims/groups/developer": a.developer,
    }))
    .into_response()
}

async fn groups(State(lab): State<Arc<Mutex<Lab>>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut l = lab.lock().unwrap();
    let Some(a) = caller(&mut l, &headers, &uri) else {
        return unauthorized();
    };
    let items: Vec<Value> = a
        .all_groups
        .iter()
        .map(|(id, full, _)| {
            let path = full.rsplit('/').next().unwrap_or_default();
            json!({"id": id, "name": path, "path": path, "full_name": full, "full_path": full,
                "visibility": "private", "web_url": format!("{}/groups/{full}", l.base)})
        })
        .collect();
    let (chunk, link) = forge::page(&l.base, "/api/v4/groups", &forge::query(&uri), &items, 2);
    let mut r = axum::Json(chunk).into_response();
    if let Some(link) = link {
        r.headers_mut().insert("link", link.parse().unwrap());
    }
    r
}

async fn member(
    State(lab): State<Arc<Mutex<Lab>>>,
    headers: HeaderMap,
    uri: Uri,
    Path((id, uid)): Path<(i64, i64)>,
) -> Response {
    let mut l = lab.lock().unwrap();
    let Some(a) = caller(&mut l, &headers, &uri) else {
        return unauthorized();
    };
    match a.all_groups.iter().find(|g| g.0 == id) {
        Some((_, _, level)) if uid == a.id => axum::Json(json!({
            "id": a.id, "username": a.username, "name": a.name, "state": "active",
            "access_level": level, "membership_state": "active",
        }))
        .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "404 Not found"})),
        )
            .into_response(),
    }
}

fn bo(id: i64) -> Account {
    Account {
        id,
        username: format!("bo{id}"),
        name: "Bo Chen".into(),
        email: format!("bo{id}@example.org"),
        groups: vec!["dev".into(), "dev/api".into(), "marketing".into()],
        owner: vec![],
        maintainer: vec!["dev".into()],
        developer: vec!["marketing".into()],
        all_groups: vec![],
    }
}

async fn app_with(connectors: &str) -> TestApp {
    TestApp::start_with(Opts {
        extra_yaml: format!("connectors:\n{connectors}"),
        ..Opts::default()
    })
    .await
}

const SCOPES: &str = "openid email profile groups offline_access";

#[tokio::test]
async fn a_gitlab_login_keeps_the_allowed_groups_and_a_refresh_refuses_a_user_who_left_them() {
    let gl = StandIn::start().await;
    gl.add(bo(11));
    gl.next_login("bo11");
    let app = app_with(&gl.connector("gl", "      groups: [dev, ops]\n")).await;
    let t = log_in(&app, &browser(None), "gl", SCOPES).await.unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    let sub = gantry::identity::Identity {
        user_id: "11".into(),
        connector_id: "gl".into(),
        ..Default::default()
    }
    .subject();
    assert_eq!(c["sub"], sub.as_str(), "GitLab's numeric id is the user id");
    assert_eq!(c["name"], "Bo Chen");
    assert_eq!(c["preferred_username"], "bo11");
    assert_eq!(c["email"], "bo11@example.org");
    assert_eq!(c["email_verified"], true);
    assert_eq!(
        c["groups"],
        json!(["dev"]),
        "only the configured groups are kept"
    );
    assert_eq!(gl.scopes_asked(), ["read_user openid"]);

    // A refresh spends GitLab's refresh token (it rotates) and asks for the groups again.
    let (status, r) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        gl.live_refresh_tokens(),
        1,
        "the first one was spent, its successor kept"
    );
    let (status, r) = refresh(&app, r["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    gl.edit("bo11", |a| {
        a.groups = vec!["marketing".into()];
    });
    let (status, r) = refresh(&app, r["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert_eq!(r["error"], "invalid_grant");
}

#[tokio::test]
async fn a_gitlab_user_in_none_of_the_groups_is_refused_with_a_page_that_says_so() {
    let gl = StandIn::start().await;
    gl.add(bo(21));
    gl.next_login("bo21");
    let app = app_with(&gl.connector("gl", "      groups: [ops, security]\n")).await;
    let (status, page) = log_in(&app, &browser(None), "gl", "openid email")
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("user &#34;bo21&#34; is not in any of the required groups"),
        "{page}"
    );
    assert_eq!(
        gl.scopes_asked(),
        ["read_user openid"],
        "with a groups filter, groups are read even when the client does not ask"
    );
}

#[tokio::test]
async fn gitlab_group_roles_and_the_login_as_id_follow_dex() {
    let gl = StandIn::start().await;
    gl.add(bo(31));
    let app = app_with(
        &[
            gl.connector(
                "roles",
                "      getGroupsPermission: true\n      useLoginAsID: true\n",
            ),
            gl.connector("plain", ""),
        ]
        .concat(),
    )
    .await;
    gl.next_login("bo31");
    let t = log_in(&app, &browser(None), "roles", SCOPES).await.unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    let sub = gantry::identity::Identity {
        user_id: "bo31".into(),
        connector_id: "roles".into(),
        ..Default::default()
    }
    .subject();
    assert_eq!(
        c["sub"],
        sub.as_str(),
        "useLoginAsID: the username is the user id"
    );
    assert_eq!(
        c["groups"],
        json!([
            "dev",
            "dev/api",
            "marketing",
            "dev:maintainer",
            "dev/api:maintainer",
            "marketing:developer"
        ]),
        "a role in a group holds in its subgroups"
    );

    // Without a filter and without the groups scope, GitLab is not asked for groups at all.
    gl.next_login("bo31");
    let before = gl.calls().len();
    let t = log_in(&app, &browser(None), "plain", "openid email profile")
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert!(c.get("groups").is_none(), "{c}");
    assert_eq!(gl.scopes_asked().last().unwrap(), "read_user");
    assert_eq!(gl.calls()[before..], ["GET /api/v4/user"]);
}

#[tokio::test]
async fn the_admin_test_of_a_gitlab_connector_checks_its_client_at_the_token_endpoint() {
    use gantry::connector::probe::Outcome;
    let gl = StandIn::start().await;
    let wrong = gl
        .connector("wrong", "")
        .replace(CLIENT_SECRET, "not-the-secret");
    let app = app_with(&[gl.connector("gl", ""), wrong].concat()).await;
    for (id, want) in [("gl", Outcome::Ok), ("wrong", Outcome::ClientRefused)] {
        let p = app.provider.connector(id).unwrap().probe(0).await;
        assert_eq!(p.outcome, want, "{id}: {p:?}");
    }
}

#[tokio::test]
async fn inherited_gitlab_groups_come_page_by_page_from_the_groups_api_with_effective_roles() {
    let gl = StandIn::start().await;
    let mut a = bo(41);
    a.all_groups = vec![
        (1, "dev".into(), 40),
        (2, "dev/api".into(), 40),
        (3, "platform".into(), 50),
        (4, "platform/infra".into(), 10),
        (5, "guests".into(), 7),
    ];
    a.groups = vec!["dev".into(), "platform".into()];
    a.owner = vec![];
    a.maintainer = vec!["dev".into()];
    a.developer = vec![];
    gl.add(a);
    gl.next_login("bo41");
    let app = app_with(&gl.connector(
        "gl",
        "      inheritedGroups: true\n      getGroupsPermission: true\n",
    ))
    .await;
    let t = log_in(&app, &browser(None), "gl", SCOPES).await.unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        json!([
            "dev",
            "dev/api",
            "platform",
            "platform/infra",
            "guests",
            "dev:maintainer",
            "dev/api:maintainer",
            "platform:owner",
            "platform/infra:guest"
        ]),
        "every page of the groups API; roles from userinfo, else from the members API \
         (an access level GitLab does not name gives none)"
    );
    assert_eq!(gl.scopes_asked(), ["read_user openid read_api"]);
    let calls = gl.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.contains("/api/v4/groups?") && c.contains("page=3")),
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("/groups/1/members")),
        "no members call where userinfo gave the role: {calls:#?}"
    );
}
