//! A `/token` request as its grant needs it: the form's fifteen optional fields become one
//! variant per grant, each holding what that grant reads, the required ones checked present.

use crate::config::GrantType;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::TokenParams;

/// What one grant was asked with; borrowed from the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRequest<'a> {
    AuthorizationCode {
        code: &'a str,
        redirect_uri: Option<&'a str>,
        code_verifier: Option<&'a str>,
    },
    RefreshToken {
        refresh_token: &'a str,
        scope: Option<&'a str>,
    },
    Password {
        username: &'a str,
        password: &'a str,
        scope: Option<&'a str>,
    },
    ClientCredentials {
        scope: Option<&'a str>,
    },
    DeviceCode {
        device_code: &'a str,
    },
    TokenExchange(Exchange<'a>),
}

/// RFC 8693's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange<'a> {
    pub subject_token: &'a str,
    pub subject_token_type: &'a str,
    pub requested_token_type: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub connector_id: Option<&'a str>,
}

/// A form parameter that must be present and non-empty.
fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    v.as_deref()
        .filter(|x| !x.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

impl<'a> TokenRequest<'a> {
    /// The request for `grant`, or `invalid_request` naming what is missing.
    pub fn parse(grant: GrantType, p: &'a TokenParams) -> Result<TokenRequest<'a>, OAuthError> {
        let scope = p.scope.as_deref();
        Ok(match grant {
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode {
                code: required(&p.code, "code")?,
                redirect_uri: p.redirect_uri.as_deref(),
                code_verifier: p.code_verifier.as_deref(),
            },
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                refresh_token: required(&p.refresh_token, "refresh_token")?,
                scope,
            },
            // An empty password is the connector's to refuse (never an LDAP bind).
            GrantType::Password => match (p.username.as_deref(), p.password.as_deref()) {
                (Some(username), Some(password)) => TokenRequest::Password {
                    username,
                    password,
                    scope,
                },
                _ => {
                    return Err(OAuthError::invalid_request(
                        "username and password are required",
                    ));
                }
            },
            GrantType::ClientCredentials => TokenRequest::ClientCredentials { scope },
            GrantType::DeviceCode => TokenRequest::DeviceCode {
                device_code: required(&p.device_code, "device_code")?,
            },
            GrantType::TokenExchange => TokenRequest::TokenExchange(Exchange {
                subject_token: required(&p.subject_token, "subject_token")?,
                subject_token_type: required(&p.subject_token_type, "subject_token_type")?,
                requested_token_type: p.requested_token_type.as_deref(),
                scope,
                connector_id: p.connector_id.as_deref(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut TokenParams)) -> TokenParams {
        let mut p = TokenParams::default();
        f(&mut p);
        p
    }

    fn missing(grant: GrantType, p: &TokenParams) -> String {
        TokenRequest::parse(grant, p).unwrap_err().description
    }

    #[test]
    fn each_grant_names_the_parameter_it_misses() {
        let none = TokenParams::default();
        assert_eq!(
            missing(GrantType::AuthorizationCode, &none),
            "code is required"
        );
        assert_eq!(
            missing(GrantType::RefreshToken, &none),
            "refresh_token is required"
        );
        assert_eq!(
            missing(GrantType::DeviceCode, &none),
            "device_code is required"
        );
        assert_eq!(
            missing(GrantType::TokenExchange, &none),
            "subject_token is required"
        );
        assert_eq!(
            missing(
                GrantType::Password,
                &params(|p| p.username = Some("u".into()))
            ),
            "username and password are required"
        );
        // Present but empty is missing too.
        let empty = params(|p| p.code = Some(String::new()));
        assert_eq!(
            missing(GrantType::AuthorizationCode, &empty),
            "code is required"
        );
        let no_type = params(|p| p.subject_token = Some("t".into()));
        assert_eq!(
            missing(GrantType::TokenExchange, &no_type),
            "subject_token_type is required"
        );
    }

    #[test]
    fn a_grant_reads_its_own_fields_only() {
        let p = params(|p| {
            p.code = Some("c".into());
            p.refresh_token = Some("r".into());
            p.scope = Some("openid".into());
        });
        assert_eq!(
            TokenRequest::parse(GrantType::AuthorizationCode, &p).unwrap(),
            TokenRequest::AuthorizationCode {
                code: "c",
                redirect_uri: None,
                code_verifier: None
            }
        );
        assert_eq!(
            TokenRequest::parse(GrantType::RefreshToken, &p).unwrap(),
            TokenRequest::RefreshToken {
                refresh_token: "r",
                scope: Some("openid")
            }
        );
        assert_eq!(
            TokenRequest::parse(GrantType::ClientCredentials, &p).unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some("openid")
            }
        );
        // An empty password reaches the connector, which refuses it.
        let p = params(|p| {
            p.username = Some("u".into());
            p.password = Some(String::new());
        });
        assert!(matches!(
            TokenRequest::parse(GrantType::Password, &p),
            Ok(TokenRequest::Password { password: "", .. })
        ));
    }
}
