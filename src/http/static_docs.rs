//! Discovery and JWKS answered in front of the per-request layers.
//!
//! Both are pre-rendered bytes that every relying party, API server and kubectl fetches
//! often. Through the layers every request passes (request span, panic guard, timeout, path
//! nesting, per-route metrics) they reached about half of what a bare axum endpoint answers;
//! here they skip the layers that cannot matter for a constant (nothing can panic or time out
//! in a clone of shared bytes) and keep what a client sees: the security headers, a request
//! id, and what an operator sees: the route's metrics and access line. Cross-origin requests
//! (an `Origin` header) and anything but GET take the layered path, so CORS and HEAD answer
//! as before.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tower::Service;

use crate::http::AppState;
use crate::http::access::Access;
use crate::http::discovery::{discovery_response, keys_response};
use crate::http::request_ids::{RequestIds, apply_headers};

#[derive(Clone)]
pub(crate) struct StaticDocs<S> {
    pub inner: S,
    pub state: AppState,
    /// Counts and logs each answer, as the layered path does.
    pub access: Access,
    /// Full paths (the issuer's path prefix included), as the metrics name routes.
    pub discovery_path: Arc<str>,
    pub keys_path: Arc<str>,
    pub headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    pub request_ids: RequestIds,
}

impl<S> Service<Request> for StaticDocs<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DocsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let path = req.uri().path();
        if req.method() != Method::GET || req.headers().contains_key(header::ORIGIN) {
            return DocsFuture::Inner {
                inner: self.inner.call(req),
            };
        }
        let (route, resp) = if path == &*self.discovery_path {
            (&self.discovery_path, discovery_response(&self.state))
        } else if path == &*self.keys_path {
            (&self.keys_path, keys_response(&self.state))
        } else {
            return DocsFuture::Inner {
                inner: self.inner.call(req),
            };
        };
        let mut resp = apply_headers(resp, &self.headers);
        // A caller's own request id is echoed, as the layered path does.
        let id = req
            .headers()
            .get("x-request-id")
            .filter(|v| crate::request_scope::acceptable_id(v.as_bytes()))
            .cloned()
            .or_else(|| self.request_ids.next());
        self.access.record(
            &Method::GET,
            route,
            resp.status().as_u16(),
            started.elapsed(),
            id.as_ref(),
        );
        if let Some(id) = id {
            resp.headers_mut().insert("x-request-id", id);
        }
        DocsFuture::Ready { resp: Some(resp) }
    }
}

pin_project_lite::pin_project! {
    /// Either the answer at hand or the layered path's future.
    #[project = DocsProj]
    pub(crate) enum DocsFuture<F> {
        Ready { resp: Option<Response> },
        Inner { #[pin] inner: F },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for DocsFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            DocsProj::Ready { resp } => match resp.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled again after it answered: a caller bug, answered as the layers would.
                None => Poll::Ready(Ok(crate::http::error::PageError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "This answer was already sent.",
                )
                .into_response())),
            },
            DocsProj::Inner { inner } => inner.poll(cx),
        }
    }
}
