//! Text from a server on its way to the user's terminal. Whatever a server, an IdP or a web
//! page put into an error, a discovery document or a device-flow answer passes through
//! [`printable`] before it is printed: an escape sequence could otherwise clear the screen,
//! rewrite what the user reads, or set the clipboard (OSC 52).

pub use crate::printable::printable;

/// What an OAuth error answer says went wrong: its `error` and `error_description`, printable
/// and short, and never the rest: an answer that holds live tokens (an access token without
/// the refresh token asked for) must not end up in a CI log.
pub fn error_fields(answer: &serde_json::Value) -> String {
    let field = |k: &str| {
        answer[k]
            .as_str()
            .map(|v| printable(v).chars().take(300).collect::<String>())
    };
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e,
        _ => "the answer names no error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_answer_is_reported_without_its_tokens() {
        let live = serde_json::json!({"access_token": "eyJhbGciOi.secret.sig", "id_token": "eyJ.x.y",
                                      "token_type": "Bearer"});
        let shown = error_fields(&live);
        assert!(
            !shown.contains("eyJ") && !shown.contains("secret"),
            "{shown}"
        );
        let refused =
            serde_json::json!({"error": "invalid_grant", "error_description": "bad\u{1b}[2Jcode"});
        assert_eq!(error_fields(&refused), "invalid_grant: bad[2Jcode");
    }
}
