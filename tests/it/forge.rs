//! What the stand-in GitHub and GitLab of `github.rs` and `gitlab.rs` share: a TLS listener
//! with a CA of its own, a browser that trusts it, and a login through Gantry's pages that
//! reports a refusal instead of stopping at it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// `router` served over TLS on 127.0.0.1 with a certificate of its own; (port, the PEM to
/// trust it by).
pub async fn serve_tls(router: axum::Router) -> (u16, String) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let tls = gantry::http::listen::tls_from_pem(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let admission = gantry::http::listen::Admission {
        limits: std::sync::Arc::new(
            gantry::ratelimit::RateLimits::new(&Default::default()).unwrap(),
        ),
        metrics: std::sync::Arc::default(),
    };
    tokio::spawn(gantry::http::listen::serve(
        listener,
        Some(tls),
        router,
        admission,
        std::future::pending(),
    ));
    (port, cert.cert.pem())
}

/// A browser (cookies, no redirects followed) that also trusts `ca`.
pub fn browser(ca: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// A login of the `rp` client through `connector` asking for `scope`: the browser goes from
/// `/auth` to the provider and back, approves, and the code is redeemed. The tokens, or the
/// status and text of the page that stopped the login.
pub async fn log_in(
    app: &TestApp,
    browser: &reqwest::Client,
    connector: &str,
    scope: &str,
) -> Result<Value, (StatusCode, String)> {
    let mut url = rp_auth_url(app, connector, scope, &[("state", "st"), ("nonce", "nn")]);
    let mut resp = browser.get(&url).send().await.unwrap();
    for _ in 0..12 {
        if resp.status().is_redirection() {
            url = reqwest::Url::parse(&url)
                .unwrap()
                .join(location(&resp))
                .unwrap()
                .to_string();
            if url.starts_with(RP_REDIRECT) {
                assert_eq!(query_param(&url, "state").as_deref(), Some("st"));
                let code = query_param(&url, "code").expect("a code");
                let (status, body) = app.exchange(&code, None, RP).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                return Ok(body);
            }
            resp = browser.get(&url).send().await.unwrap();
            continue;
        }
        let status = resp.status();
        let page = resp.text().await.unwrap_or_default();
        if !status.is_success() || !page.contains("name=\"approval\"") {
            return Err((status, page));
        }
        let action = reqwest::Url::parse(&url)
            .unwrap()
            .join(&form_action(&page).unwrap().replace("&amp;", "&"))
            .unwrap()
            .to_string();
        let mut form = hidden_inputs(&page);
        form.push(("approval".into(), "approve".into()));
        url = action.clone();
        resp = browser.post(&action).form(&form).send().await.unwrap();
    }
    panic!("too many hops, last at {url}");
}

/// Redeem a refresh token for the `rp` client.
pub async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post_token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Some(RP),
    )
    .await
}

/// The query of a request as pairs.
pub fn query(uri: &axum::http::Uri) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// One page of `items` at `path` (per_page capped at `max`), with GitHub's and GitLab's
/// `Link` header naming the next and last pages.
pub fn page(
    base: &str,
    path: &str,
    q: &std::collections::HashMap<String, String>,
    items: &[Value],
    max: usize,
) -> (Vec<Value>, Option<String>) {
    let per = q
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, max);
    let n = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per).max(1);
    let chunk = items
        .iter()
        .skip((n - 1) * per)
        .take(per)
        .cloned()
        .collect();
    let link = |p: usize| {
        let mut pairs: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.sort();
        pairs.push(("page".into(), p.to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{base}{path}?{qs}")
    };
    let header = (n < last).then(|| {
        format!(
            "<{}>; rel=\"next\", <{}>; rel=\"last\"",
            link(n + 1),
            link(last)
        )
    });
    (chunk, header)
}
