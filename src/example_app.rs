//! `gantry example-app`: a tiny relying party that logs in through Gantry (code flow + PKCE),
//! verifies the ID token against the JWKS, and shows the claims, the groups and a refresh
//! button. Admins use it to check what claims a connector produces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::secret;

#[derive(Debug, Clone)]
pub struct ExampleApp {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    pending: Arc<Mutex<HashMap<String, (String, String)>>>,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize, Clone)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Template, WebTemplate, Default)]
#[template(path = "example_app.html")]
struct Page {
    issuer: String,
    error: String,
    id_token: String,
    access_token: String,
    refresh_token: String,
    claims: String,
    groups: Vec<String>,
}

impl ExampleApp {
    pub fn new(
        issuer: String,
        client_id: String,
        client_secret: String,
        redirect_uri: String,
    ) -> ExampleApp {
        ExampleApp {
            issuer: issuer.trim_end_matches('/').to_string(),
            client_id,
            client_secret,
            redirect_uri,
            pending: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn run(self, listen: &str) -> Result<(), String> {
        let path = url::Url::parse(&self.redirect_uri)
            .map_err(|e| e.to_string())?
            .path()
            .to_string();
        let router = Router::new()
            .route("/", get(home))
            .route("/login", get(login))
            .route(&path, get(callback))
            .route("/refresh", post(refresh))
            .with_state(self);
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("{listen}: {e}"))?;
        println!("example-app on http://{listen}");
        axum::serve(l, router).await.map_err(|e| e.to_string())
    }

    async fn discover(&self) -> Result<Discovery, String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let d: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if d.issuer != self.issuer {
            return Err(format!(
                "discovery names issuer {} instead of {}",
                d.issuer, self.issuer
            ));
        }
        Ok(d)
    }

    fn page(&self) -> Page {
        Page {
            issuer: self.issuer.clone(),
            ..Default::default()
        }
    }

    async fn tokens(&self, form: &[(&str, &str)], nonce: Option<&str>) -> Result<Page, String> {
        let d = self.discover().await?;
        let resp = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        if let Some(err) = body.get("error") {
            return Err(format!(
                "token endpoint: {err} {}",
                body.get("error_description")
                    .unwrap_or(&serde_json::Value::Null)
            ));
        }
        let s = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let id_token = s("id_token");
        let claims = self.verify(&d, &id_token, nonce).await?;
        Ok(Page {
            issuer: self.issuer.clone(),
            error: String::new(),
            access_token: s("access_token"),
            refresh_token: s("refresh_token"),
            groups: claims
                .get("groups")
                .and_then(|g| g.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            claims: serde_json::to_string_pretty(&claims).unwrap_or_default(),
            id_token,
        })
    }

    async fn verify(
        &self,
        d: &Discovery,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<serde_json::Value, String> {
        crate::keys::remote::verify_id_token(
            &self.http,
            &d.jwks_uri,
            token,
            &d.issuer,
            &self.client_id,
            nonce,
        )
        .await
        .map_err(|e| e.to_string())
    }
}

async fn home(State(app): State<ExampleApp>) -> Response {
    app.page().into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    scopes: Option<String>,
    connector_id: Option<String>,
}

async fn login(State(app): State<ExampleApp>, Query(q): Query<LoginQuery>) -> Response {
    let d = match app.discover().await {
        Ok(d) => d,
        Err(e) => {
            return Page {
                error: e,
                ..app.page()
            }
            .into_response();
        }
    };
    let (state, nonce, verifier) = (
        secret::random_token(16),
        secret::random_token(16),
        secret::random_token(32),
    );
    let challenge = secret::b64(&secret::sha256(verifier.as_bytes()));
    if let Ok(mut p) = app.pending.lock() {
        if p.len() > 1000 {
            p.clear();
        }
        p.insert(state.clone(), (verifier, nonce.clone()));
    }
    let scope = format!(
        "openid {}",
        q.scopes
            .as_deref()
            .unwrap_or("profile email groups offline_access")
    );
    let mut u = match url::Url::parse(&d.authorization_endpoint) {
        Ok(u) => u,
        Err(e) => {
            return Page {
                error: e.to_string(),
                ..app.page()
            }
            .into_response();
        }
    };
    u.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &app.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", &scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(c) = q.connector_id.filter(|c| !c.is_empty()) {
        u.query_pairs_mut().append_pair("connector_id", &c);
    }
    Redirect::to(u.as_str()).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(State(app): State<ExampleApp>, Query(q): Query<CallbackQuery>) -> Response {
    if let Some(e) = q.error {
        return Page {
            error: format!("{e}: {}", q.error_description.unwrap_or_default()),
            ..app.page()
        }
        .into_response();
    }
    let pending = q
        .state
        .as_deref()
        .and_then(|s| app.pending.lock().ok().and_then(|mut p| p.remove(s)));
    let (Some(code), Some((verifier, nonce))) = (q.code, pending) else {
        return Page {
            error: "unknown or missing state: start the login again".into(),
            ..app.page()
        }
        .into_response();
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", app.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    match app.tokens(&form, Some(&nonce)).await {
        Ok(p) => p.into_response(),
        Err(e) => Page {
            error: e,
            ..app.page()
        }
        .into_response(),
    }
}

#[derive(Deserialize)]
struct RefreshForm {
    refresh_token: String,
}

async fn refresh(
    State(app): State<ExampleApp>,
    axum::Form(f): axum::Form<RefreshForm>,
) -> Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", f.refresh_token.as_str()),
    ];
    match app.tokens(&form, None).await {
        Ok(p) => p.into_response(),
        Err(e) => Page {
            error: e,
            ..app.page()
        }
        .into_response(),
    }
}
