//! One access line and the request metrics per answered request.
//!
//! The line (`gantry::access`, at `info`) names the method, the route (the router's pattern,
//! never the path as sent: query strings carry codes and tokens, and paths can carry anything
//! a client typed), the status, the latency and the request id. Health probes and metric
//! scrapes arrive every few seconds and say nothing about users: their lines are `debug`.
//! A request that ends without an answer from below (a panic, the request timeout, a client
//! that hung up) is still counted and logged, with the status the client got or 499.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{Metrics, UNMATCHED};

/// The target of access lines, for filters (`RUST_LOG`-style directives name it).
pub const TARGET: &str = "gantry::access";

/// nginx's code for a request whose client closed the connection before the answer.
const CLIENT_GONE: u16 = 499;

/// What the observing layer needs; cloned into the router once.
#[derive(Debug, Clone)]
pub struct Access {
    pub metrics: Arc<Metrics>,
    /// Full routes (the issuer's path included) whose lines are `debug`.
    quiet: Arc<[String]>,
    /// The request timeout of the outer layers: a request dropped after it got their 408.
    timeout: Duration,
}

impl Access {
    /// `base_path` is the issuer's path, under which the probes and `/metrics` are served.
    pub fn new(metrics: Arc<Metrics>, base_path: &str, timeout: Duration) -> Access {
        let quiet = ["/healthz", "/healthz/ready", "/metrics"]
            .iter()
            .map(|p| format!("{base_path}{p}"))
            .collect();
        Access {
            metrics,
            quiet,
            timeout,
        }
    }

    fn is_quiet(&self, route: &str) -> bool {
        self.quiet.iter().any(|q| q == route)
    }

    /// Count and log one answered request.
    pub fn record(
        &self,
        method: &Method,
        route: &str,
        status: u16,
        took: Duration,
        request_id: Option<&HeaderValue>,
    ) {
        self.metrics.http(route, status, took);
        line(
            self.is_quiet(route),
            method,
            route,
            status,
            took,
            request_id,
        );
    }
}

fn line(
    quiet: bool,
    method: &Method,
    route: &str,
    status: u16,
    took: Duration,
    request_id: Option<&HeaderValue>,
) {
    // Whole microseconds, as milliseconds: finer is noise, coarser hides the fast paths.
    let latency_ms = took.as_micros() as f64 / 1000.0;
    let request_id = request_id.and_then(|v| v.to_str().ok()).unwrap_or_default();
    // `parent: None`: the text format then writes the line without the request span's fields
    // in front (they would repeat these); the JSON format names the span all the same.
    if quiet {
        tracing::debug!(target: TARGET, parent: None, %method, route, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(target: TARGET, parent: None, %method, route, status, latency_ms, request_id, "request");
    }
}

/// Whether any access line could be written (`debug` is never on where `info` is off): when
/// not, nothing is gathered for one.
fn lines_enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// A request on its way; records itself when dropped unanswered.
struct Pending<'a> {
    access: &'a Access,
    method: Method,
    route: Option<MatchedPath>,
    request_id: Option<HeaderValue>,
    started: Instant,
    answered: bool,
}

impl Pending<'_> {
    fn record(&mut self, status: u16) {
        self.answered = true;
        let route = self.route.as_ref().map_or(UNMATCHED, |p| p.as_str());
        self.access.record(
            &self.method,
            route,
            status,
            self.started.elapsed(),
            self.request_id.as_ref(),
        );
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let status = if std::thread::panicking() {
            // The panic layer above answers 500.
            StatusCode::INTERNAL_SERVER_ERROR.as_u16()
        } else if self.started.elapsed() >= self.access.timeout {
            StatusCode::REQUEST_TIMEOUT.as_u16()
        } else {
            CLIENT_GONE
        };
        self.record(status);
    }
}

/// The middleware, inside the router so that the matched route is known.
pub async fn observe(State(access): State<Access>, req: Request, next: Next) -> Response {
    let mut pending = Pending {
        access: &access,
        // A cheap clone (the path is shared), so nothing is allocated per request.
        route: req.extensions().get::<MatchedPath>().cloned(),
        method: req.method().clone(),
        request_id: lines_enabled()
            .then(|| req.headers().get("x-request-id").cloned())
            .flatten(),
        started: Instant::now(),
        answered: false,
    };
    let resp = next.run(req).await;
    pending.record(resp.status().as_u16());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_scrapes_under_the_issuer_path_are_quiet_and_nothing_else_is() {
        let a = Access::new(Arc::default(), "/dex", Duration::from_secs(30));
        for q in ["/dex/healthz", "/dex/healthz/ready", "/dex/metrics"] {
            assert!(a.is_quiet(q), "{q}");
        }
        for loud in ["/healthz", "/dex/token", "/dex/keys", UNMATCHED] {
            assert!(!a.is_quiet(loud), "{loud}");
        }
    }

    fn counted(a: &Access, route: &str, code: u16) -> bool {
        a.metrics.render().contains(&format!(
            "gantry_http_requests_total{{route=\"{route}\",code=\"{code}\"}} 1\n"
        ))
    }

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    /// A handler that panics, and one whose client hangs up, are counted all the same.
    #[tokio::test]
    async fn requests_that_end_without_an_answer_are_counted() {
        use axum::routing::get;
        use tower::ServiceExt;
        let a = Access::new(Arc::default(), "", Duration::from_secs(30));
        let app = axum::Router::new()
            .route("/boom", get(boom))
            .route("/slow", get(std::future::pending::<&'static str>))
            .layer(axum::middleware::from_fn_with_state(a.clone(), observe))
            .layer(tower_http::catch_panic::CatchPanicLayer::new());
        let get = |p: &str| Request::get(p).body(axum::body::Body::empty()).unwrap();
        let r = app.clone().oneshot(get("/boom")).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(counted(&a, "/boom", 500), "{}", a.metrics.render());
        // The client gives up: its request's future is dropped unanswered.
        let gone = tokio::time::timeout(Duration::from_millis(50), app.oneshot(get("/slow")));
        assert!(gone.await.is_err());
        assert!(counted(&a, "/slow", 499), "{}", a.metrics.render());
    }
}
