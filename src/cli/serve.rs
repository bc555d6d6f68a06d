//! `gantry serve` and `gantry migrate`.

use std::path::Path;
use std::sync::Arc;

use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;

fn init_logging(cfg: &Config) {
    let level = cfg
        .logger
        .level
        .clone()
        .unwrap_or_else(|| "info".into())
        .to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The audit trail is always logged, whatever the level: a SIEM may read nothing else.
        // webauthn-rs logs the bytes of refused answers at error level: whoever sends them
        // chooses what the log says. Gantry records each refusal's reason itself.
        tracing_subscriber::EnvFilter::new(format!(
            "{level},sqlx=warn,tower_http=info,gantry::audit=info,webauthn_rs=off"
        ))
    });
    // On stderr, as servers and Dex log, leaving stdout to commands whose output is data.
    // Colour only for a person at a terminal: files and collectors get plain text.
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json_logs(cfg) {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

fn json_logs(cfg: &Config) -> bool {
    cfg.logger.format.as_deref() == Some("json")
}

/// A reason not to start, once logging is set up: with JSON logs, stderr carries nothing but
/// JSON, so a collector parses the reason too.
fn refuse(cfg: &Config, reason: impl std::fmt::Display) -> i32 {
    if json_logs(cfg) {
        tracing::error!("{reason}");
    } else {
        eprintln!("{reason}");
    }
    1
}

/// The config's database, migrated; the error as the operator reads it.
pub(crate) async fn open_db(cfg: &crate::config::Config) -> Result<crate::storage::Db, String> {
    let at = cfg.storage.location().map_err(|e| e.to_string())?;
    crate::storage::Db::open(&at)
        .await
        .map_err(|e| e.to_string())
}

pub async fn migrate(path: &Path) -> i32 {
    let cfg = match crate::app::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return 1;
        }
    };
    match open_db(&cfg).await {
        Ok(_) => {
            println!("database is up to date");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

pub async fn registry_ca(path: &Path) -> i32 {
    let cfg = match crate::app::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return 1;
        }
    };
    let db = match open_db(&cfg).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let sealing = match crate::seal::KeySealing::from_config(&cfg.encryption.keys) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("encryption: {e}");
            return 1;
        }
    };
    let now = crate::clock::Clock::now(&SystemClock);
    match crate::registry::ca::RegistryCa::load(&cfg.registry, &db, now, &sealing).await {
        Ok(ca) => {
            print!("{}", ca.cert_pem());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// How long a stopping server lets requests in flight finish.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(25);

pub async fn serve(path: &Path) -> i32 {
    let cfg = match crate::app::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return 1;
        }
    };
    init_logging(&cfg);
    for w in crate::app::warnings(&cfg) {
        tracing::warn!("config: {w}");
    }
    for u in cfg.unset_variables() {
        tracing::warn!("config: {u}");
    }
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        return refuse(&cfg, "this build has no JWT crypto backend");
    }
    // load_config checked it.
    let built = match app::build_checked(&cfg, Arc::new(SystemClock)).await {
        Ok(a) => a,
        Err(e) => return refuse(&cfg, e),
    };
    let _bg = app::spawn_background(built.admin.clone());
    let mut servers = Vec::new();
    // Each listener stops when this does; a select on the signal itself would wake only one.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    };
    // (setting, address, TLS, what it serves)
    let mut listeners: Vec<(&str, &str, Option<tokio_rustls::TlsAcceptor>, axum::Router)> =
        Vec::new();
    if let (Some(addr), Some(router)) = (&cfg.telemetry.http, built.telemetry.clone()) {
        listeners.push(("telemetry.http", addr, None, router));
    }
    if let Some(addr) = &cfg.web.https {
        let (Some(cert), Some(key)) = (&cfg.web.tls_cert, &cfg.web.tls_key) else {
            return 1;
        };
        match crate::http::listen::tls_from_pem_files(
            Path::new(cert),
            Path::new(key),
            &crate::http::listen::protocol_versions(
                cfg.web.tls_min_version.as_deref(),
                cfg.web.tls_max_version.as_deref(),
            ),
        ) {
            Ok(tls) => listeners.push(("web.https", addr, Some(tls), built.router.clone())),
            Err(e) => return refuse(&cfg, format!("web.tlsCert/tlsKey: {e}")),
        }
    }
    if let Some(addr) = &cfg.web.http {
        listeners.push(("web.http", addr, None, built.router.clone()));
    }
    for (setting, addr, tls, router) in listeners {
        let bound = crate::http::listen::bind(addr).and_then(|(l, at)| {
            l.set_nonblocking(true)?;
            Ok((tokio::net::TcpListener::from_std(l)?, at))
        });
        let (l, addr) = match bound {
            Ok(found) => found,
            Err(e) => return refuse(&cfg, format!("{setting} {addr}: {e}")),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!("listening on {scheme}://{addr}");
        servers.push(tokio::spawn(crate::http::listen::serve(
            l,
            tls,
            router,
            built.admission(),
            stop(),
        )));
    }
    print_welcome(&cfg);
    shutdown().await;
    // Listeners close at once; requests in flight finish (a login half done, a token being
    // signed), up to a deadline inside Kubernetes' default 30 s grace period.
    tracing::info!(
        "shutting down: finishing requests in flight (at most {} s)",
        DRAIN.as_secs()
    );
    let _ = stop_tx.send(true);
    let drain = async {
        for s in servers.iter_mut() {
            let _ = s.await;
        }
    };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        tracing::warn!("requests still running after the drain deadline: closing them");
        for s in &servers {
            s.abort();
        }
    }
    // Token counts of the last seconds would be lost otherwise.
    if let Err(e) = built.provider.issuance.flush(&built.admin.db).await {
        tracing::warn!(error = %e, "could not save token counts");
    }
    0
}

