//! The second-factor step of a login, between the connector's login and the approval.
//!
//! A logged-in request whose client (`mfaChain`, else `mfa.defaultMFAChain`) or whose
//! `acr_values` ask for a second factor it has not given goes here before any code is issued:
//! [`Provider::approval`] answers `SecondFactor`, and [`Provider::finish`] refuses to issue.
//! Only the browser that logged in may answer (the same binding as the approval), every
//! answer is audited, and wrong answers spend a budget per identity (shared by replicas) and
//! per address. A good code adds `otp` and `mfa` to the request's `amr`.

use std::net::IpAddr;

use serde_json::json;

use crate::identity::Identity;
use crate::mfa::{self, Authenticator, CodeCheck, Enrolment, FactorError, Standing};
use crate::oauth::Provider;
use crate::oauth::audit::{log_only, who};
use crate::oauth::authorize::{AuthorizeError, Refusal, logged_in};
use crate::storage::StorageError;
use crate::storage::auth::AuthRequest;

/// What the second-factor page shows.
#[derive(Debug)]
pub enum MfaStep {
    /// Nothing (more) to ask: on to the approval.
    Done,
    /// The user has no confirmed factor for the authenticator: enrol, then confirm with a code.
    Enrol {
        username: String,
        enrolment: Enrolment,
    },
    /// Ask for a code; `recovery`: the user holds recovery codes that may stand in for one.
    Code { username: String, recovery: bool },
}

/// What a user sent on the second-factor page.
#[derive(Debug, Clone, Copy)]
pub enum MfaAnswer<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
}

/// Why an answer was refused; the page says it and asks again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaRefusal {
    WrongCode,
    /// The code of a time step already used.
    ReplayedCode,
    WrongRecoveryCode,
    /// Too many wrong answers for this user or from this address.
    Throttled,
}

/// What follows an answer.
#[derive(Debug)]
pub enum MfaOutcome {
    /// On to the approval.
    Done,
    /// The first factor of this user was just confirmed: its recovery codes, shown once, then
    /// on to the approval.
    RecoveryCodes(Vec<String>),
    /// Asked again.
    Refused { again: MfaStep, why: MfaRefusal },
}

impl From<FactorError> for AuthorizeError {
    fn from(e: FactorError) -> Self {
        match e {
            FactorError::Storage(e) => e.into(),
            FactorError::Sealed => AuthorizeError::Internal(e.to_string()),
        }
    }
}

fn page(kind: Refusal, message: &str) -> AuthorizeError {
    AuthorizeError::Page {
        kind,
        message: message.into(),
    }
}

const EXPIRED: &str = "This login request has expired or was already used. Go back to the \
                       application and start again.";

/// An answer is a login attempt: its audit detail names what the request is for.
fn detail(req: &AuthRequest, identity: &Identity, a: &str, addr: IpAddr) -> serde_json::Value {
    json!({
        "subject": identity.subject(),
        "authenticator": a,
        "client": req.client_id,
        "address": addr,
    })
}

impl Provider {
    /// The authenticator a logged-in request must still pass, if any: the first of its chain
    /// whose kind of factor the request's `amr` does not show.
    pub(crate) async fn second_factor_due(
        &self,
        req: &AuthRequest,
        identity: &Identity,
    ) -> Result<Option<Authenticator>, AuthorizeError> {
        self.factor_due(&req.client_id, &req.acr_values, &req.amr, identity)
            .await
    }

    /// What a login of `identity` at `client_id` that asked `acr_values` and gave `amr` must
    /// still give: the first authenticator of its chain (or of the policy's requirement) that
    /// `amr` does not show; an error page when one is required and none can be given.
    pub(crate) async fn factor_due(
        &self,
        client_id: &str,
        acr_values: &str,
        amr: &str,
        identity: &Identity,
    ) -> Result<Option<Authenticator>, AuthorizeError> {
        let sf = &self.second_factors;
        let required_by = self.policy_requires_mfa(client_id, identity);
        if !sf.enabled() {
            if let Some(rule) = required_by
                && !crate::oauth::session::has_second_factor(amr)
            {
                // Fail closed: the policy asks for a factor nobody can give here.
                tracing::error!(rule = %rule, "the policy requires a second factor and no authenticator is configured");
                return Err(page(
                    Refusal::NotAllowed,
                    "This application requires a second factor, and none is set up on this \
                     server. Tell your administrator.",
                ));
            }
            return Ok(None);
        }
        let client_chain = self
            .clients
            .get(client_id)
            .and_then(|c| c.mfa_chain.clone());
        // A connector removed since the login matches only authenticators for every type.
        let kind = self
            .connector(&identity.connector_id)
            .map(|c| c.kind().as_str())
            .unwrap_or_default();
        let chain = sf.authenticators.chain(
            client_chain.as_deref(),
            kind,
            mfa::asks_for_mfa(acr_values) || required_by.is_some(),
        );
        if chain.is_empty()
            && let Some(rule) = required_by
            && !crate::oauth::session::has_second_factor(amr)
        {
            tracing::error!(rule = %rule, connector = kind, "the policy requires a second factor and none applies to this connector");
            return Err(page(
                Refusal::NotAllowed,
                "This application requires a second factor, and none is set up for your kind \
                 of login. Tell your administrator.",
            ));
        }
        Ok(chain.into_iter().find(|a| !a.satisfied_by(amr)).cloned())
    }

