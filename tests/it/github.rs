//! The `github` connector against a stand-in GitHub Enterprise Server on 127.0.0.1 over TLS
//! with a CA of its own (`hostName` + `rootCA`): its login pages, token endpoint and the REST
//! API calls Dex makes. Every JSON answer of the stand-in is checked against GitHub's published
//! OpenAPI description (tests/api-descriptions/github/), so the stand-in cannot drift into
//! answering what GitHub does not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::forge::{self, browser, log_in, refresh};
use crate::openapi::Description;
use crate::support::*;

const CLIENT_ID: &str = "gantry-gh";
const CLIENT_SECRET: &str = "gh-secret";
/// Teams and orgs per page at most: small, so that every list here takes several pages.
const MAX_PAGE: usize = 2;

/// A GitHub account as the stand-in keeps it.
#[derive(Clone, Default)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub public_email: Option<String>,
    /// (address, verified, primary)
    pub emails: Vec<(String, bool, bool)>,
    pub orgs: Vec<String>,
    /// (org, name, slug)
    pub teams: Vec<(String, String, String)>,
}

#[derive(Default)]
struct Hub {
    base: String,
    accounts: HashMap<String, Account>,
    next_login: String,
    codes: HashMap<String, String>,
    tokens: HashMap<String, String>,
    rate_limited: bool,
    scopes_asked: Vec<String>,
    /// Method, path and query of every API call, with its API version header.
    calls: Vec<String>,
    /// Answers that do not conform to GitHub's description (must stay empty).
    nonconforming: Vec<String>,
}

#[derive(Clone)]
pub struct StandIn {
    hub: Arc<Mutex<Hub>>,
    pub port: u16,
    pub ca: String,
    ca_file: Arc<tempfile::NamedTempFile>,
}

impl StandIn {
    pub async fn start() -> StandIn {
        let hub = Arc::new(Mutex::new(Hub::default()));
        let api = axum::Router::new()
            .route("/user", get(user))
            .route("/user/emails", get(emails))
            .route("/user/orgs", get(orgs))
            .route("/user/teams", get(teams))
            .route("/orgs/{org}/members/{login}", get(membership))
            .layer(axum::middleware::from_fn_with_state(hub.clone(), api_gate));
        let router = axum::Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .nest("/api/v3", api)
            .with_state(hub.clone());
        let (port, ca) = forge::serve_tls(router).await;
        hub.lock().unwrap().base = format!("https://127.0.0.1:{port}");
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), &ca).unwrap();
        StandIn {
            hub,
            port,
            ca,
            ca_file: Arc::new(ca_file),
        }
    }

    pub fn add(&self, a: Account) {
        self.hub.lock().unwrap().accounts.insert(a.login.clone(), a);
    }

    pub fn edit(&self, login: &str, f: impl FnOnce(&mut Account)) {
        f(self.hub.lock().unwrap().accounts.get_mut(login).unwrap());
    }

    /// The account the next visit to the login page signs in.
    pub fn next_login(&self, login: &str) {
        self.hub.lock().unwrap().next_login = login.into();
    }

    pub fn rate_limit(&self, on: bool) {
        self.hub.lock().unwrap().rate_limited = on;
    }

    pub fn scopes_asked(&self) -> Vec<String> {
        self.hub.lock().unwrap().scopes_asked.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.hub.lock().unwrap().calls.clone()
    }

    /// A `github` connector entry for this server, with `extra` config lines.
    pub fn connector(&self, id: &str, extra: &str) -> String {
        format!(
            "  - type: github\n    id: {id}\n    name: GitHub Enterprise\n    config:\n      \
             clientID: {CLIENT_ID}\n      clientSecret: {CLIENT_SECRET}\n      \
             redirectURI: @ISSUER@/callback\n      hostName: 127.0.0.1:{}\n      rootCA: {}\n{extra}",
            self.port,
            self.ca_file.path().display()
        )
    }

    /// Every answer given so far conformed to GitHub's OpenAPI description.
    pub fn assert_answers_conform(&self) {
        let h = self.hub.lock().unwrap();
        assert!(h.nonconforming.is_empty(), "{:#?}", h.nonconforming);
    }
}