/// For the person who started the server: where to go next. On stderr in text mode; with JSON
/// logs, one log event, so stderr stays JSON.
fn print_welcome(cfg: &Config) {
    let exe = std::env::args().next().unwrap_or_else(|| "gantry".into());
    let lines = welcome(cfg, &exe);
    if json_logs(cfg) {
        tracing::info!(
            issuer = %cfg.issuer,
            admin = %admin_url(cfg),
            metrics = %metrics_url(cfg),
            "Gantry is running"
        );
    } else {
        for l in lines {
            eprintln!("{l}");
        }
    }
}

fn admin_url(cfg: &Config) -> String {
    format!("{}/admin", cfg.issuer.trim_end_matches('/'))
}

/// `/metrics` is on `telemetry.http` when that is set, else beside the issuer's endpoints.
fn metrics_url(cfg: &Config) -> String {
    match &cfg.telemetry.http {
        Some(addr) => format!("http://{addr}/metrics"),
        None => format!("{}/metrics", cfg.issuer.trim_end_matches('/')),
    }
}

/// The banner's lines; `exe` is how this binary was started, so the example-app command it
/// prints runs as typed (`cargo run` starts `target/release/gantry`).
fn welcome(cfg: &Config, exe: &str) -> Vec<String> {
    let issuer = cfg.issuer.trim_end_matches('/');
    let mut out = vec![
        format!("Gantry is running. Issuer: {}", cfg.issuer),
        format!("  discovery: {issuer}/.well-known/openid-configuration"),
    ];
    let admins = &cfg.policy.admins;
    out.push(if admins.groups.is_empty() && admins.users.is_empty() {
        format!(
            "  admin UI:  {} (nobody may use it yet: list users or groups in policy.admins)",
            admin_url(cfg)
        )
    } else {
        format!("  admin UI:  {}", admin_url(cfg))
    });
    out.push(format!("  metrics:   {}", metrics_url(cfg)));
    if let Some(app) = cfg
        .static_clients
        .iter()
        .find(|c| c.id.as_deref() == Some("example-app"))
    {
        let mut cmd = format!("{exe} example-app");
        if issuer != EXAMPLE_APP_ISSUER {
            cmd.push_str(&format!(" --issuer {issuer}"));
        }
        let callback = app
            .redirect_uris
            .iter()
            .find(|u| u.ends_with("/callback"))
            .cloned();
        let home = match &callback {
            Some(cb) if cb != EXAMPLE_APP_CALLBACK => {
                // The app listens where its registered callback points.
                let listen = url::Url::parse(cb).ok().and_then(|u| {
                    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
                });
                if let Some(listen) = &listen {
                    cmd.push_str(&format!(" --listen {listen} --redirect-uri {cb}"));
                }
                listen.map(|l| format!("http://{l}"))
            }
            _ => Some("http://127.0.0.1:5555".to_string()),
        };
        if let Some(home) = home {
            out.push(format!("  try a login: run `{cmd}` and open {home}"));
        }
    }
    // Only users with the shipped demo hashes: their password is known to be "password".
    // (Checking a password here would hold up the start by a bcrypt's time.)
    for p in cfg
        .static_passwords
        .iter()
        .filter(|p| p.hash.as_deref().is_some_and(|h| DEMO_HASHES.contains(&h)))
    {
        out.push(format!("  demo login: {} / password", p.email));
    }
    out
}

