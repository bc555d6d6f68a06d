//! Where Gantry fetches what vouches for an identity (OIDC discovery and JWKS, SAML metadata,
//! an OAuth2 provider's token and userinfo answers) over plain http: only from loopback, which
//! nobody on the network can alter, unless the connector says `insecureAllowHTTP: true`. Never
//! lets an unparsable URL through.

/// The config key that allows plain http to a host that is not loopback.
pub const FLAG: &str = crate::config::INSECURE_ALLOW_HTTP;

pub use crate::config::names_this_machine;

/// Refuses `url` (named `setting` in the message) when it is plain http to a host that is not
/// loopback and `allow_http` is off; https always passes.
pub fn check(setting: &str, url: &str, allow_http: bool) -> Result<(), UrlError> {
    let named = || (setting.to_string(), url.to_string());
    let u = url::Url::parse(url).map_err(|source| {
        let (setting, url) = named();
        UrlError::NotAUrl {
            setting,
            url,
            source,
        }
    })?;
    match u.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" if names_this_machine(&u) => Ok(()),
        "http" => {
            let (setting, url) = named();
            Err(UrlError::PlainHttp { setting, url })
        }
        s => {
            let (setting, url) = named();
            Err(UrlError::Scheme {
                setting,
                url,
                scheme: s.to_string(),
            })
        }
    }
}

/// Why an upstream URL is refused; `setting` names where it came from.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{setting} `{url}`: {source}")]
    NotAUrl {
        setting: String,
        url: String,
        source: url::ParseError,
    },
    #[error(
        "{setting} `{url}` is plain http to a host that is not loopback: anyone on the path \
         could answer in the provider's name. Use https, or set config.{flag}: true",
        flag = FLAG
    )]
    PlainHttp { setting: String, url: String },
    #[error("{setting} `{url}`: scheme `{scheme}` is not http(s)")]
    Scheme {
        setting: String,
        url: String,
        scheme: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_passes_only_for_loopback_or_with_the_flag() {
        for ok in [
            "https://idp.example.com",
            "http://localhost:8080/x",
            "http://LOCALHOST",
            "http://127.0.0.1:5556",
            "http://127.10.20.30",
            "http://[::1]:9000/",
        ] {
            assert!(check("config.issuer", ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "http://[::2]",
            "http://0.0.0.0",
        ] {
            let e = check("config.issuer", bad, false).unwrap_err().to_string();
            assert!(
                e.contains("config.issuer") && e.contains(FLAG),
                "{bad}: {e}"
            );
            assert!(check("config.issuer", bad, true).is_ok(), "{bad}");
        }
        assert!(check("config.issuer", "ftp://idp.example.com", true).is_err());
        assert!(check("config.issuer", "not a url", true).is_err());
    }
}
