//! Request ids (a caller's own when it is plain enough, else Gantry's) and the headers every
//! answer carries: what the outer layers of `app::build` and the static documents share.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

/// A caller's X-Request-Id that could not stand in a log line goes: Gantry sets its own.
pub(crate) fn drop_unacceptable(h: &mut axum::http::HeaderMap) {
    let keep = h.get_all("x-request-id").iter().count() == 1
        && h.get("x-request-id")
            .is_some_and(|v| crate::request_scope::acceptable_id(v.as_bytes()));
    if !keep {
        h.remove("x-request-id");
    }
}

#[derive(Clone)]
pub(crate) struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> RequestIds {
        RequestIds {
            prefix: crate::secret::random_token(9).into(),
            next: Arc::default(),
        }
    }

    pub(crate) fn next(&self) -> Option<HeaderValue> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix)).ok()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        self.next().map(RequestId::new)
    }
}

pub(crate) fn apply_headers(mut resp: Response, headers: &[(HeaderName, HeaderValue)]) -> Response {
    let h = resp.headers_mut();
    for (k, v) in headers {
        if !h.contains_key(k) {
            h.insert(k.clone(), v.clone());
        }
    }
    resp
}
