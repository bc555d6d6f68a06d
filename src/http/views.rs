//! Askama page templates. Values are HTML-escaped by askama; templates never mark input safe.

use askama::Template;
use askama_web::WebTemplate;

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

pub struct ConnectorLink {
    pub name: String,
    pub url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "chooser.html")]
pub struct ChooserPage {
    pub title: String,
    pub connectors: Vec<ConnectorLink>,
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub title: String,
    pub action: String,
    pub request_id: String,
    pub csrf: String,
    pub prompt: String,
    pub username: String,
    pub error: String,
    /// Whether browser sessions are on: then the form offers "remember me".
    pub sessions: bool,
    /// The box's state.
    pub remember: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "approval.html")]
pub struct ApprovalPage {
    pub title: String,
    pub action: String,
    pub request_id: String,
    pub csrf: String,
    pub client_name: String,
    pub username: String,
    pub scopes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "device.html")]
pub struct DevicePage {
    pub title: String,
    pub action: String,
    pub csrf: String,
    pub user_code: String,
    pub error: String,
}

/// The question a device login always ends with: sign this device in as you?
#[derive(Template, WebTemplate)]
#[template(path = "device_confirm.html")]
pub struct DeviceConfirmPage {
    pub title: String,
    pub action: String,
    pub request_id: String,
    pub csrf: String,
    pub client_name: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub user_code: String,
    /// When the device asked, in UTC, and how long ago.
    pub requested_at: String,
    pub requested_ago: String,
    pub requested_from: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage {
    pub title: String,
    pub approved: bool,
}

/// The second-factor page: an enrolment (secret and QR code) or a code form.
#[derive(Template, WebTemplate)]
#[template(path = "mfa.html")]
pub struct MfaPage {
    pub title: String,
    pub action: String,
    pub request_id: String,
    pub csrf: String,
    pub username: String,
    pub enrol: bool,
    /// The enrolment's secret, base32.
    pub secret: String,
    /// The enrolment's QR code, a `data:` URI.
    pub qr: String,
    /// Offer a recovery code instead.
    pub recovery: bool,
    pub error: String,
}

/// The second-factor page of a WebAuthn authenticator: register a key, or sign in with one.
/// Its script (static/webauthn.js) runs the browser's ceremony with `options` and posts the
/// result in the form; without it, the page says so and offers a recovery code.
#[derive(Template, WebTemplate)]
#[template(path = "mfa_key.html")]
pub struct MfaKeyPage {
    pub title: String,
    pub action: String,
    pub request_id: String,
    pub csrf: String,
    pub username: String,
    pub register: bool,
    /// A further key, after this login's factor was given.
    pub adding: bool,
    /// The names of the user's keys.
    pub keys: Vec<String>,
    /// The ceremony's options (JSON), for `navigator.credentials`.
    pub options: String,
    pub script: String,
    /// Where "not now" leads when adding a key.
    pub skip: String,
    pub recovery: bool,
    pub error: String,
}

/// Recovery codes, shown once after the first factor is confirmed.
#[derive(Template, WebTemplate)]
#[template(path = "mfa_recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub title: String,
    /// Where the login goes on.
    pub next: String,
    pub codes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    pub title: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage {
    pub title: String,
    pub action: String,
    pub csrf: String,
    /// The logout request's parameters, carried through the form.
    pub fields: Vec<(String, String)>,
}

/// A time for people: UTC, to the second (`2025-03-01 09:04:05 UTC`).
pub fn utc_time(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{} {:02}:{:02}:{:02} UTC",
            d.date(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => "an unknown time".into(),
    }
}

/// How long ago, for people: `just now`, `3 minutes ago`, `2 hours ago`.
pub fn ago(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 172_800 => plural(s / 3600, "hour"),
        s => plural(s / 86_400, "day"),
    }
}

/// Plain-language meaning of a scope for the approval page.
pub fn describe_scope(s: &str) -> String {
    match s {
        "openid" => "Know who you are".into(),
        "email" => "See your email address".into(),
        "profile" => "See your name and username".into(),
        "groups" => "See the groups you belong to".into(),
        "offline_access" => "Stay signed in (refresh tokens)".into(),
        "federated:id" => "See which identity provider you used".into(),
        other => match other.strip_prefix("audience:server:client_id:") {
            Some(peer) => format!("Act for {peer}"),
            None => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc_and_ages_in_words() {
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(i64::MAX), "an unknown time");
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(299), "4 minutes ago");
        assert_eq!(ago(7200), "2 hours ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
    }
}
