//! The second-factor step of a login, between the connector's login and the approval.
//!
//! A logged-in request whose client (`mfaChain`, else `mfa.defaultMFAChain`) or whose
//! `acr_values` ask for a second factor it has not given goes here before any code is issued:
//! [`Provider::approval`] answers `SecondFactor`, and [`Provider::finish`] refuses to issue.
//! Only the browser that logged in may answer (the same binding as the approval), every
//! answer is audited, and wrong answers spend a budget per identity (shared by replicas) and
//! per address. A good code adds `otp` and `mfa` to the request's `amr`; a WebAuthn key adds
//! `hwk` or `swk` (see `mfa::webauthn::amr_value`) and `mfa`.

use std::net::IpAddr;

use serde_json::json;

use crate::identity::Identity;
use crate::mfa::webauthn::{KeyCheck, KeyPage};
use crate::mfa::{
    self, Authenticator, AuthenticatorKind, CodeCheck, Enrolment, FactorError, Standing,
};
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
    /// A WebAuthn ceremony: register a key (none yet, or `adding` another after this login's
    /// factor), or sign in with one of the user's keys (`recovery` as for a code).
    Key {
        username: String,
        page: KeyPage,
        adding: bool,
        recovery: bool,
    },
}

/// What a user sent on the second-factor page.
#[derive(Debug, Clone, Copy)]
pub enum MfaAnswer<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
    /// The browser's WebAuthn credential (JSON), the name for a new key, and whether the user
    /// asked to register another key once this one is accepted.
    Key {
        response: &'a str,
        name: &'a str,
        add_another: bool,
    },
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
    /// A WebAuthn answer that was not accepted (the audit says why).
    KeyRefused,
    /// The WebAuthn ceremony took longer than the authenticator's timeout.
    KeyTimedOut,
}

/// What follows an answer.
#[derive(Debug)]
pub enum MfaOutcome {
    /// On to the approval.
    Done,
    /// The first factor of this user was just confirmed: its recovery codes, shown once, then
    /// on to the approval.
    RecoveryCodes(Vec<String>),
    /// Accepted; the user asked to register another key next.
    AddKey,
    /// Asked again.
    Refused { again: MfaStep, why: MfaRefusal },
}

impl From<FactorError> for AuthorizeError {
    fn from(e: FactorError) -> Self {
        match e {
            FactorError::Storage(e) => e.into(),
            FactorError::Sealed | FactorError::WebAuthn(_) => {
                AuthorizeError::Internal(e.to_string())
            }
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

/// What a WebAuthn answer's refusal needs to know.
struct KeyAnswer<'a> {
    req: &'a AuthRequest,
    identity: &'a Identity,
    due: Option<&'a Authenticator>,
    title: &'a str,
    addr: IpAddr,
    now: i64,
}

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
        let peers = crate::oauth::scope::Scopes::stored(&req.scopes).peers;
        self.factor_due(&req.client_id, &peers, &req.acr_values, &req.amr, identity)
            .await
    }

    /// What a login of `identity` at `client_id` that asked `acr_values` and gave `amr` must
    /// still give: the first authenticator of its chain (or of the policy's requirement) that
    /// `amr` does not show; an error page when one is required and none can be given. `peers`:
    /// the clients its cross-client scopes name. The token is theirs too, so their chains and
    /// requirements count as well: otherwise one client's login would reach a cluster's
    /// audience without the factor the cluster asks for.
    pub(crate) async fn factor_due(
        &self,
        client_id: &str,
        peers: &[String],
        acr_values: &str,
        amr: &str,
        identity: &Identity,
    ) -> Result<Option<Authenticator>, AuthorizeError> {
        let sf = &self.second_factors;
        let audiences: Vec<&str> = std::iter::once(client_id)
            .chain(peers.iter().map(String::as_str))
            .collect();
        let required_by = audiences
            .iter()
            .find_map(|c| self.policy_requires_mfa(c, identity));
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
        // Each audience's `mfaChain` (absent: the default), one after the other.
        let mut chain_ids: Vec<String> = Vec::new();
        for c in &audiences {
            let ids = self
                .clients
                .get(c)
                .and_then(|c| c.mfa_chain.clone())
                .unwrap_or_else(|| sf.authenticators.default_chain.clone());
            for id in ids {
                if !chain_ids.contains(&id) {
                    chain_ids.push(id);
                }
            }
        }
        // A connector removed since the login matches only authenticators for every type.
        let kind = self
            .connector(&identity.connector_id)
            .map(|c| c.kind().as_str())
            .unwrap_or_default();
        // Dex's chain names Gantry's own authenticators: each step is passed here.
        let chain = sf.authenticators.chain(Some(&chain_ids), kind);
        if let Some(a) = chain.iter().find(|a| !a.satisfied_by(amr)) {
            return self
                .proof_before_enrolling(a, kind, amr, identity)
                .await
                .map(Some);
        }
        // `acr_values` and the policy ask for a second factor, whichever: one the upstream
        // provider asserted counts.
        let wanted = mfa::asks_for_mfa(acr_values) || required_by.is_some();
        if !wanted || crate::oauth::session::has_second_factor(amr) {
            return Ok(None);
        }
        match (sf.authenticators.first_for(kind), required_by) {
            (Some(a), _) => self
                .proof_before_enrolling(a, kind, amr, identity)
                .await
                .map(Some),
            (None, Some(rule)) => {
                tracing::error!(rule = %rule, connector = kind, "the policy requires a second factor and none applies to this connector");
                Err(page(
                    Refusal::NotAllowed,
                    "This application requires a second factor, and none is set up for your \
                     kind of login. Tell your administrator.",
                ))
            }
            (None, None) => Ok(None),
        }
    }