async fn authorize(State(hub): State<Arc<Mutex<Hub>>>, uri: Uri) -> Response {
    let q = forge::query(&uri);
    let mut h = hub.lock().unwrap();
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::NOT_FOUND, "unknown client").into_response();
    }
    h.scopes_asked
        .push(q.get("scope").cloned().unwrap_or_default());
    let code = gantry::secret::random_token(10);
    let login = h.next_login.clone();
    h.codes.insert(code.clone(), login);
    let back = reqwest::Url::parse_with_params(
        q.get("redirect_uri")
            .map(String::as_str)
            .unwrap_or_default(),
        &[("code", code.as_str()), ("state", q["state"].as_str())],
    )
    .unwrap();
    Redirect::to(back.as_str()).into_response()
}

/// GitHub's token endpoint: the client's credentials in the form, an error as HTTP 200.
async fn access_token(
    State(hub): State<Arc<Mutex<Hub>>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut h = hub.lock().unwrap();
    let wants_json = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    assert!(wants_json, "GitHub answers JSON only when asked for it");
    if f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return axum::Json(json!({"error": "incorrect_client_credentials",
            "error_description": "The client_id and/or client_secret passed are incorrect."}))
        .into_response();
    }
    let Some(login) = f.get("code").and_then(|c| h.codes.remove(c)) else {
        return axum::Json(json!({"error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired."}))
        .into_response();
    };
    let token = format!("gho_{}", gantry::secret::random_token(12));
    h.tokens.insert(token.clone(), login);
    axum::Json(json!({"access_token": token, "token_type": "bearer",
        "scope": "read:org,user:email"}))
    .into_response()
}

/// The API's door: a known bearer token, and GitHub's rate-limit answer when it is on.
async fn api_gate(
    State(hub): State<Arc<Mutex<Hub>>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let login = {
        let mut h = hub.lock().unwrap();
        let version = req
            .headers()
            .get("x-github-api-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        h.calls.push(format!(
            "GET {} version={version}",
            req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("")
        ));
        if h.rate_limited {
            let reset = chrono::Utc::now().timestamp() + 3600;
            return (
                StatusCode::FORBIDDEN,
                [
                    ("x-ratelimit-limit", "5000".to_string()),
                    ("x-ratelimit-remaining", "0".to_string()),
                    ("x-ratelimit-reset", reset.to_string()),
                ],
                axum::Json(json!({"message": "API rate limit exceeded for user ID 1.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})),
            )
                .into_response();
        }
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        match h.tokens.get(token) {
            Some(l) => l.clone(),
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest"})),
                )
                    .into_response();
            }
        }
    };
    req.extensions_mut().insert(Caller(login));
    next.run(req).await
}

#[derive(Clone)]
struct Caller(String);

fn account(hub: &Hub, login: &str) -> Account {
    hub.accounts.get(login).cloned().unwrap_or_default()
}

/// An answer, after checking it against the description (`list`: an array of `schema`).
fn conforming(h: &mut Hub, schema: &str, list: bool, v: Value) -> Value {
    let d = Description::github();
    let r = if list {
        d.check_list(schema, &v)
    } else {
        d.check(schema, &v)
    };
    if let Err(e) = r {
        h.nonconforming.push(format!("{schema}: {e}"));
    }
    v
}

fn paged(h: &mut Hub, path: &str, uri: &Uri, schema: &str, items: Vec<Value>) -> Response {
    let (chunk, link) = forge::page(
        &format!("{}/api/v3", h.base),
        path,
        &forge::query(uri),
        &items,
        MAX_PAGE,
    );
    let body = conforming(h, schema, true, Value::Array(chunk));
    let mut r = axum::Json(body).into_response();
    if let Some(l) = link {
        r.headers_mut().insert("link", l.parse().unwrap());
    }
    r
}