/// `gantry example-app`'s defaults (src/cli/mod.rs).
const EXAMPLE_APP_ISSUER: &str = "http://127.0.0.1:5556/dex";
const EXAMPLE_APP_CALLBACK: &str = "http://127.0.0.1:5555/callback";

/// The hashes of "password" in config/dev.yaml: Dex's bcrypt one, and an argon2id one.
const DEMO_HASHES: [&str; 2] = [
    "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W",
    "$argon2id$v=19$m=19456,t=2,p=1$UoZtZqpzoGi2pWbUmOBH6Q$bjhiNBVCUR+ccJwvdC0LjzIwjvdLH9FBE8ynAtrcNDk",
];

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Config {
        let text = include_str!("../../config/dev.yaml");
        Config::parse(text).unwrap()
    }

    #[test]
    fn the_banner_of_the_dev_config_names_the_admin_ui_metrics_and_demo_logins() {
        let lines = welcome(&dev(), "gantry").join("\n");
        assert!(
            lines.contains("admin UI:  http://127.0.0.1:5556/dex/admin\n"),
            "{lines}"
        );
        assert!(
            lines.contains("metrics:   http://127.0.0.1:5558/metrics"),
            "{lines}"
        );
        assert!(
            lines.contains("run `gantry example-app` and open http://127.0.0.1:5555"),
            "{lines}"
        );
        assert!(
            lines.contains("demo login: admin@example.com / password"),
            "{lines}"
        );
    }

    #[test]
    fn the_example_app_command_follows_the_issuer_and_callback_it_runs_with() {
        let mut cfg = dev();
        cfg.issuer = "https://id.example.com:8443/dex".into();
        cfg.telemetry.http = None;
        cfg.static_clients[0].redirect_uris = vec!["http://127.0.0.1:7000/callback".into()];
        cfg.policy.admins = Default::default();
        let lines = welcome(&cfg, "/opt/gantry/bin/gantry").join("\n");
        assert!(
            lines.contains(
                "run `/opt/gantry/bin/gantry example-app --issuer https://id.example.com:8443/dex \
                 --listen 127.0.0.1:7000 --redirect-uri http://127.0.0.1:7000/callback` \
                 and open http://127.0.0.1:7000"
            ),
            "{lines}"
        );
        assert!(
            lines.contains("metrics:   https://id.example.com:8443/dex/metrics"),
            "{lines}"
        );
        assert!(lines.contains("nobody may use it yet"), "{lines}");
    }
}