    /// The authenticator to ask for when `a` is due: `a`, unless the user would have to enrol
    /// it while holding a factor of another authenticator that this login has not given.
    /// Enrolling takes a factor the user already has: otherwise whoever knows the password
    /// could add an app or a key of their own to the account.
    async fn proof_before_enrolling(
        &self,
        a: &Authenticator,
        connector_type: &str,
        amr: &str,
        identity: &Identity,
    ) -> Result<Authenticator, AuthorizeError> {
        let sf = &self.second_factors;
        let factors = sf.store().factors_of(&identity.subject()).await?;
        let confirmed = |id: &str| {
            factors
                .iter()
                .any(|f| f.authenticator_id == id && f.confirmed_at.is_some())
        };
        if confirmed(&a.id) {
            return Ok(a.clone());
        }
        let held = sf
            .authenticators
            .all
            .iter()
            .find(|b| b.id != a.id && b.applies_to(connector_type) && confirmed(&b.id));
        Ok(match held {
            Some(b) if !b.satisfied_by(amr) => b.clone(),
            _ => a.clone(),
        })
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
            registry: self.registry_clients.iter().any(|c| c == client_id),
        };
        active.compiled.mfa_required(&s, &t).map(str::to_string)
    }

    /// Refuse a grant without a browser (the password grant, token exchange) for a login that
    /// must give a second factor: there is no page to ask for it on.
    pub(crate) async fn no_factor_due(
        &self,
        client_id: &str,
        peers: &[String],
        amr: &str,
        identity: &Identity,
    ) -> Result<(), crate::oauth::error::OAuthError> {
        match self.factor_due(client_id, peers, "", amr, identity).await {
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
    /// `adding`: the user asked to register another WebAuthn key, which this login may do
    /// once it has given a key of that authenticator.
    pub async fn second_factor(
        &self,
        request_id: &str,
        browser: &str,
        title: &str,
        adding: bool,
    ) -> Result<MfaStep, AuthorizeError> {
        let req = self.pending_request(request_id).await?;
        let identity = logged_in(&req, browser)?;
        match self.second_factor_due(&req, &identity).await? {
            None if adding => match self.key_to_add(&req, &identity) {
                Some(a) => self.key_step(&req, &identity, &a, true).await,
                None => Ok(MfaStep::Done),
            },
            None => Ok(MfaStep::Done),
            Some(a) => self.step(&req, &identity, &a, title).await,
        }
    }

    /// The WebAuthn authenticator this login may register another key of: one whose key it
    /// gave (its `amr` shows it).
    fn key_to_add(&self, req: &AuthRequest, identity: &Identity) -> Option<Authenticator> {
        let kind = self
            .connector(&identity.connector_id)
            .map(|c| c.kind().as_str())
            .unwrap_or_default();
        self.second_factors
            .authenticators
            .all
            .iter()
            .find(|a| {
                a.kind == AuthenticatorKind::WebAuthn
                    && a.applies_to(kind)
                    && a.satisfied_by(&req.amr)
            })
            .cloned()
    }

    async fn key_step(
        &self,
        req: &AuthRequest,
        identity: &Identity,
        a: &Authenticator,
        adding: bool,
    ) -> Result<MfaStep, AuthorizeError> {
        let sf = &self.second_factors;
        let subject = identity.subject();
        let username = who(identity).to_string();
        let account = format!("{} ({})", username, identity.connector_id);
        let page = sf
            .begin_ceremony(
                &req.id,
                &subject,
                a,
                (&account, &username),
                adding,
                self.clock.now(),
            )
            .await;
        let page = match page {
            Ok(p) => p,
            Err(FactorError::Storage(StorageError::NotFound)) => {
                return Err(self::page(Refusal::Invalid, EXPIRED));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(MfaStep::Key {
            recovery: !page.register && sf.has_recovery_codes(&subject).await?,
            username,
            page,
            adding,
        })
    }

    async fn step(
        &self,
        req: &AuthRequest,
        identity: &Identity,
        a: &Authenticator,
        title: &str,
    ) -> Result<MfaStep, AuthorizeError> {
        if a.kind == AuthenticatorKind::WebAuthn {
            return self.key_step(req, identity, a, false).await;
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
                        &req.id,
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
        let due = self.second_factor_due(&req, &identity).await?;
        if let MfaAnswer::Key {
            response,
            name,
            add_another,
        } = answer
        {
            return self
                .answer_key(
                    &req,
                    &identity,
                    due,
                    (response, name, add_another),
                    addr,
                    title,
                )
                .await;
        }
        let Some(a) = due else {
            return Ok(MfaOutcome::Done);
        };
        let sf = &self.second_factors;
        let now = self.clock.now();
        let subject = identity.subject();
        let actor = who(&identity).to_string();
        let mut d = detail(&req, &identity, &a.id, addr);
        // The address budget is the password form's: a guesser is a guesser.
        let throttle_name = format!("mfa:{subject}");
        if !sf.take_guess(&subject, now).await?
            || self.credential_check_locked(&throttle_name, addr).await
        {
            // Logged, not stored: a locked guesser who keeps trying would write a row a try.
            log_only(&actor, "mfa", &a.id, "throttled", &d);
            let again = self.step(&req, &identity, &a, title).await?;
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
            // Answered above.
            MfaAnswer::Key { .. } => return Ok(MfaOutcome::Done),
        };
        match outcome {
            Err(why) => {
                self.throttle.failed(now, &throttle_name, addr);
                d["reason"] = json!(match why {
                    MfaRefusal::ReplayedCode => "replayed",
                    _ => "wrong",
                });
                if sf.guesses_exhausted(&subject, now).await? {
                    d["throttled_from_now"] = json!(true);
                }
                self.audit(&actor, action, &a.id, "failure", d).await;
                let again = self.step(&req, &identity, &a, title).await?;
                Ok(MfaOutcome::Refused { again, why })
            }
            Ok(confirmed_now) => {
                sf.guessed_right(&subject).await?;
                self.throttle.succeeded(&throttle_name, addr);
                // A recovery code is a one-time code: `otp`, and the step it stood in for.
                let proof = if action == "mfa.recovery" {
                    format!("otp {}", a.kind.recovered_mark())
                } else {
                    a.kind
                        .amr_values()
                        .first()
                        .copied()
                        .unwrap_or("otp")
                        .to_string()
                };
                self.add_amr(&req, &proof).await?;
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

    /// A WebAuthn answer: the ceremony this request's page started is taken (once), checked
    /// against the authenticator due (or, `adding`, the one this login gave a key of), and the
    /// browser's credential checked against it. Refusals spend the same budget as wrong codes.
    async fn answer_key(
        &self,
        req: &AuthRequest,
        identity: &Identity,
        due: Option<Authenticator>,
        (response, name, add_another): (&str, &str, bool),
        addr: IpAddr,
        title: &str,
    ) -> Result<MfaOutcome, AuthorizeError> {
        let sf = &self.second_factors;
        let now = self.clock.now();
        let subject = identity.subject();
        let actor = who(identity).to_string();
        let ceremony = sf.take_ceremony(&req.id, now).await?;
        // Which authenticator the answer is for: the ceremony says, and it must be the one
        // due, or (adding a key) one this login already gave.
        let a = match (&ceremony, &due) {
            (Some(c), Some(d)) if c.authenticator == d.id && !c.adding => Some(d.clone()),
            (Some(c), None) if c.adding => self
                .key_to_add(req, identity)
                .filter(|a| a.id == c.authenticator),
            _ => None,
        };
        let shown = a
            .as_ref()
            .or(due.as_ref())
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let mut d = detail(req, identity, &shown, addr);
        d["method"] = json!("webauthn");
        let throttle_name = format!("mfa:{subject}");
        let ctx = KeyAnswer {
            req,
            identity,
            due: due.as_ref(),
            title,
            addr,
            now,
        };
        if !sf.take_guess(&subject, now).await?
            || self.credential_check_locked(&throttle_name, addr).await
        {
            log_only(&actor, "mfa", &shown, "throttled", &d);
            return Ok(MfaOutcome::Refused {
                again: self.key_again(&ctx, a.as_ref()).await?,
                why: MfaRefusal::Throttled,
            });
        }
        let Some(ceremony) = ceremony else {
            // No ceremony: this page's was answered already (a replayed form) or never drawn.
            return self.refuse_key(&ctx, "no_ceremony", None, d).await;
        };
        let Some(a) = a else {
            return self.refuse_key(&ctx, "wrong_authenticator", None, d).await;
        };
        if now > ceremony.expires_at {
            return self.refuse_key(&ctx, "timeout", Some(&a), d).await;
        }
        let adding = ceremony.adding;
        let check = sf
            .finish_ceremony(
                ceremony,
                (&subject, &identity.connector_id),
                &a,
                response,
                name,
                now,
            )
            .await?;
        let (action, amr, key) = match check {
            KeyCheck::Refused(r) => return self.refuse_key(&ctx, r.reason(), Some(&a), d).await,
            KeyCheck::Registered { amr, name } => ("mfa.enrol", amr, name),
            KeyCheck::Good { amr, name } => ("mfa", amr, name),
        };
        sf.guessed_right(&subject).await?;
        self.throttle.succeeded(&throttle_name, addr);
        self.add_amr(req, amr).await?;
        d["key"] = json!(key);
        d["amr"] = json!(amr);
        d["enrolled"] = json!(action == "mfa.enrol");
        self.audit(&actor, action, &a.id, "success", d).await;
        if action == "mfa.enrol" && !adding && !sf.has_recovery_codes(&subject).await? {
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
        if add_another {
            return Ok(MfaOutcome::AddKey);
        }
        Ok(MfaOutcome::Done)
    }

    /// A WebAuthn answer refused for `reason`: audited, counted as a wrong guess (but for a
    /// ceremony that timed out), and the page drawn again with a new ceremony.
    async fn refuse_key(
        &self,
        ctx: &KeyAnswer<'_>,
        reason: &'static str,
        a: Option<&Authenticator>,
        mut d: serde_json::Value,
    ) -> Result<MfaOutcome, AuthorizeError> {
        let sf = &self.second_factors;
        let subject = ctx.identity.subject();
        d["reason"] = json!(reason);
        if reason == "counter_regressed" {
            d["warning"] =
                json!("the key's signature counter did not go forward: possibly a cloned key");
        }
        let timed_out = reason == "timeout";
        if !timed_out {
            self.throttle
                .failed(ctx.now, &format!("mfa:{subject}"), ctx.addr);
            if sf.guesses_exhausted(&subject, ctx.now).await? {
                d["throttled_from_now"] = json!(true);
            }
        }
        let shown = d["authenticator"].as_str().unwrap_or_default().to_string();
        self.audit(who(ctx.identity), "mfa", &shown, "failure", d)
            .await;
        Ok(MfaOutcome::Refused {
            again: self.key_again(ctx, a).await?,
            why: if timed_out {
                MfaRefusal::KeyTimedOut
            } else {
                MfaRefusal::KeyRefused
            },
        })
    }

    /// The page after a refused WebAuthn answer: the step due, or (adding a key) the same.
    async fn key_again(
        &self,
        ctx: &KeyAnswer<'_>,
        a: Option<&Authenticator>,
    ) -> Result<MfaStep, AuthorizeError> {
        match (a, ctx.due) {
            (_, Some(due)) => self.step(ctx.req, ctx.identity, due, ctx.title).await,
            (Some(a), None) => self.key_step(ctx.req, ctx.identity, a, true).await,
            (None, None) => Ok(MfaStep::Done),
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

    /// Add what a factor proved (`proof`: `otp`, `hwk`, `swk`) to the request's `amr`; a
    /// compare-and-set, retried when another write to the request came between.
    async fn add_amr(&self, req: &AuthRequest, proof: &str) -> Result<(), AuthorizeError> {
        let store = self.second_factors.store();
        for _ in 0..3 {
            let (amr, _) = match store.auth_request_amr(&req.id, self.clock.now()).await {
                Ok(v) => v,
                Err(StorageError::NotFound) => return Err(page(Refusal::Invalid, EXPIRED)),
                Err(e) => return Err(e.into()),
            };
            let next = mfa::amr_after(&amr, proof);
            if next == amr || store.replace_auth_request_amr(&req.id, &amr, &next).await? {
                return Ok(());
            }
        }
        Err(AuthorizeError::Internal(
            "the login request kept changing while its amr was written".into(),
        ))
    }
}
