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

#[derive(Template, WebTemplate)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage {
    pub title: String,
    pub approved: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    pub title: String,
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
