//! A provider's JSON API whose answers name their next page in the body, not in a `Link`
//! header (that kind is [`super::rest`]'s): Microsoft Graph's `@odata.nextLink`, a URL to call
//! again, and Google's `nextPageToken`, a `pageToken` for the same URL. Read with the user's
//! or a service's access token, through the connector's own [`Http`] and its bound.
//!
//! A next page is followed only on the origin of the first: the token goes to no host the
//! configuration did not name. A rate-limit answer (429, or 403 with `Retry-After`, or Google's
//! rate-limit reasons) is "unavailable, try again", never a refusal of the user.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::rest::{MAX_PAGES, rate_limited};
use super::upstream::{Http, UpstreamError, read_limited};

/// One API, called with one access token.
#[derive(Clone, Copy)]
pub struct Api<'a> {
    http: &'a Http,
    token: &'a str,
}

/// Google answers some rate limits with 403 and no `Retry-After`; these reasons say so.
const GOOGLE_RATE_REASONS: [&str; 3] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
];

impl<'a> Api<'a> {
    pub fn new(http: &'a Http, token: &'a str) -> Api<'a> {
        Api { http, token }
    }

    /// GET (no `body`) or POST a JSON `body` to `url`; the answer's JSON, or why not.
    pub async fn call(
        &self,
        url: &url::Url,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, UpstreamError> {
        let req = match body {
            None => self.http.get(url.as_str()),
            Some(b) => self
                .http
                .post(url.as_str())
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap_or_default()),
        };
        let req = req
            .header("accept", "application/json")
            .bearer_auth(self.token);
        let resp = self.http.send(req).await?;
        let status = resp.status();
        let limited = rate_limited(status, resp.headers());
        let bytes = read_limited(url.as_str(), resp).await?;
        if let Some(why) = limited {
            return Err(UpstreamError::Unavailable(format!("{url}: {why}")));
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if status != StatusCode::OK {
            return Err(answer_error(url, status, json.as_ref()));
        }
        json.ok_or_else(|| UpstreamError::Rejected(format!("{url}: the answer is not JSON")))
    }

    /// Every entry of `value` over the pages a Graph action answers: `body` POSTed to `first`,
    /// then to each `@odata.nextLink` (as Dex's `microsoft` connector pages).
    pub async fn post_all<T: DeserializeOwned>(
        &self,
        first: &url::Url,
        body: &serde_json::Value,
    ) -> Result<Vec<T>, UpstreamError> {
        let mut out = Vec::new();
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let page = self.call(&url, Some(body)).await?;
            out.extend(entries::<T>(&url, &page, "value")?);
            let next = match page.get("@odata.nextLink") {
                None | Some(serde_json::Value::Null) => return Ok(out),
                Some(serde_json::Value::String(n)) => url.join(n).map_err(|_| {
                    UpstreamError::Rejected(format!("{url}: @odata.nextLink is not a URL"))
                })?,
                Some(_) => {
                    return Err(UpstreamError::Rejected(format!(
                        "{url}: @odata.nextLink is not a string"
                    )));
                }
            };
            if next.origin() != first.origin() {
                return Err(UpstreamError::Rejected(format!(
                    "{url}: the next page is on another host ({}); not followed",
                    next.origin().ascii_serialization()
                )));
            }
            url = next;
        }
        Err(UpstreamError::Rejected(format!(
            "{first}: the list goes on past {MAX_PAGES} pages"
        )))
    }

    /// Every entry of `key` over the pages a Google list answers: `first`, then `first` with
    /// `pageToken` set to each `nextPageToken`.
    pub async fn get_all_by_token<T: DeserializeOwned>(
        &self,
        first: &url::Url,
        key: &str,
    ) -> Result<Vec<T>, UpstreamError> {
        let mut out = Vec::new();
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let page = self.call(&url, None).await?;
            out.extend(entries::<T>(&url, &page, key)?);
            let token = match page.get("nextPageToken") {
                None | Some(serde_json::Value::Null) => return Ok(out),
                Some(serde_json::Value::String(t)) if t.is_empty() => return Ok(out),
                Some(serde_json::Value::String(t)) => t.clone(),
                Some(_) => {
                    return Err(UpstreamError::Rejected(format!(
                        "{url}: nextPageToken is not a string"
                    )));
                }
            };
            url = first.clone();
            url.query_pairs_mut().append_pair("pageToken", &token);
        }
        Err(UpstreamError::Rejected(format!(
            "{first}: the list goes on past {MAX_PAGES} pages"
        )))
    }
}

/// The list under `key` of one page (absent is empty, as Google leaves out an empty list).
fn entries<T: DeserializeOwned>(
    url: &url::Url,
    page: &serde_json::Value,
    key: &str,
) -> Result<Vec<T>, UpstreamError> {
    match page.get(key) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            UpstreamError::Rejected(format!("{url}: `{key}` is not what was expected: {e}"))
        }),
    }
}

