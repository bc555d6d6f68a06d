//! The page a destroying admin form (rotate a secret, delete, revoke) answers first: what will
//! happen, a Confirm button that posts the same form again with `confirm=yes`, and Cancel.
//! Plain HTML, so it works without JavaScript; nothing changes until the second post, which
//! carries the CSRF token like every admin form.

use askama::Template;
use askama_web::WebTemplate;
use axum::response::{IntoResponse, Response};

use super::ui::Nav;
use crate::http::AppState;

/// Whether a posted form is the confirmed second post.
pub(super) fn confirmed(value: Option<&str>) -> bool {
    value == Some("yes")
}

/// What to ask before acting.
pub(super) struct Ask {
    /// The question, as the page's heading.
    pub heading: String,
    /// What will happen, in a sentence or two.
    pub what: String,
    /// The Confirm button's label.
    pub button: &'static str,
    /// The path the form posted to (under the issuer path), posted to again.
    pub action: &'static str,
    /// The form's own fields, sent again as they came (without `csrf` and `confirm`).
    pub fields: Vec<(&'static str, String)>,
    /// The page Cancel goes back to.
    pub cancel: &'static str,
}

struct Field {
    name: &'static str,
    value: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage {
    title: String,
    base: String,
    csrf: String,
    admin: String,
    /// The navigation link marked as this page (a path under the issuer's).
    here: &'static str,
    heading: String,
    what: String,
    button: &'static str,
    action: &'static str,
    fields: Vec<Field>,
    cancel: &'static str,
}

/// The confirmation page for `ask`.
pub(super) fn ask(s: &AppState, n: Nav, ask: Ask) -> Response {
    let page = ConfirmPage {
        title: s.web.title.clone(),
        base: n.base,
        csrf: n.csrf,
        admin: n.admin,
        here: ask.cancel,
        heading: ask.heading,
        what: ask.what,
        button: ask.button,
        action: ask.action,
        fields: ask
            .fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect(),
        cancel: ask.cancel,
    };
    ([("cache-control", "no-store")], page).into_response()
}
