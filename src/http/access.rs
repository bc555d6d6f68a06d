//! The request metrics of each answered request, by route: the router's pattern, never the
//! path as sent (a client could make up paths without end).
//! A request that ends without an answer from below (a panic, the request timeout, a client
//! that hung up) is still counted, with the status the client got or 499.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{Metrics, UNMATCHED};

/// nginx's code for a request whose client closed the connection before the answer.
const CLIENT_GONE: u16 = 499;

/// What the observing layer needs; cloned into the router once.
#[derive(Debug, Clone)]
pub struct Access {
    pub metrics: Arc<Metrics>,
    /// The request timeout of the outer layers: a request dropped after it got their 408.
    timeout: Duration,
}

impl Access {
    pub fn new(metrics: Arc<Metrics>, timeout: Duration) -> Access {
        Access { metrics, timeout }
    }

    /// Count one answered request.
    pub fn record(&self, route: &str, status: u16, took: Duration) {
        self.metrics.http(route, status, took);
    }
}

/// A request on its way; records itself when dropped unanswered.
struct Pending<'a> {
    access: &'a Access,
    route: Option<MatchedPath>,
    started: Instant,
    answered: bool,
}

impl Pending<'_> {
    fn record(&mut self, status: u16) {
        self.answered = true;
        let route = self.route.as_ref().map_or(UNMATCHED, |p| p.as_str());
        self.access.record(route, status, self.started.elapsed());
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
        started: Instant::now(),
        answered: false,
    };
    let resp = next.run(req).await;
    pending.record(resp.status().as_u16());
    resp
}
