//! Building the application from a config: storage, keys, connectors, the protocol core, and
//! the router with its layers in the order they run. Used by `gantry serve` and by the tests.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::clock::SharedClock;
use crate::config::{Config, Problem};
use crate::connector::set::Connectors;
use crate::connector::{Connector, local::Local};
use crate::http::error::PageError;
use crate::http::{self, AppState, WebSettings};
use crate::keys::{Algorithm, Keys, Schedule};
use crate::metrics::Metrics;
use crate::oauth::Provider;
use crate::oauth::client::{Client, Clients};
use crate::storage::Db;
use crate::storage::sweeper::SweepLimits;
use crate::throttle::LoginThrottle;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
}

/// A built application: its routers and the protocol core behind them.
pub struct App {
    pub router: Router,
    /// Served on `telemetry.http` when that is set.
    pub telemetry: Option<Router>,
    pub provider: Arc<Provider>,
    pub admin: Arc<crate::admin::AdminService>,
    pub registry: Arc<crate::registry::RegistryService>,
}

/// Read and check a config file: its own rules (`Config::load`), then what only the layers
/// that use a setting can judge (connectors, keys, the policy, the deny list).
pub fn load_config(path: &std::path::Path) -> Result<Config, crate::config::ConfigError> {
    let cfg = Config::load(path)?;
    check(&cfg)?;
    Ok(cfg)
}

/// The checks of a config that need the layers above it: each setting as its user reads it.
pub fn check(cfg: &Config) -> Result<(), crate::config::ConfigError> {
    let all = problems(cfg);
    if all.is_empty() {
        Ok(())
    } else {
        Err(crate::config::ConfigError::Problems(all))
    }
}

/// What [`check`] refuses: the file's own rules (`Config::problems`), then each setting as the
/// layer that uses it reads it. Every problem, not the first: `check-config` lists them.
pub fn problems(cfg: &Config) -> Vec<Problem> {
    let mut all = cfg.problems();
    let mut p = |path: String, m: String| all.push(Problem::new(path, m));
    for (i, k) in cfg.encryption.keys.iter().enumerate() {
        if let Err(e) = crate::seal::Sealer::decode_key(k) {
            p(format!("encryption.keys[{i}]"), e.to_string());
        }
    }
    if let Some(a) = cfg.signing.algorithm.as_deref()
        && crate::keys::Algorithm::parse(a).is_none()
    {
        p(
            "signing.algorithm".into(),
            format!("`{a}`: expected ES256, RS256 or EdDSA"),
        );
    }
    if let Err(e) = crate::ratelimit::RateLimits::new(&cfg.rate_limits_in_force()) {
        p("rateLimits".into(), e.to_string());
    }
    match deny_networks(cfg) {
        Err(e) => p("connectorNetwork.denyNetworks".into(), e.into_message()),
        Ok(deny) => {
            // Connectors are built to be checked, never used: what they would seal is thrown
            // away. An unknown type is the file's own rule, named above.
            let sealer = crate::seal::Sealer::ephemeral();
            for (i, c) in cfg.connector_entries().iter().enumerate() {
                if c.connector_kind().is_err() {
                    continue;
                }
                if let Err(e) = Connector::build(c, &sealer, &deny) {
                    let key = match e.key() {
                        Some(k) => format!("connectors[{i}].config.{k}"),
                        None => format!("connectors[{i}].config"),
                    };
                    p(key, format!("connector `{}`: {e}", c.id));
                }
            }
        }
    }
    if let Err(e) = compiled_policy(cfg) {
        p("policy".into(), e.into_message());
    }
    if let Err(p) = http::frontend::Frontend::load(&cfg.frontend, "") {
        all.extend(p);
    }
    all
}

/// What [`Config::warnings`] says, and what the layers that read a setting warn about (a web
/// directory's templates, which cannot run here): printed by `check-config`, logged by `serve`.
pub fn warnings(cfg: &Config) -> Vec<Problem> {
    let mut w = cfg.warnings();
    w.extend(http::frontend::warnings(&cfg.frontend));
    w
}

/// `connectorNetwork.denyNetworks`, parsed.
pub fn deny_networks(
    cfg: &Config,
) -> Result<crate::connector::egress::DenyList, crate::config::ConfigError> {
    crate::connector::egress::DenyList::parse(&cfg.connector_network.deny_networks)
        .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))
}

/// The file's policy, compiled against the configured clusters.
pub fn compiled_policy(cfg: &Config) -> Result<crate::policy::Policy, crate::config::ConfigError> {
    crate::policy::Policy::compile(&cfg.policy, &cfg.cluster_names())
        .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))
}

/// Check the config, open storage, load keys, and assemble the routers.
pub async fn build(cfg: &Config, clock: SharedClock) -> Result<App, AppError> {
    check(cfg)?;
    build_checked(cfg, clock).await
}

