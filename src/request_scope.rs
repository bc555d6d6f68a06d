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

/// Whether a caller's own X-Request-Id may stand for its request: short, and of characters that
/// no log format reads as anything but part of one value. Anything else is replaced by an id
/// of Gantry's: it is written into every audit event and log line of the request.
pub fn acceptable_id(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_of_callers_are_kept() {
        for ok in ["abc", "7f3e-01", "trace:1.2_3", &"a".repeat(64)] {
            assert!(acceptable_id(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "abc outcome=success",
            "a\"b",
            "a\nb",
            "a=b",
            &"a".repeat(65),
        ] {
            assert!(!acceptable_id(bad.as_bytes()), "{bad}");
        }
    }
}
