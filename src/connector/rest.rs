//! A code forge's REST API (GitHub's, GitLab's) read with a user's access token: JSON answers
//! read with [`upstream`]'s bound, lists followed page by page through `Link: <…>; rel="next"`,
//! and a rate-limit answer turned into "unavailable, until …" instead of a refusal.
//!
//! A next-page link is followed only on the origin of the list's first page: the access token
//! goes to no host that the configuration did not name. Shared by the `github` and `gitlab`
//! connectors; every request goes through the connector's own [`Http`].

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use super::upstream::{Http, UpstreamError, read_limited};

/// Most pages read of one list (GitHub's pages hold up to 100 entries): a server that always
/// names a next page must not keep a login waiting forever.
pub const MAX_PAGES: usize = 100;

/// One provider's API, called with one access token.
#[derive(Clone, Copy)]
pub struct Api<'a> {
    http: &'a Http,
    token: &'a str,
    /// Headers the provider asks every call to carry (GitHub's API version).
    headers: &'a [(&'static str, &'static str)],
}

/// An answer of the API: its status, its body and the next page it names.
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub next: Option<url::Url>,
}

impl<'a> Api<'a> {
    pub fn new(
        http: &'a Http,
        token: &'a str,
        headers: &'a [(&'static str, &'static str)],
    ) -> Api<'a> {
        Api {
            http,
            token,
            headers,
        }
    }

    /// GET `url`, whatever the status; a rate-limit answer is an error.
    pub async fn get(&self, url: &url::Url) -> Result<Answer, UpstreamError> {
        let mut req = self.http.get(url.as_str()).bearer_auth(self.token);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            req = req.header("accept", "application/json");
        }
        for (k, v) in self.headers {
            req = req.header(*k, *v);
        }
        let resp = self.http.send(req).await?;
        let status = resp.status();
        if let Some(why) = rate_limited(status, resp.headers()) {
            return Err(UpstreamError::Unavailable(format!("{url}: {why}")));
        }
        let next = resp
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link)
            .and_then(|n| url.join(&n).ok());
        let body = read_limited(url.as_str(), resp).await?;
        Ok(Answer { status, body, next })
    }

    /// GET a JSON document; anything but 200 is an error.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &url::Url) -> Result<T, UpstreamError> {
        Ok(self.get_page(url).await?.0)
    }

    /// Every entry of a list, page after page.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        first: &url::Url,
    ) -> Result<Vec<T>, UpstreamError> {
        let mut out = Vec::new();
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let (page, next): (Vec<T>, _) = self.get_page(&url).await?;
            out.extend(page);
            match next {
                None => return Ok(out),
                Some(n) if n.origin() != first.origin() => {
                    return Err(UpstreamError::Rejected(format!(
                        "{url}: the next page is on another host ({}); not followed",
                        n.origin().ascii_serialization()
                    )));
                }
                Some(n) => url = n,
            }
        }
        Err(UpstreamError::Rejected(format!(
            "{first}: the list goes on past {MAX_PAGES} pages"
        )))
    }

    async fn get_page<T: DeserializeOwned>(
        &self,
        url: &url::Url,
    ) -> Result<(T, Option<url::Url>), UpstreamError> {
        let a = self.get(url).await?;
        if a.status != StatusCode::OK {
            return Err(status_error(url, a.status));
        }
        let v = serde_json::from_slice(&a.body).map_err(|e| {
            UpstreamError::Rejected(format!("{url}: the answer is not what was expected: {e}"))
        })?;
        Ok((v, a.next))
    }
}

/// An answer other than the one expected: a server error may pass, anything else is a no.
pub fn status_error(url: &url::Url, status: StatusCode) -> UpstreamError {
    let m = format!("{url} answered HTTP {}", status.as_u16());
    if status.is_server_error() {
        UpstreamError::Unavailable(m)
    } else {
        UpstreamError::Rejected(m)
    }
}

/// Why an answer is a rate limit, with when to try again; `None` when it is not one.
///
/// GitHub answers 403 or 429 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (Unix
/// seconds) for its primary limit, and `retry-after` (seconds) for its secondary ones; GitLab
/// answers 429 with `ratelimit-reset` and `retry-after`. A 403 without those headers is a
/// refusal (an organization's SSO, a missing scope), not a limit.
pub fn rate_limited(status: StatusCode, h: &HeaderMap) -> Option<String> {
    let header = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| h.get(*n)?.to_str().ok().map(|s| s.trim().to_string()))
    };
    let exhausted =
        header(&["x-ratelimit-remaining", "ratelimit-remaining"]).as_deref() == Some("0");
    let retry_after = header(&["retry-after"]).and_then(|s| s.parse::<u64>().ok());
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()));
    if !limited {
        return None;
    }
    let reset = header(&["x-ratelimit-reset", "ratelimit-reset"])
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    let when = match (retry_after, reset) {
        (Some(s), _) => format!("retry after {s} s"),
        (None, Some(t)) => format!(
            "the limit resets at {}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        (None, None) => "no reset time given".to_string(),
    };
    Some(format!(
        "API rate limit reached (HTTP {}); {when}",
        status.as_u16()
    ))
}

