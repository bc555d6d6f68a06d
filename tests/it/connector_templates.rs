//! The connector form's template per type (templates/connectors/): choosing a type, without
//! any script, fills the form with it, and each saves as it is shown once the form's secret
//! field is filled, through the same checks as any connector an admin saves.

use reqwest::StatusCode;

use crate::admin::{app, sign_in};
use crate::support::*;

/// The text of a form field as the browser reads it from the page's escaped HTML.
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').unwrap();
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            e => char::from_u32(e.trim_start_matches('#').parse().unwrap()).unwrap(),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn textarea(page: &str, name: &str) -> String {
    let open = format!("<textarea name=\"{name}\"");
    let body = page.split(&open).nth(1).unwrap();
    let body = &body[body.find('>').unwrap() + 1..];
    unescape(body.split("</textarea>").next().unwrap())
}

#[tokio::test]
async fn each_connector_type_fills_the_form_with_a_template_that_saves_as_shown() {
    let app = app().await;
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let callback = app.url("/callback");
    for kind in ["ldap", "oidc", "oauth", "saml", "github", "gitlab"] {
        let r = b
            .get(app.url(&format!("/admin/connectors?type={kind}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{kind}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains(&format!("<option selected>{kind}</option>")),
            "{kind}: the chooser shows the type"
        );
        assert_eq!(hidden(&page, "type"), kind, "the form saves that type");
        let config = textarea(&page, "config");
        let file = std::fs::read_to_string(format!(
            "{}/templates/connectors/{kind}.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            config,
            file.replace("CALLBACK_URL", &callback),
            "{kind}: the form holds the template, naming this issuer's callback"
        );
        assert!(
            config.lines().filter(|l| l.contains('#')).count() >= 3,
            "{kind}: explained"
        );

        // Saved as shown, its secret in the secret field: the server builds it.
        let id = format!("template-{kind}");
        let r = b
            .post(app.url("/admin/connectors"))
            .form(&[
                ("csrf", hidden(&page, "csrf").as_str()),
                ("mode", "create"),
                ("id", &id),
                ("name", &format!("From the {kind} template")),
                ("type", &hidden(&page, "type")),
                ("config", &config),
                (
                    "secret",
                    if kind == "saml" {
                        ""
                    } else {
                        "a placeholder secret"
                    },
                ),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        assert!(
            body.contains(&format!("Connector {id} created")),
            "{kind}: {body}"
        );
        let v = app.admin.connector_view_of(&id).unwrap();
        assert_eq!(v.kind, kind);
    }

    // Without a type, the form starts as LDAP; a type admins cannot create is named.
    let page = b
        .get(app.url("/admin/connectors"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(textarea(&page, "config").contains("userSearch:"));
    let r = b
        .get(app.url("/admin/connectors?type=keystone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("type: one of ldap, oidc, oauth, saml, github, gitlab, microsoft, google")
    );

    // Editing shows the type's template beside the connector's own config.
    let page = b
        .get(app.url("/admin/connectors?edit=template-oidc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"connector-template\""), "{page}");
    assert!(
        textarea(&page, "config").contains("sso.example.com"),
        "{page}"
    );
}

/// YAML nested past the bound is refused with a message before the parser spends its
/// quadratic time on it (64 KB of `[` cost seconds per request before).
#[tokio::test]
async fn deeply_nested_yaml_in_the_connector_form_is_refused_at_once() {
    let app = app().await;
    let (b, _) = sign_in(&app, "admin@example.com").await;
    let page = b
        .get(app.url("/admin/connectors?type=ldap"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let deep = format!("host: {}{}", "[".repeat(9_000), "]".repeat(9_000));
    let r = b
        .post(app.url("/admin/connectors"))
        .form(&[
            ("csrf", hidden(&page, "csrf").as_str()),
            ("mode", "create"),
            ("id", "deep"),
            ("name", "Deep"),
            ("type", "ldap"),
            ("config", &deep),
            ("secret", ""),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(status.is_client_error(), "{status}");
    assert!(
        body.contains("YAML nested deeper than 64 levels"),
        "{}",
        &body[body.find("<main").unwrap_or(0)..]
            [..3000.min(body.len() - body.find("<main").unwrap_or(0))]
    );
    assert!(app.admin.connector_view_of("deep").is_none());
}