/// [`build`] for a config that [`load_config`] or [`check`] already passed.
pub async fn build_checked(cfg: &Config, clock: SharedClock) -> Result<App, AppError> {
    let expiry = cfg.expiry()?;
    let db = Db::open(&cfg.storage.location()?).await?;
    let alg = cfg
        .signing_algorithm()
        .and_then(Algorithm::parse)
        .unwrap_or(Algorithm::ES256);
    let schedule = Schedule {
        alg,
        period: expiry.signing_keys,
        retain: expiry.id_tokens,
        lead: 2 * key_refresh_every(&expiry) as i64,
    };
    let sealing = crate::seal::KeySealing::from_config(&cfg.encryption.keys)
        .map_err(|e| crate::config::ConfigError::Invalid(format!("encryption: {e}")))?;
    let keys = Arc::new(
        Keys::load(
            Arc::new(db.clone()),
            clock.clone(),
            schedule,
            sealing.clone(),
        )
        .await?,
    );
    let mut connectors = Vec::new();
    if cfg.local_enabled() {
        connectors.push(Connector::local(Local::new(
            cfg.static_passwords.clone(),
            Arc::new(db.clone()),
            cfg.enable_password_db,
        )));
    }
    let sealer = crate::seal::Sealer::for_deployment(&cfg.encryption.keys, &db)
        .await
        .map_err(|e| crate::config::ConfigError::Invalid(format!("encryption: {e}")))?;
    let deny_networks = deny_networks(cfg)?;
    for c in &cfg.connector_entries() {
        connectors.push(
            Connector::from_config(c, &sealer, &deny_networks).map_err(|e| {
                crate::config::ConfigError::Invalid(format!("connector `{}`: {e}", c.id))
            })?,
        );
    }
    for r in &cfg.response_types_ignored() {
        tracing::warn!(response_type = %r, "oauth2.responseTypes: only `code` is served; ignoring");
    }
    let registry = crate::registry::Registry::load(&cfg.registry, &db, clock.now(), &sealing)
        .await
        .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))?;
    let connectors = Connectors::new(connectors);
    let metrics = Arc::new(metrics_for(&db, &keys, &connectors, &clock));
    let audit_key = db
        .setting_or_insert(
            "audit-login-key",
            &crate::secret::b64(&crate::secret::random_bytes(32)),
        )
        .await
        .map_err(|e| crate::config::ConfigError::Invalid(format!("audit key: {e}")))?;
    let provider = Arc::new(Provider {
        issuer: cfg.issuer.clone(),
        store: Arc::new(db.clone()),
        keys,
        clients: Clients::new(
            cfg.static_clients
                .iter()
                .map(Client::from_config)
                .chain([crate::admin::admin_client(&cfg.issuer)]),
        ),
        connectors,
        sealer: sealer.clone(),
        clock,
        expiry,
        grants: cfg.allowed_grants(),
        skip_approval: cfg.oauth2.skip_approval_screen,
        always_show_login: cfg.oauth2.always_show_login_screen,
        pkce: cfg.oauth2.pkce.clone(),
        password_connector: cfg.oauth2.password_connector.clone(),
        throttle: LoginThrottle::default(),
        limits: Arc::new(
            crate::ratelimit::RateLimits::new(&cfg.rate_limits_in_force())
                .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))?,
        ),
        metrics,
        issuance: Default::default(),
        policy: crate::policy::live::LivePolicy::new(cfg.policy.clone(), compiled_policy(cfg)?),
        clusters: cfg.cluster_names(),
        cluster_clients: cfg
            .kubernetes
            .clusters
            .iter()
            .map(|c| (c.name.clone(), c.client_id.clone()))
            .collect(),
        registry_clients: cfg.registry.login_clients(),
        audit_key: audit_key.into_bytes(),
        verified: Default::default(),
        second_factors: crate::mfa::SecondFactors::new(
            crate::mfa::Authenticators::from_config(cfg.mfa.as_ref(), &cfg.issuer),
            Arc::new(db.clone()),
            sealer.clone(),
        ),
        sessions: cfg.sessions.clone().unwrap_or_default().settings(),
    });
    let admin = Arc::new(crate::admin::AdminService {
        core: provider.clone(),
        db: db.clone(),
        deny_networks,
        generation: Default::default(),
    });
    admin
        .sync_admin_objects()
        .await
        .map_err(|e| crate::config::ConfigError::Invalid(format!("loading admin changes: {e}")))?;
    let static_secrets: Vec<(String, String)> = cfg
        .static_clients
        .iter()
        .map(Client::from_config)
        .filter_map(|c| Some((c.id, c.secret_hash?)))
        .collect();
    admin
        .end_tokens_changed_since_last_start(&static_secrets)
        .await
        .map_err(|e| crate::config::ConfigError::Invalid(format!("admin client tokens: {e}")))?;
    let issuer = url::Url::parse(&cfg.issuer)
        .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))?;
    let base_url = cfg.issuer.trim_end_matches('/').to_string();
    let base_path = issuer.path().trim_end_matches('/').to_string();
    let frontend = http::frontend::Frontend::load(&cfg.frontend, &base_path)
        .map_err(crate::config::ConfigError::Problems)?;
    let web = Arc::new(WebSettings {
        base_url,
        base_path: base_path.clone(),
        secure_cookies: issuer.scheme() == "https",
        title: frontend.title.clone(),
        frontend: Arc::new(frontend),
        discovery: std::sync::OnceLock::new(),
        script_csp: http::with_own_scripts(
            cfg.web
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-security-policy"))
                .map_or(http::DEFAULT_CSP, |(_, v)| v.as_str()),
        ),
    });
    let registry = Arc::new(crate::registry::RegistryService {
        core: provider.clone(),
        registry,
    });
    let state = AppState {
        provider: provider.clone(),
        admin: admin.clone(),
        registry: registry.clone(),
        web,
    };
    let with_metrics_here = cfg.telemetry.http.is_none();
    let router = main_router(state.clone(), &base_path, cfg, with_metrics_here);
    let telemetry = (!with_metrics_here).then(|| {
        http::health::metrics_router()
            .merge(http::health::router())
            .with_state(state)
    });
    Ok(App {
        router,
        telemetry,
        provider,
        admin,
        registry,
    })
}

