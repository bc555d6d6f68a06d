//! The loopback redirect of a CLI login (RFC 8252): serve `/callback` on an already bound
//! port, take one answer, show the browser a page, and hand back the code once the answer is
//! checked. Shared by `gantry kubectl credential` and `gantry registry login`.

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::mpsc;

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

const PAGE: &str = "<!doctype html><meta charset=utf-8><title>Gantry</title><h1>Logged in</h1>\
<p>It is safe to close this window and go back to your terminal.</p>";

/// Wait up to `timeout` for the authorization response on `listener` and return its code,
/// if it carries `state` and no error. The listener is bound before the browser is sent off,
/// so an early answer waits in the backlog.
pub async fn wait_for_code(
    listener: tokio::net::TcpListener,
    state: &str,
    timeout: Duration,
) -> Result<String, String> {
    let (tx, mut rx) = mpsc::channel::<Callback>(1);
    let app = Router::new()
        .route(
            "/callback",
            get(
                |State(tx): State<mpsc::Sender<Callback>>, Query(cb): Query<Callback>| async move {
                    let _ = tx.send(cb).await;
                    Html(PAGE)
                },
            ),
        )
        .with_state(tx);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let cb = tokio::time::timeout(timeout, rx.recv())
        .await
        .map_err(|_| format!("login timed out after {timeout:?}"))?
        .ok_or("login aborted")?;
    // Let the browser receive its page before the process moves on (or exits on an error).
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    if let Some(e) = cb.error {
        return Err(format!(
            "login failed: {e}: {}",
            cb.error_description.unwrap_or_default()
        ));
    }
    if cb.state.as_deref() != Some(state) {
        return Err("the login answer does not belong to this login (state mismatch)".into());
    }
    cb.code.ok_or_else(|| "the login answer has no code".into())
}
