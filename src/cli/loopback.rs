//! The loopback redirect of a CLI login (RFC 8252): serve `/callback` on an already bound
//! port and hand back the code of the one answer that carries this login's `state`. Shared by
//! `gantry kubectl credential` and `gantry registry login`.
//!
//! Any web page open in the user's browser can send requests to this port. So a request is
//! looked at only once its `state` is this login's (a secret that page cannot know); any other
//! is answered 400 and ignored, and the login goes on waiting. Nothing from a request reaches
//! the terminal unless it passed that check, and then only through `printable`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::terminal::printable;
use crate::secret;

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

const DONE: &str = "<!doctype html><meta charset=utf-8><title>Gantry</title><h1>Logged in</h1>\
<p>It is safe to close this window and go back to your terminal.</p>";
const FAILED: &str = "<!doctype html><meta charset=utf-8><title>Gantry</title>\
<h1>Login failed</h1><p>Your terminal says why. You can close this window.</p>";
const NOT_OURS: &str = "<!doctype html><meta charset=utf-8><title>Gantry</title>\
<h1>Not this login</h1><p>This answer does not belong to the login in progress.</p>";

type Outcome = Result<String, String>;

struct Waiting {
    state: String,
    tx: mpsc::Sender<Outcome>,
}

/// What an answer carrying this login's state means for the login.
fn outcome(cb: Callback) -> Outcome {
    if let Some(e) = cb.error {
        return Err(format!(
            "login failed: {}: {}",
            printable(&e).chars().take(300).collect::<String>(),
            printable(&cb.error_description.unwrap_or_default())
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
    cb.code.ok_or_else(|| "the login answer has no code".into())
}

async fn callback(State(w): State<Arc<Waiting>>, Query(cb): Query<Callback>) -> Response {
    let ours = cb
        .state
        .as_deref()
        .is_some_and(|s| secret::ct_eq(s, &w.state));
    if !ours {
        return (StatusCode::BAD_REQUEST, Html(NOT_OURS)).into_response();
    }
    let o = outcome(cb);
    let page = if o.is_ok() { DONE } else { FAILED };
    // The first answer decides; a reload of the page finds the channel full and changes nothing.
    let _ = w.tx.try_send(o);
    Html(page).into_response()
}

/// Wait up to `timeout` for the authorization response with `state` on `listener`; its code,
/// or the error it carries. The listener is bound before the browser is sent off, so an early
/// answer waits in the backlog.
pub async fn wait_for_code(
    listener: tokio::net::TcpListener,
    state: &str,
    timeout: Duration,
) -> Result<String, String> {
    let (tx, mut rx) = mpsc::channel::<Outcome>(1);
    let app = Router::new()
        .route("/callback", get(callback))
        .with_state(Arc::new(Waiting {
            state: state.to_string(),
            tx,
        }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let answer = tokio::time::timeout(timeout, rx.recv()).await;
    // Let the browser receive its page before the process moves on (or exits on an error).
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    answer
        .map_err(|_| format!("login timed out after {timeout:?}"))?
        .ok_or("login aborted")?
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn listen() -> (tokio::net::TcpListener, String) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", l.local_addr().unwrap());
        (l, url)
    }

    #[tokio::test]
    async fn answers_of_other_logins_are_ignored_until_this_one_comes() {
        let (l, url) = listen().await;
        let wait = tokio::spawn(wait_for_code(l, "s3cret", Duration::from_secs(20)));
        for q in [
            "?code=stolen&state=guess",
            "?code=stolen",
            "?error=access_denied&error_description=%1b]52;c;ZXZpbA==%07",
            "?error=x&state=",
        ] {
            let r = reqwest::get(format!("{url}{q}")).await.unwrap();
            assert_eq!(r.status(), 400, "{q}");
        }
        assert!(!wait.is_finished(), "the login goes on waiting");
        let r = reqwest::get(format!("{url}?code=the-code&state=s3cret"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(wait.await.unwrap().unwrap(), "the-code");
    }

    #[tokio::test]
    async fn an_error_of_this_login_ends_it_printable() {
        let (l, url) = listen().await;
        let wait = tokio::spawn(wait_for_code(l, "s3cret", Duration::from_secs(20)));
        let r = reqwest::get(format!(
            "{url}?state=s3cret&error=access_denied%1b[2J&error_description=no%1b]52;c;ZXZpbA==%07"
        ))
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let e = wait.await.unwrap().unwrap_err();
        assert_eq!(e, "login failed: access_denied[2J: no]52;c;ZXZpbA==");
    }
}