/// The metrics of one server: the request path's, and what is read from `db`, `keys` and the
/// connectors at each scrape.
fn metrics_for(db: &Db, keys: &Arc<Keys>, connectors: &Connectors, clock: &SharedClock) -> Metrics {
    let mut m = Metrics::new();
    m.register(
        "gantry_db_pool_acquire_duration_seconds",
        "Time queries waited for a database connection, by pool",
        db.acquire_waits(),
    );
    m.register(
        "gantry_connector_call_duration_seconds",
        "Calls to identity sources by connector, operation and outcome (ok, refused, error)",
        connectors.calls(),
    );
    m.register_collector(crate::metrics::state::State {
        db: db.clone(),
        keys: keys.clone(),
        clock: clock.clone(),
    });
    m
}

/// The longest a request may take; the timeout layer answers 408 after it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main_router(state: AppState, base_path: &str, cfg: &Config, with_metrics: bool) -> Router {
    let mut api = Router::new()
        .merge(http::discovery::router())
        .merge(http::authorize::router())
        .merge(http::mfa::router())
        .merge(http::callback::router())
        .merge(http::admin::router())
        .merge(http::token::router())
        .merge(http::logout::router())
        .merge(http::device::router())
        .merge(http::registry::router())
        .merge(http::frontend::router())
        .merge(http::health::router());
    if with_metrics {
        api = api.merge(http::health::metrics_router());
    }
    let api = api.fallback(not_found);
    let routed = if base_path.is_empty() {
        api
    } else {
        Router::new().nest(base_path, api).fallback(not_found)
    };
    let headers = Arc::new(security_headers(cfg));
    let docs_headers = headers.clone();
    let request_ids = crate::http::request_ids::RequestIds::new();
    let docs_state = state.clone();
    let frontend = state.web.frontend.clone();
    let families_base: Arc<str> = base_path.into();
    let access =
        http::access::Access::new(state.provider.metrics.clone(), base_path, REQUEST_TIMEOUT);
    let inner = routed
        .layer(middleware::from_fn_with_state(
            access.clone(),
            http::access::observe,
        ))
        .with_state(state);
    // The layers every request passes wrap the router once, as one service: layered onto the
    // router itself, axum would wrap (and clone per request) each route in all of them.
    // Outermost first: request id, tracing, panics, timeout, headers, CORS.
    let outer = tower::ServiceBuilder::new()
        .map_response(|r: axum::http::Response<_>| r.map(axum::body::Body::new))
        .map_request(|mut req: Request| {
            crate::http::request_ids::drop_unacceptable(req.headers_mut());
            req
        })
        .layer(SetRequestIdLayer::x_request_id(request_ids.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // No path: it can carry what a user typed (an email in /api/v1/users/...) and any
                    // length; events name the route through the access line, tied by the request id.
                    tracing::info_span!("request", method = %req.method(), request_id = %id)
                })
                .on_request(())
                .on_response(())
                .on_body_chunk(())
                .on_eos(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        // The request's id, and what every page shows around its content (error pages too),
        // for what is made without the request at hand.
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let pages = http::frontend::scope(frontend.clone(), next.run(req));
            crate::request_scope::scope(id, pages)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({"error": "server_error"})),
            )
                .into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let headers = headers.clone();
            async move { crate::http::request_ids::apply_headers(next.run(req).await, &headers) }
        }))
        .option_layer((!cfg.web.allowed_origins.is_empty()).then(|| cors(cfg)))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let base = families_base.clone();
            async move { crate::http::rejections::in_family_format(&base, req, next).await }
        }))
        .service(inner);
    Router::new().fallback_service(http::static_docs::StaticDocs {
        inner: outer,
        state: docs_state,
        access,
        discovery_path: format!("{base_path}/.well-known/openid-configuration").into(),
        keys_path: format!("{base_path}/keys").into(),
        headers: docs_headers,
        request_ids,
    })
}