/// The target of the `rel="next"` link in one `Link` header value (RFC 8288), if any.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        rest = &rest[close + 1..];
        // The link's parameters run to the next link (a ',' outside quotes) or the end.
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let is_next = rest[..end].split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_githubs_and_gitlabs_links() {
        let github = r#"<https://api.github.com/user/teams?page=2>; rel="next", <https://api.github.com/user/teams?page=5>; rel="last""#;
        assert_eq!(
            next_link(github).as_deref(),
            Some("https://api.github.com/user/teams?page=2")
        );
        let last_first = r#"<https://x/a?page=9>; rel="last", <https://x/a?page=3>; rel="next""#;
        assert_eq!(next_link(last_first).as_deref(), Some("https://x/a?page=3"));
        // GitLab's order, a comma inside a URL, a rel with several values, no quotes.
        assert_eq!(
            next_link(r#"<https://g/api/v4/groups?id_after=4,5&per_page=2>; rel="prev next""#)
                .as_deref(),
            Some("https://g/api/v4/groups?id_after=4,5&per_page=2")
        );
        assert_eq!(
            next_link("<https://x/b>; rel=next").as_deref(),
            Some("https://x/b")
        );
        for none in [
            r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=1>; rel="first""#,
            r#"<https://x/a>; title="next, please""#,
            "",
            "garbage",
            "<unterminated; rel=\"next\"",
        ] {
            assert_eq!(next_link(none), None, "{none}");
        }
    }

    /// A list API on a loopback port: `/list?page=N` answers `[N]` and names page N+1 as
    /// next up to `last`; `/away` names a next page on `elsewhere`; `/loop` names itself.
    async fn list_server(last: u32, elsewhere: &str) -> String {
        use axum::extract::{Query, State};
        use axum::response::IntoResponse;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        #[derive(serde::Deserialize)]
        struct Page {
            page: Option<u32>,
        }
        let app = axum::Router::new()
            .route(
                "/list",
                axum::routing::get(move |Query(p): Query<Page>| async move {
                    let n = p.page.unwrap_or(1);
                    let link = if n < last {
                        format!("</list?page={}>; rel=\"next\"", n + 1)
                    } else {
                        String::new()
                    };
                    ([("link", link)], axum::Json(vec![n])).into_response()
                }),
            )
            .route(
                "/away",
                axum::routing::get(|State(elsewhere): State<String>| async move {
                    (
                        [("link", format!("<{elsewhere}/list?page=2>; rel=\"next\""))],
                        axum::Json(vec![1]),
                    )
                }),
            )
            .route(
                "/loop",
                axum::routing::get(|| async {
                    ([("link", "</loop>; rel=\"next\"")], axum::Json(vec![1]))
                }),
            )
            .with_state(elsewhere.to_string());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn pages_are_followed_on_the_same_origin_only_and_not_forever() {
        let http = crate::connector::upstream::client(
            &[],
            std::time::Duration::from_secs(5),
            &Default::default(),
        )
        .unwrap();
        let api = Api::new(&http, "token", &[]);
        let other = list_server(3, "").await;
        let base = list_server(3, &other).await;
        let url = |p: &str| url::Url::parse(&format!("{base}{p}")).unwrap();
        let all: Vec<u32> = api.get_all(&url("/list")).await.unwrap();
        assert_eq!(all, [1, 2, 3]);
        let e = api.get_all::<u32>(&url("/away")).await.unwrap_err();
        assert!(
            matches!(&e, UpstreamError::Rejected(m) if m.contains("another host")),
            "the token is not sent to another origin: {e}"
        );
        let e = api.get_all::<u32>(&url("/loop")).await.unwrap_err();
        assert!(e.to_string().contains("past 100 pages"), "{e}");
        let e = api.get_all::<String>(&url("/list")).await.unwrap_err();
        assert!(e.to_string().contains("not what was expected"), "{e}");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_limit_answers_say_when_to_try_again_and_other_refusals_are_not_limits() {
        let primary = rate_limited(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1893456000"),
            ]),
        )
        .unwrap();
        assert!(
            primary.contains("rate limit") && primary.contains("2030-01-01T00:00:00Z"),
            "{primary}"
        );
        let secondary =
            rate_limited(StatusCode::FORBIDDEN, &headers(&[("retry-after", "60")])).unwrap();
        assert!(secondary.contains("retry after 60 s"), "{secondary}");
        let gitlab = rate_limited(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[
                ("RateLimit-Remaining", "0"),
                ("RateLimit-Reset", "1893456000"),
            ]),
        )
        .unwrap();
        assert!(gitlab.contains("2030-01-01T00:00:00Z"), "{gitlab}");
        let bare = rate_limited(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new()).unwrap();
        assert!(bare.contains("no reset time"), "{bare}");

        // A 403 with budget left (an org's SAML enforcement), or an OK answer at zero.
        assert!(
            rate_limited(
                StatusCode::FORBIDDEN,
                &headers(&[("x-ratelimit-remaining", "4999")])
            )
            .is_none()
        );
        assert!(
            rate_limited(StatusCode::OK, &headers(&[("x-ratelimit-remaining", "0")])).is_none()
        );
        assert!(rate_limited(StatusCode::FORBIDDEN, &HeaderMap::new()).is_none());
    }
}