pub fn user_json(base: &str, a: &Account) -> Value {
    let u = format!("{base}/api/v3/users/{}", a.login);
    let mut v = json!({
        "login": a.login, "id": a.id, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("{base}/avatars/u/{}", a.id), "gravatar_id": "",
        "url": u, "html_url": format!("{base}/{}", a.login),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"), "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": "User", "site_admin": false, "name": a.name,
    });
    let profile = json!({
        "company": null, "blog": "", "location": null, "email": a.public_email,
        "hireable": null, "bio": null, "twitter_username": null, "public_repos": 0,
        "public_gists": 0, "followers": 0, "following": 0,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
        "disk_usage": 0, "collaborators": 0, "two_factor_authentication": true,
        "plan": {"name": "enterprise", "space": 976562499, "collaborators": 0, "private_repos": 9999},
    });
    for (k, x) in profile.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

pub fn org_json(base: &str, id: usize, login: &str) -> Value {
    let u = format!("{base}/api/v3/orgs/{login}");
    json!({
        "login": login, "id": id, "node_id": "MDEyOk9yZ2FuaXphdGlvbjE=", "url": u,
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events"),
        "hooks_url": format!("{u}/hooks"), "issues_url": format!("{u}/issues"),
        "members_url": format!("{u}/members{{/member}}"),
        "public_members_url": format!("{u}/public_members{{/member}}"),
        "avatar_url": format!("{base}/avatars/o/{id}"), "description": null,
    })
}

pub fn team_json(base: &str, id: usize, org: &str, name: &str, slug: &str) -> Value {
    let mut o = org_json(base, 7, org);
    let extra = json!({
        "html_url": format!("{base}/{org}"), "has_organization_projects": true,
        "has_repository_projects": true, "public_repos": 0, "public_gists": 0,
        "followers": 0, "following": 0, "type": "Organization",
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "archived_at": null, "name": org,
    });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    let u = format!("{base}/api/v3/organizations/7/team/{id}");
    json!({
        "id": id, "node_id": "MDQ6VGVhbTE=", "url": u,
        "html_url": format!("{base}/orgs/{org}/teams/{slug}"), "name": name, "slug": slug,
        "description": null, "privacy": "closed", "notification_setting": "notifications_enabled",
        "permission": "pull", "members_url": format!("{u}/members{{/member}}"),
        "repositories_url": format!("{u}/repos"), "members_count": 3, "repos_count": 0,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "organization": o, "type": "organization", "organization_id": 7,
    })
}

async fn user(
    State(hub): State<Arc<Mutex<Hub>>>,
    axum::Extension(Caller(login)): axum::Extension<Caller>,
) -> Response {
    let mut h = hub.lock().unwrap();
    let a = account(&h, &login);
    let v = user_json(&h.base, &a);
    axum::Json(conforming(&mut h, "private-user", false, v)).into_response()
}

async fn emails(
    State(hub): State<Arc<Mutex<Hub>>>,
    axum::Extension(Caller(login)): axum::Extension<Caller>,
    uri: Uri,
) -> Response {
    let mut h = hub.lock().unwrap();
    let items = account(&h, &login)
        .emails
        .iter()
        .map(|(e, verified, primary)| {
            json!({"email": e, "verified": verified, "primary": primary,
                "visibility": if *primary { json!("private") } else { Value::Null }})
        })
        .collect();
    paged(&mut h, "/user/emails", &uri, "email", items)
}

async fn orgs(
    State(hub): State<Arc<Mutex<Hub>>>,
    axum::Extension(Caller(login)): axum::Extension<Caller>,
    uri: Uri,
) -> Response {
    let mut h = hub.lock().unwrap();
    let base = h.base.clone();
    let items = account(&h, &login)
        .orgs
        .iter()
        .enumerate()
        .map(|(i, o)| org_json(&base, i + 1, o))
        .collect();
    paged(&mut h, "/user/orgs", &uri, "organization-simple", items)
}

async fn teams(
    State(hub): State<Arc<Mutex<Hub>>>,
    axum::Extension(Caller(login)): axum::Extension<Caller>,
    uri: Uri,
) -> Response {
    let mut h = hub.lock().unwrap();
    let base = h.base.clone();
    let items = account(&h, &login)
        .teams
        .iter()
        .enumerate()
        .map(|(i, (org, name, slug))| team_json(&base, i + 1, org, name, slug))
        .collect();
    paged(&mut h, "/user/teams", &uri, "team-full", items)
}

/// 204 for a member asking about themselves; 404 otherwise (no body either way).
async fn membership(
    State(hub): State<Arc<Mutex<Hub>>>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    Path((org, login)): Path<(String, String)>,
) -> StatusCode {
    let h = hub.lock().unwrap();
    if caller == login && account(&h, &login).orgs.contains(&org) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

fn team(org: &str, name: &str, slug: &str) -> (String, String, String) {
    (org.into(), name.into(), slug.into())
}

/// Ana: no public email, addresses over two pages, member of acme and tools, five teams.
fn ana(id: i64) -> Account {
    Account {
        id,
        login: format!("ana{id}"),
        name: Some("Ana Lima".into()),
        public_email: None,
        emails: vec![
            ("ana@old.example".into(), false, false),
            ("ana@home.example".into(), true, true),
            ("ana@eu.corp.example".into(), true, false),
        ],
        orgs: vec!["acme".into(), "tools".into()],
        teams: vec![
            team("acme", "Site Reliability", "site-reliability"),
            team("tools", "Builders", "builders"),
            team("acme", "Red Team", "red-team"),
            team("acme", "Blue Team", "blue-team"),
            team("other", "Ghosts", "ghosts"),
        ],
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
async fn a_github_enterprise_login_maps_the_user_and_org_teams_and_refresh_asks_github_again() {
    let gh = StandIn::start().await;
    gh.add(ana(101));
    gh.next_login("ana101");
    let app = app_with(&gh.connector("gh", "      orgs:\n        - name: acme\n")).await;
    let t = log_in(&app, &browser(Some(&gh.ca)), "gh", SCOPES)
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    let sub = gantry::identity::Identity {
        user_id: "101".into(),
        connector_id: "gh".into(),
        ..Default::default()
    }
    .subject();
    assert_eq!(c["sub"], sub.as_str(), "GitHub's numeric id is the user id");
    assert_eq!(c["name"], "Ana Lima");
    assert_eq!(c["preferred_username"], "ana101");
    assert_eq!(
        c["email"], "ana@home.example",
        "no public email: the primary address (on Enterprise every address counts as verified)"
    );
    assert_eq!(c["email_verified"], true);
    assert_eq!(
        c["groups"],
        json!(["acme:Site Reliability", "acme:Red Team", "acme:Blue Team"]),
        "every team of acme, over three pages, and no other org's"
    );
    assert_eq!(gh.scopes_asked(), ["user:email read:org"]);
    let calls = gh.calls();
    assert!(
        calls.iter().all(|c| c.ends_with("version=2022-11-28")),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.contains("/user/teams?") && c.contains("page=3")),
        "the teams were read to their last page: {calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.contains("/orgs/acme/members/ana101"))
    );

    // A refresh asks GitHub again: a new team shows; leaving acme ends the login.
    gh.edit("ana101", |a| a.teams.push(team("acme", "Purple", "purple")));
    let (status, r) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let c = jwt_claims(r["id_token"].as_str().unwrap());
    assert_eq!(c["sub"], sub.as_str());
    assert_eq!(c["groups"].as_array().unwrap().len(), 4, "{c}");
    gh.edit("ana101", |a| a.orgs.retain(|o| o != "acme"));
    let (status, r) = refresh(&app, r["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
    assert_eq!(r["error"], "invalid_grant");
    gh.assert_answers_conform();
}

#[tokio::test]
async fn github_users_outside_the_orgs_or_their_listed_teams_are_refused_with_a_page_that_says_so()
{
    let gh = StandIn::start().await;
    let mut outsider = ana(201);
    outsider.orgs = vec!["elsewhere".into()];
    gh.add(outsider);
    let mut blue = ana(202);
    blue.teams.retain(|t| t.1 != "Red Team");
    gh.add(blue);
    gh.add(ana(203));
    let app = app_with(&gh.connector(
            "gh",
            "      orgs:\n        - name: acme\n          teams: [Red Team]\n        - name: partners\n",
        ),
    )
    .await;
    for login in ["ana201", "ana202"] {
        gh.next_login(login);
        let (status, page) = log_in(&app, &browser(Some(&gh.ca)), "gh", SCOPES)
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::FORBIDDEN, "{login}: {page}");
        assert!(
            page.contains(&format!(
                "github: user &#34;{login}&#34; not in required orgs or teams"
            )),
            "{login}: {page}"
        );
    }
    // In the listed team: only that team of acme is a group.
    gh.next_login("ana203");
    let t = log_in(&app, &browser(Some(&gh.ca)), "gh", SCOPES)
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["groups"], json!(["acme:Red Team"]));
    gh.assert_answers_conform();
}

#[tokio::test]
async fn team_name_field_login_as_id_and_the_preferred_email_domain_shape_the_identity() {
    let gh = StandIn::start().await;
    let mut a = ana(301);
    a.public_email = Some("ana@public.example".into());
    gh.add(a);
    gh.next_login("ana301");
    let app = app_with(
        &[
            gh.connector(
                "both",
                "      orgs: [{name: acme}, {name: tools}]\n      teamNameField: both\n      \
                 useLoginAsID: true\n      preferredEmailDomain: \"*.corp.example\"\n",
            ),
            gh.connector(
                "slug",
                "      orgs: [{name: acme, teams: [red-team]}]\n      teamNameField: slug\n",
            ),
        ]
        .concat(),
    )
    .await;
    let t = log_in(&app, &browser(Some(&gh.ca)), "both", SCOPES)
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    let sub = gantry::identity::Identity {
        user_id: "ana301".into(),
        connector_id: "both".into(),
        ..Default::default()
    }
    .subject();
    assert_eq!(
        c["sub"],
        sub.as_str(),
        "useLoginAsID: the login is the user id"
    );
    assert_eq!(
        c["email"], "ana@eu.corp.example",
        "preferredEmailDomain wins over the public address, as in Dex's code"
    );
    assert_eq!(
        c["groups"],
        json!([
            "acme:Site Reliability",
            "acme:site-reliability",
            "acme:Red Team",
            "acme:red-team",
            "acme:Blue Team",
            "acme:blue-team",
            "tools:Builders",
            "tools:builders"
        ])
    );

    gh.next_login("ana301");
    let t = log_in(&app, &browser(Some(&gh.ca)), "slug", SCOPES)
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        json!(["acme:red-team"]),
        "a team list names slugs here"
    );
    assert_eq!(
        c["email"], "ana@public.example",
        "the public address, as Dex takes it"
    );
    gh.assert_answers_conform();
}

#[tokio::test]
async fn load_all_groups_reads_every_org_and_team_only_when_the_client_asks_for_groups() {
    let gh = StandIn::start().await;
    let mut a = ana(401);
    a.orgs = vec!["acme".into(), "tools".into(), "solo".into()];
    gh.add(a);
    let app = app_with(&gh.connector(
        "gh",
        "      loadAllGroups: true\n      teamNameField: slug\n",
    ))
    .await;
    gh.next_login("ana401");
    let t = log_in(&app, &browser(Some(&gh.ca)), "gh", SCOPES)
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        c["groups"],
        json!([
            "acme",
            "acme:site-reliability",
            "acme:red-team",
            "acme:blue-team",
            "tools",
            "tools:builders",
            "solo"
        ]),
        "orgs over two pages, each followed by its teams; a team of an org not listed is not"
    );
    gh.next_login("ana401");
    let before = gh.calls().len();
    log_in(&app, &browser(Some(&gh.ca)), "gh", "openid email")
        .await
        .unwrap();
    assert_eq!(gh.scopes_asked(), ["user:email read:org", "user:email"]);
    assert!(
        gh.calls()[before..]
            .iter()
            .all(|c| !c.contains("/orgs") && !c.contains("/teams")),
        "without the groups scope, no org is read: {:#?}",
        &gh.calls()[before..]
    );
    gh.assert_answers_conform();
}

#[tokio::test]
async fn a_rate_limited_github_is_an_unavailable_source_with_its_reset_time_never_a_500() {
    let gh = StandIn::start().await;
    gh.add(ana(501));
    gh.next_login("ana501");
    let app = app_with(&gh.connector("gh", "      orgs: [{name: acme}]\n")).await;
    let t = log_in(&app, &browser(Some(&gh.ca)), "gh", SCOPES)
        .await
        .unwrap();

    gh.rate_limit(true);
    gh.next_login("ana501");
    let (status, page) = log_in(&app, &browser(Some(&gh.ca)), "gh", SCOPES)
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(
        page.contains("The identity provider is not answering"),
        "{page}"
    );

    let (status, r) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{r}");
    assert_eq!(r["error"], "temporarily_unavailable");

    // What the connector says (the server log has it): unavailable, and until when.
    let pool = app.pool().await;
    let identity: String = sqlx::query_scalar("SELECT identity FROM refresh_tokens LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let identity: gantry::identity::Identity = serde_json::from_str(&identity).unwrap();
    let conn = app.provider.connector("gh").unwrap();
    let scopes = gantry::connector::Scopes {
        offline_access: true,
        groups: true,
    };
    match conn.refresh(&identity, scopes, 0).await {
        Err(gantry::connector::ConnectorError::Unavailable(why)) => {
            assert!(
                why.contains("rate limit") && why.contains("resets at 20"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }

    // The limit over, the same refresh token still works.
    gh.rate_limit(false);
    let (status, r) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

#[tokio::test]
async fn github_enterprise_is_trusted_only_through_its_root_ca_in_logins_and_the_admin_test() {
    let gh = StandIn::start().await;
    gh.add(ana(601));
    let untrusted = format!(
        "  - type: github\n    id: noca\n    name: No CA\n    config:\n      clientID: {CLIENT_ID}\n      \
         clientSecret: {CLIENT_SECRET}\n      redirectURI: @ISSUER@/callback\n      hostName: 127.0.0.1:{}\n",
        gh.port
    );
    let wrong_secret = gh
        .connector("wrong", "")
        .replace(CLIENT_SECRET, "not-the-secret");
    let app = app_with(&[gh.connector("gh", ""), untrusted, wrong_secret].concat()).await;
    // The admin's Test: the token endpoint is reached (or not) and takes the client (or not).
    use gantry::connector::probe::Outcome;
    for (id, want) in [
        ("gh", Outcome::Ok),
        ("noca", Outcome::TlsFailed),
        ("wrong", Outcome::ClientRefused),
    ] {
        let p = app.provider.connector(id).unwrap().probe(0).await;
        assert_eq!(p.outcome, want, "{id}: {p:?}");
    }

    gh.next_login("ana601");
    let (status, page) = log_in(&app, &browser(Some(&gh.ca)), "noca", SCOPES)
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    gh.next_login("ana601");
    let t = log_in(&app, &browser(Some(&gh.ca)), "gh", "openid email profile")
        .await
        .unwrap();
    let c = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(c["preferred_username"], "ana601");
    assert!(
        c.get("groups").is_none(),
        "no orgs and no groups scope: no groups"
    );
}