/// Request ids: a random prefix per process and a counter. Unique across replicas and
/// restarts like a UUID, without a getrandom system call on every request.
async fn not_found() -> Response {
    PageError::new(StatusCode::NOT_FOUND, "There is nothing here.").into_response()
}

fn security_headers(cfg: &Config) -> Vec<(HeaderName, HeaderValue)> {
    let mut h: Vec<(HeaderName, HeaderValue)> = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(http::DEFAULT_CSP),
        ),
    ];
    if cfg.issuer.starts_with("https://") {
        h.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    for (k, v) in &cfg.web.headers {
        match (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            (Ok(name), Ok(value)) => {
                h.retain(|(n, _)| n != name);
                h.push((name, value));
            }
            _ => tracing::warn!(header = %k, "web.headers: not a valid header; ignored"),
        }
    }
    h
}

fn cors(cfg: &Config) -> CorsLayer {
    let origins = &cfg.web.allowed_origins;
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

/// Seconds between key reloads: every replica sees a new key within this time.
/// The sweeper runs once per this many key-refresh ticks, on one replica.
const SWEEP_EVERY_KEY_REFRESHES: u64 = 5;

fn key_refresh_every(expiry: &crate::config::Expiry) -> u64 {
    (expiry.signing_keys / 10).clamp(1, 60) as u64
}

/// Key rotation and garbage collection, forever; one task per process.
pub fn spawn_background(admin: Arc<crate::admin::AdminService>) -> tokio::task::JoinHandle<()> {
    let provider = admin.core.clone();
    let db = admin.db.clone();
    for c in provider.connectors.all() {
        tokio::spawn(crate::connector::warm_up::warm_up(Arc::downgrade(&c)));
    }
    tokio::spawn(crate::oauth::backchannel::run(provider.clone()));
    // What admins change on any replica reaches this one within a second.
    let p = provider.clone();
    let p_db = db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            if let Err(e) = admin.sync_admin_objects().await {
                tracing::warn!(error = %e, "could not load admin changes");
            }
            n += 1;
            if n.is_multiple_of(10)
                && let Err(e) = p.issuance.flush(&p_db).await
            {
                tracing::warn!(error = %e, "could not save token counts");
            }
        }
    });
    tokio::spawn(async move {
        let every = Duration::from_secs(key_refresh_every(&provider.expiry));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = provider.keys.refresh().await {
                tracing::error!(error = %e, "key refresh failed");
            }
            let now = provider.clock.now();
            let period = (every.as_secs() * SWEEP_EVERY_KEY_REFRESHES) as i64;
            // Every replica asks each tick; one per period wins, so a dead one is replaced.
            let claimed = match db.claim_lease("sweep", now, now + period).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim the sweep");
                    false
                }
            };
            if claimed {
                let limits = SweepLimits {
                    absolute_lifetime: provider.expiry.absolute_lifetime,
                    valid_if_not_used_for: provider.expiry.valid_if_not_used_for,
                    audit_retention: provider.expiry.audit_retention,
                };
                match db.sweep(now, limits).await {
                    Ok(s) => tracing::debug!(?s, "swept expired rows"),
                    Err(e) => tracing::error!(error = %e, "sweep failed"),
                }
            }
        }
    })
}

/// Serve a router on a bound listener until the future `shutdown` completes.
/// Serve `router` over plain HTTP with the default connection limits (a router of a test, or
/// one without an app); an app's own listeners use [`App::admission`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits =
        crate::ratelimit::RateLimits::new(&Default::default()).map_err(std::io::Error::other)?;
    let admission = http::listen::Admission {
        limits: Arc::new(limits),
        metrics: Arc::default(),
    };
    http::listen::serve(listener, None, router, admission, shutdown).await
}

impl App {
    /// Who may connect to this app's listeners: its `rateLimits`, counted in its metrics.
    pub fn admission(&self) -> http::listen::Admission {
        http::listen::Admission {
            limits: self.provider.limits.clone(),
            metrics: self.provider.metrics.clone(),
        }
    }
}
