//! The id of the request being handled, for what is recorded outside its tracing span: audit
//! events in the database carry it, so an event can be matched with the request's log lines
//! and the client's X-Request-Id.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Run `f` as part of the request `id`.
pub async fn scope<F: Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// The current request's id; empty outside a request (background tasks).
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}