/// An answer other than 200: a server error or a rate limit may pass, anything else is a no.
/// Graph and Google both answer `{"error": {"code", "message"}}`; the message is kept (clipped)
/// for the log and the login page: it says which permission is missing.
fn answer_error(
    url: &url::Url,
    status: StatusCode,
    body: Option<&serde_json::Value>,
) -> UpstreamError {
    let err = body.and_then(|b| b.get("error"));
    let text = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(200).collect::<String>())
    };
    let google_limit = err
        .and_then(|e| e.get("errors"))
        .and_then(|e| e.as_array())
        .is_some_and(|list| {
            list.iter().any(|x| {
                x.get("reason")
                    .and_then(|r| r.as_str())
                    .is_some_and(|r| GOOGLE_RATE_REASONS.contains(&r))
            })
        });
    let mut m = format!("{url} answered HTTP {}", status.as_u16());
    match (text("code"), text("message")) {
        (Some(c), Some(msg)) => m = format!("{m}: {c}: {msg}"),
        (None, Some(msg)) | (Some(msg), None) => m = format!("{m}: {msg}"),
        (None, None) => {}
    }
    if status.is_server_error() || google_limit {
        UpstreamError::Unavailable(m)
    } else {
        UpstreamError::Rejected(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;
    use axum::response::IntoResponse;

    /// An API on a loopback port: `/graph` answers Graph pages, `/google` Google pages,
    /// `/limited` a rate limit, `/away` a next page on `elsewhere`, `/denied` Graph's refusal.
    async fn api_server(elsewhere: &str) -> String {
        #[derive(serde::Deserialize)]
        struct P {
            page: Option<u32>,
            #[serde(rename = "pageToken")]
            page_token: Option<String>,
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let b = base.clone();
        let away = elsewhere.to_string();
        let app = axum::Router::new()
            .route(
                "/graph",
                axum::routing::post(move |Query(p): Query<P>| {
                    let b = b.clone();
                    async move {
                        let n = p.page.unwrap_or(1);
                        let mut v = serde_json::json!({"value": [n]});
                        if n < 3 {
                            v["@odata.nextLink"] = format!("{b}/graph?page={}", n + 1).into();
                        }
                        axum::Json(v)
                    }
                }),
            )
            .route(
                "/google",
                axum::routing::get(|Query(p): Query<P>| async move {
                    let n: u32 = p.page_token.as_deref().map_or(1, |t| t.len() as u32 + 1);
                    let mut v = serde_json::json!({"groups": [n]});
                    if n < 3 {
                        v["nextPageToken"] = "x".repeat(n as usize).into();
                    }
                    axum::Json(v)
                }),
            )
            .route(
                "/limited",
                axum::routing::get(|| async {
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")], "{}").into_response()
                }),
            )
            .route(
                "/denied",
                axum::routing::post(|| async {
                    (
                        StatusCode::FORBIDDEN,
                        axum::Json(serde_json::json!({"error": {
                            "code": "Authorization_RequestDenied",
                            "message": "Insufficient privileges to complete the operation."}})),
                    )
                }),
            )
            .route(
                "/away",
                axum::routing::post(move || {
                    let away = away.clone();
                    async move {
                        axum::Json(serde_json::json!({"value": [1],
                            "@odata.nextLink": format!("{away}/graph?page=2")}))
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn pages_in_the_body_are_followed_on_the_same_origin_and_limits_are_unavailable() {
        let http = crate::connector::upstream::client(
            &[],
            std::time::Duration::from_secs(5),
            &Default::default(),
        )
        .unwrap();
        let api = Api::new(&http, "t");
        let other = api_server("").await;
        let base = api_server(&other).await;
        let url = |p: &str| url::Url::parse(&format!("{base}{p}")).unwrap();
        let body = serde_json::json!({"securityEnabledOnly": false});
        let all: Vec<u32> = api.post_all(&url("/graph"), &body).await.unwrap();
        assert_eq!(all, [1, 2, 3]);
        let all: Vec<u32> = api
            .get_all_by_token(&url("/google"), "groups")
            .await
            .unwrap();
        assert_eq!(all, [1, 2, 3]);
        let e = api.post_all::<u32>(&url("/away"), &body).await.unwrap_err();
        assert!(e.to_string().contains("another host"), "{e}");
        let e = api.call(&url("/limited"), None).await.unwrap_err();
        assert!(
            matches!(&e, UpstreamError::Unavailable(m) if m.contains("retry after 30 s")),
            "{e:?}"
        );
        let e = api
            .post_all::<u32>(&url("/denied"), &body)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, UpstreamError::Rejected(m) if m.contains("Authorization_RequestDenied")),
            "{e:?}"
        );
        let e = api
            .post_all::<String>(&url("/graph"), &body)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not what was expected"), "{e}");
    }

    #[test]
    fn googles_rate_limit_reasons_are_unavailable_and_other_refusals_are_not() {
        let u = url::Url::parse("https://admin.googleapis.com/x").unwrap();
        let limited = serde_json::json!({"error": {"code": 403, "message": "slow down",
            "errors": [{"reason": "userRateLimitExceeded"}]}});
        assert!(matches!(
            answer_error(&u, StatusCode::FORBIDDEN, Some(&limited)),
            UpstreamError::Unavailable(_)
        ));
        let refused = serde_json::json!({"error": {"code": 403, "message": "Not Authorized",
            "errors": [{"reason": "forbidden"}]}});
        let e = answer_error(&u, StatusCode::FORBIDDEN, Some(&refused));
        assert!(
            matches!(&e, UpstreamError::Rejected(m) if m.contains("Not Authorized")),
            "{e:?}"
        );
    }
}