    /// The policy's requirement (`policy.mfa`) that a login at `client_id` have a second
    /// factor: the rule's name, or `None`.
    pub(crate) fn policy_requires_mfa(
        &self,
        client_id: &str,
        identity: &Identity,
    ) -> Option<String> {
        let active = self.policy.get();
        if active.compiled.mfa.is_empty() {
            return None;
        }
        let connectors = self.connector_ids();
        let user = self.policy_user(
            &identity.connector_id,
            &identity.user_id,
            &identity.preferred_username,
        );
        let s = crate::policy::Subject {
            connector: &identity.connector_id,
            connectors: &connectors,
            user: &user,
            email: &identity.email,
            groups: &identity.groups,
        };
        let clusters: Vec<String> = self
            .cluster_clients
            .iter()
            .filter(|(_, client)| *client == client_id)
            .map(|(name, _)| name.clone())
            .collect();
        let t = crate::policy::LoginTarget {
            client: client_id,
            clusters: &clusters,
            admin: client_id == crate::config::ADMIN_CLIENT,
        };
        active.compiled.mfa_required(&s, &t).map(str::to_string)
    }

    /// Refuse a grant without a browser (the password grant, token exchange) for a login that
    /// must give a second factor: there is no page to ask for it on.
    pub(crate) async fn no_factor_due(
        &self,
        client_id: &str,
        amr: &str,
        identity: &Identity,
    ) -> Result<(), crate::oauth::error::OAuthError> {
        match self.factor_due(client_id, "", amr, identity).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) | Err(AuthorizeError::Page { .. }) => {
                Err(crate::oauth::error::OAuthError::invalid_grant(
                    "this login needs a second factor: sign in through the browser",
                ))
            }
            Err(AuthorizeError::Redirect(_)) => {
                Err(crate::oauth::error::OAuthError::invalid_grant(
                    "this login needs a second factor: sign in through the browser",
                ))
            }
            Err(AuthorizeError::Internal(e)) => Err(crate::oauth::error::OAuthError::server(e)),
        }
    }

    /// The second-factor page of a request logged in in this browser (`browser`: its CSRF
    /// cookie). `title`: the name an authenticator app shows when the authenticator names none.
    pub async fn second_factor(
        &self,
        request_id: &str,
        browser: &str,
        title: &str,
    ) -> Result<MfaStep, AuthorizeError> {
        let req = self.pending_request(request_id).await?;
        let identity = logged_in(&req, browser)?;
        match self.second_factor_due(&req, &identity).await? {
            None => Ok(MfaStep::Done),
            Some(a) => self.step(&identity, &a, title, &req.id).await,
        }
    }

    async fn step(
        &self,
        identity: &Identity,
        a: &Authenticator,
        title: &str,
        request_id: &str,
    ) -> Result<MfaStep, AuthorizeError> {
        if !a.kind.served() {
            // The config check refuses such a chain; a client changed since must not let the
            // login through without the factor.
            return Err(page(
                Refusal::NotAllowed,
                "This application asks for a kind of second factor that is not available \
                 yet. Tell your administrator.",
            ));
        }
        let sf = &self.second_factors;
        let subject = identity.subject();
        let username = who(identity).to_string();
        Ok(match sf.standing(&subject, a).await? {
            Standing::Confirmed(_) => MfaStep::Code {
                username,
                recovery: sf.has_recovery_codes(&subject).await?,
            },
            Standing::None | Standing::Enrolling(_) => {
                let account = format!("{} ({})", username, identity.connector_id);
                let enrolment = sf
                    .enrolment(
                        &subject,
                        &identity.connector_id,
                        a,
                        (&account, title),
                        self.clock.now(),
                        request_id,
                    )
                    .await?;
                MfaStep::Enrol {
                    username,
                    enrolment,
                }
            }
        })
    }

    /// Answer the second-factor page. `form_ok`: the form carried this browser's CSRF token
    /// for this request (a form from anywhere else is refused and audited).
    pub async fn answer_second_factor(
        &self,
        request_id: &str,
        browser: &str,
        form_ok: bool,
        answer: MfaAnswer<'_>,
        addr: IpAddr,
        title: &str,
    ) -> Result<MfaOutcome, AuthorizeError> {
        let req = match self.pending_request(request_id).await {
            Ok(r) => r,
            Err(e) => {
                log_only(
                    "",
                    "mfa",
                    "",
                    "refused",
                    &json!({ "reason": "expired_request", "address": addr }),
                );
                return Err(e);
            }
        };
        let identity = match logged_in(&req, browser) {
            Ok(i) if form_ok => i,
            Ok(_) | Err(AuthorizeError::Page { .. }) => {
                return Err(self.refuse_other_browser(&req, addr).await);
            }
            Err(e) => return Err(e),
        };
        let Some(a) = self.second_factor_due(&req, &identity).await? else {
            return Ok(MfaOutcome::Done);
        };
        let sf = &self.second_factors;
        let now = self.clock.now();
        let subject = identity.subject();
        let actor = who(&identity).to_string();
        let mut d = detail(&req, &identity, &a.id, addr);
        // The address budget is the password form's: a guesser is a guesser.
        let throttle_name = format!("mfa:{subject}");
        if sf.guesses_exhausted(&subject, now).await?
            || self.credential_check_locked(&throttle_name, addr).await
        {
            // Logged, not stored: a locked guesser who keeps trying would write a row a try.
            log_only(&actor, "mfa", &a.id, "throttled", &d);
            let again = self.step(&identity, &a, title, &req.id).await?;
            return Ok(MfaOutcome::Refused {
                again,
                why: MfaRefusal::Throttled,
            });
        }
        let (action, outcome) = match answer {
            MfaAnswer::Code(code) => {
                d["method"] = json!("totp");
                match sf.check_code(&subject, &a, code, now, &req.id).await? {
                    CodeCheck::Good { confirmed_now } => {
                        d["enrolled"] = json!(confirmed_now);
                        let action = if confirmed_now { "mfa.enrol" } else { "mfa" };
                        (action, Ok(confirmed_now))
                    }
                    CodeCheck::Replayed => ("mfa", Err(MfaRefusal::ReplayedCode)),
                    CodeCheck::Wrong | CodeCheck::NotEnrolled => {
                        ("mfa", Err(MfaRefusal::WrongCode))
                    }
                }
            }
            MfaAnswer::RecoveryCode(code) => {
                d["method"] = json!("recovery_code");
                // Recovery codes stand in for a confirmed factor, never for an enrolment.
                let ok = matches!(sf.standing(&subject, &a).await?, Standing::Confirmed(_))
                    && sf.use_recovery_code(&subject, code, now).await?;
                if ok {
                    d["recovery_codes_left"] =
                        json!(sf.store().unused_recovery_codes(&subject).await?.len());
                }
                (
                    "mfa.recovery",
                    if ok {
                        Ok(false)
                    } else {
                        Err(MfaRefusal::WrongRecoveryCode)
                    },
                )
            }
        };
        match outcome {
            Err(why) => {
                sf.guessed_wrong(&subject, now).await?;
                self.throttle.failed(now, &throttle_name, addr);
                d["reason"] = json!(match why {
                    MfaRefusal::ReplayedCode => "replayed",
                    _ => "wrong",
                });
                if sf.guesses_exhausted(&subject, now).await? {
                    d["throttled_from_now"] = json!(true);
                }
                self.audit(&actor, action, &a.id, "failure", d).await;
                let again = self.step(&identity, &a, title, &req.id).await?;
                Ok(MfaOutcome::Refused { again, why })
            }
            Ok(confirmed_now) => {
                sf.guessed_right(&subject).await?;
                self.throttle.succeeded(&throttle_name, addr);
                self.add_amr(&req, &a).await?;
                self.audit(&actor, action, &a.id, "success", d).await;
                if confirmed_now && !sf.has_recovery_codes(&subject).await? {
                    let codes = sf.issue_recovery_codes(&subject, now).await?;
                    self.audit(
                        &actor,
                        "mfa.recovery_codes",
                        &a.id,
                        "success",
                        json!({ "subject": subject, "issued": codes.len() }),
                    )
                    .await;
                    return Ok(MfaOutcome::RecoveryCodes(codes));
                }
                Ok(MfaOutcome::Done)
            }
        }
    }

    /// A form for a request that is not this browser's login (another cookie jar, a forged
    /// post): refused, and recorded against the user whose login it aimed at.
    async fn refuse_other_browser(&self, req: &AuthRequest, addr: IpAddr) -> AuthorizeError {
        let identity: Option<Identity> = req
            .identity
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        let (actor, subject) = identity
            .as_ref()
            .map(|i| (who(i).to_string(), i.subject()))
            .unwrap_or_default();
        self.audit(
            &actor,
            "mfa",
            "",
            "failure",
            json!({ "reason": "other_browser", "subject": subject, "client": req.client_id, "address": addr }),
        )
        .await;
        page(
            Refusal::OtherBrowser,
            "This form did not come from the browser that logged in. Start again from the \
             application.",
        )
    }

    /// Add what authenticator `a` proves to the request's `amr`; a compare-and-set, retried
    /// when another write to the request came between.
    async fn add_amr(&self, req: &AuthRequest, a: &Authenticator) -> Result<(), AuthorizeError> {
        let store = self.second_factors.store();
        for _ in 0..3 {
            let (amr, _) = match store.auth_request_amr(&req.id, self.clock.now()).await {
                Ok(v) => v,
                Err(StorageError::NotFound) => return Err(page(Refusal::Invalid, EXPIRED)),
                Err(e) => return Err(e.into()),
            };
            let next = mfa::amr_after(&amr, a.kind);
            if next == amr || store.replace_auth_request_amr(&req.id, &amr, &next).await? {
                return Ok(());
            }
        }
        Err(AuthorizeError::Internal(
            "the login request kept changing while its amr was written".into(),
        ))
    }
}
