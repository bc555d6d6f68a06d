//! The protocol core on the in-memory store with a manual clock: the grants, PKCE, refresh
//! rotation and reuse detection, and what a replay revokes, without a database or HTTP.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::clock::{Clock, ManualClock};
use crate::config::{Expiry, GrantType, StaticClient, StaticPassword};
use crate::connector::Connector;
use crate::connector::local::Local;
use crate::connector::set::Connectors;
use crate::keys::{Algorithm, Keys, Schedule};
use crate::oauth::Provider;
use crate::oauth::authorize::{ApprovalStep, AuthorizeParams, Next};
use crate::oauth::client::{Client, Clients};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::grants::TokenParams;
use crate::oauth::session::Browser;
use crate::oauth::tokens::TokenResponse;
use crate::storage::memory::MemoryStore;

pub(super) const START: i64 = 1_800_000_000;
const REDIRECT: &str = "https://app.example/callback";
const BROWSER: &str = "csrf-cookie-of-the-browser";

/// The test's browser: its CSRF cookie, no session cookie yet.
fn browser() -> Browser {
    Browser {
        csrf: BROWSER.into(),
        address: Some(ADDR),
        ..Default::default()
    }
}
const VERIFIER: &str = "a-code-verifier-of-at-least-forty-three-characters-0123456789";
const ADDR: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub(super) struct Core {
    pub(super) p: Provider,
    pub(super) store: Arc<MemoryStore>,
    pub(super) clock: ManualClock,
}

fn expiry() -> Expiry {
    Expiry {
        id_tokens: 300,
        auth_requests: 600,
        device_requests: 300,
        signing_keys: 6 * 3600,
        disable_rotation: false,
        reuse_interval: 3,
        valid_if_not_used_for: 3600,
        absolute_lifetime: 24 * 3600,
        audit_retention: 90 * 86400,
    }
}

fn client(id: &str, public: bool) -> Client {
    Client::from_config(&StaticClient {
        id: Some(id.into()),
        id_env: None,
        secret: (!public).then(|| format!("secret-of-{id}")),
        secret_env: None,
        redirect_uris: vec![REDIRECT.into()],
        trusted_peers: vec![],
        public,
        name: id.into(),
        logo_url: None,
        grant_types: vec![],
        post_logout_redirect_uris: vec![],
        require_pkce: false,
        ..Default::default()
    })
}

async fn core_with(expiry: Expiry) -> Core {
    let clock = ManualClock::new(START);
    let store = Arc::new(MemoryStore::new());
    let shared: crate::clock::SharedClock = Arc::new(clock.clone());
    let schedule = Schedule {
        alg: Algorithm::ES256,
        period: expiry.signing_keys,
        retain: expiry.id_tokens,
        lead: 60,
    };
    let keys = Keys::load(
        store.clone(),
        shared.clone(),
        schedule,
        crate::seal::KeySealing::clear(),
    )
    .await
    .unwrap();
    let jane = StaticPassword {
        email: "jane@example.com".into(),
        hash: Some(crate::password::hash("correct horse").unwrap()),
        hash_from_env: None,
        username: "jane".into(),
        user_id: "u-jane".into(),
        groups: vec!["devs".into()],
        ..Default::default()
    };
    let local = Connector::local(Local::new(vec![jane], store.clone(), false));
    let policy = crate::config::policy::PolicyConfig::default();
    let compiled = crate::policy::Policy::compile(&policy, &[]).unwrap();
    let p = Provider {
        issuer: "https://id.example".into(),
        store: store.clone(),
        keys: Arc::new(keys),
        clients: Clients::new([
            client("app", false),
            client("other", false),
            client(crate::config::ADMIN_CLIENT, true),
        ]),
        connectors: Connectors::new(vec![local]),
        sealer: crate::seal::Sealer::new(&[crate::secret::random_bytes(32)]).unwrap(),
        clock: shared,
        expiry,
        grants: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
        ],
        skip_approval: false,
        always_show_login: false,
        pkce: Default::default(),
        password_connector: None,
        throttle: Default::default(),
        limits: Arc::new(crate::ratelimit::RateLimits::new(&Default::default()).unwrap()),
        metrics: Default::default(),
        issuance: Default::default(),
        policy: crate::policy::live::LivePolicy::new(policy, compiled),
        clusters: vec![],
        cluster_clients: vec![],
        registry_clients: vec![],
        audit_key: b"audit key of the tests".to_vec(),
        verified: Default::default(),
        second_factors: crate::mfa::SecondFactors::new(
            Default::default(),
            Arc::new(crate::storage::memory_factors::MemoryFactors::default()),
            crate::seal::Sealer::ephemeral(),
        ),
        sessions: Default::default(),
    };
    Core { p, store, clock }
}

pub(super) async fn core() -> Core {
    core_with(expiry()).await
}

fn challenge(verifier: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Core {
    fn client(&self, id: &str) -> Arc<Client> {
        self.p.clients.get(id).unwrap()
    }

    /// An authorization request of `client` with PKCE, jane logged in to it in `BROWSER`:
    /// its id.
    async fn logged_in_request(&self, client: &str) -> String {
        let next = self
            .p
            .start_authorization(
                AuthorizeParams {
                    client_id: Some(client.into()),
                    redirect_uri: Some(REDIRECT.into()),
                    response_type: Some("code".into()),
                    scope: Some("openid".into()),
                    code_challenge: Some(challenge(VERIFIER)),
                    code_challenge_method: Some("S256".into()),
                    ..Default::default()
                },
                &browser(),
            )
            .await
            .unwrap();
        let (Next::Connector { request_id, .. } | Next::Choose { request_id, .. }) = next else {
            panic!("a login page was expected: {next:?}");
        };
        self.p
            .password_login(
                &request_id,
                "local",
                "jane@example.com",
                "correct horse",
                &browser(),
                None,
            )
            .await
            .unwrap();
        request_id
    }

    /// A browser login of jane at `app` through to the redirect with the code.
    async fn code(&self, scope: &str, pkce: bool) -> String {
        let next = self
            .p
            .start_authorization(
                AuthorizeParams {
                    client_id: Some("app".into()),
                    redirect_uri: Some(REDIRECT.into()),
                    response_type: Some("code".into()),
                    scope: Some(scope.into()),
                    state: Some("st".into()),
                    nonce: Some("n-0".into()),
                    code_challenge: pkce.then(|| challenge(VERIFIER)),
                    code_challenge_method: pkce.then(|| "S256".into()),
                    ..Default::default()
                },
                &browser(),
            )
            .await
            .unwrap();
        let request_id = match next {
            Next::Connector { request_id, .. } | Next::Choose { request_id, .. } => request_id,
            other => panic!("a login page was expected: {other:?}"),
        };
        self.p
            .password_login(
                &request_id,
                "local",
                "jane@example.com",
                "correct horse",
                &browser(),
                None,
            )
            .await
            .unwrap();
        assert!(matches!(
            self.p.approval(&request_id, &browser()).await.unwrap(),
            ApprovalStep::Ask(_)
        ));
        let redirect = self
            .p
            .finish(&request_id, true, &browser())
            .await
            .unwrap()
            .redirect;
        assert!(redirect.starts_with(REDIRECT), "{redirect}");
        assert_eq!(query_param(&redirect, "state").as_deref(), Some("st"));
        query_param(&redirect, "code").unwrap()
    }

    async fn redeem(
        &self,
        code: &str,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        self.token(
            "app",
            TokenParams {
                grant_type: Some("authorization_code".into()),
                code: Some(code.into()),
                redirect_uri: Some(REDIRECT.into()),
                code_verifier: verifier.map(String::from),
                ..Default::default()
            },
        )
        .await
    }

    async fn refresh(&self, client: &str, token: &str) -> Result<TokenResponse, OAuthError> {
        self.token(
            client,
            TokenParams {
                grant_type: Some("refresh_token".into()),
                refresh_token: Some(token.into()),
                ..Default::default()
            },
        )
        .await
    }

    async fn token(&self, client: &str, p: TokenParams) -> Result<TokenResponse, OAuthError> {
        self.p.token(self.client(client), p, ADDR).await
    }

    fn audited(&self, action: &str) -> usize {
        self.store
            .audit_events()
            .iter()
            .filter(|e| e.action == action)
            .count()
    }
}

fn refused(r: Result<TokenResponse, OAuthError>, code: ErrorCode, says: &str) {
    match r {
        Ok(t) => panic!("expected {code:?}, got tokens {t:?}"),
        Err(e) => {
            assert_eq!(e.code, code, "{e}");
            assert!(e.description.contains(says), "{e}");
        }
    }
}

#[tokio::test]
async fn a_code_with_pkce_yields_verifiable_tokens_once() {
    let c = core().await;
    let code = c.code("openid offline_access", true).await;
    let t = c.redeem(&code, Some(VERIFIER)).await.unwrap();
    let claims = c.p.verify_access_token(&t.access_token).await.unwrap();
    assert_eq!(
        crate::identity::Identity::parse_subject(&claims.sub),
        Some(("u-jane".into(), "local".into()))
    );
    assert_eq!(claims.iat, START);
    assert!(t.id_token.is_some() && t.refresh_token.is_some());
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let c = core().await;
    let code = c.code("openid offline_access", true).await;
    let first = c.redeem(&code, Some(VERIFIER)).await.unwrap();
    refused(
        c.redeem(&code, Some(VERIFIER)).await,
        ErrorCode::InvalidGrant,
        "already used",
    );
    let access = c.p.verify_access_token(&first.access_token).await;
    assert_eq!(access.unwrap_err().code, ErrorCode::InvalidToken);
    refused(
        c.refresh("app", first.refresh_token.as_deref().unwrap())
            .await,
        ErrorCode::InvalidGrant,
        "invalid refresh token",
    );
    assert_eq!(c.audited("code.replay"), 1);
}

#[tokio::test]
async fn pkce_refusals_each_spend_the_code() {
    let c = core().await;
    for (verifier, says) in [
        (
            Some("a-wrong-verifier-of-at-least-forty-three-characters-01234567"),
            "does not match",
        ),
        (None, "code_verifier is required"),
    ] {
        let code = c.code("openid", true).await;
        refused(
            c.redeem(&code, verifier).await,
            ErrorCode::InvalidGrant,
            says,
        );
        // The right verifier comes too late: the code was presented once already.
        refused(
            c.redeem(&code, Some(VERIFIER)).await,
            ErrorCode::InvalidGrant,
            "already used",
        );
    }
    let code = c.code("openid", false).await;
    refused(
        c.redeem(&code, Some(VERIFIER)).await,
        ErrorCode::InvalidGrant,
        "no code_challenge",
    );
}

#[tokio::test]
async fn a_code_expires_after_ten_minutes_and_binds_its_redirect_and_client() {
    let c = core().await;
    let code = c.code("openid", false).await;
    c.clock.advance(600);
    refused(
        c.redeem(&code, None).await,
        ErrorCode::InvalidGrant,
        "expired",
    );

    let code = c.code("openid", false).await;
    c.clock.advance(599);
    let elsewhere = TokenParams {
        grant_type: Some("authorization_code".into()),
        code: Some(code.clone()),
        redirect_uri: Some("https://app.example/other".into()),
        ..Default::default()
    };
    refused(
        c.token("app", elsewhere).await,
        ErrorCode::InvalidGrant,
        "redirect_uri",
    );

    let code = c.code("openid", false).await;
    let stolen = TokenParams {
        grant_type: Some("authorization_code".into()),
        code: Some(code.clone()),
        redirect_uri: Some(REDIRECT.into()),
        ..Default::default()
    };
    refused(
        c.token("other", stolen).await,
        ErrorCode::InvalidGrant,
        "another client",
    );
    // Another client's attempt does not spend it for its own.
    assert!(c.redeem(&code, None).await.is_ok());
}

#[tokio::test]
async fn refresh_rotates_and_a_repeat_inside_the_reuse_interval_gets_the_same_successor() {
    let c = core().await;
    let code = c.code("openid offline_access", false).await;
    let t0 = c.redeem(&code, None).await.unwrap().refresh_token.unwrap();
    c.clock.advance(10);
    let t1 = c.refresh("app", &t0).await.unwrap().refresh_token.unwrap();
    assert_ne!(t0, t1);
    // Parallel kubectl calls: the same old token again, within reuseInterval.
    c.clock.advance(2);
    let again = c.refresh("app", &t0).await.unwrap().refresh_token.unwrap();
    assert_eq!(again, t1);
    let t2 = c.refresh("app", &t1).await.unwrap().refresh_token.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(c.audited("refresh.revoke"), 0);
}

#[tokio::test]
async fn a_rotated_token_presented_after_the_reuse_interval_revokes_the_whole_family() {
    let c = core().await;
    let code = c.code("openid offline_access", false).await;
    let t0 = c.redeem(&code, None).await.unwrap().refresh_token.unwrap();
    let t1 = c.refresh("app", &t0).await.unwrap().refresh_token.unwrap();
    c.clock.advance(4);
    refused(
        c.refresh("app", &t0).await,
        ErrorCode::InvalidGrant,
        "already used",
    );
    // The thief's replay also ends the legitimate holder's successor.
    refused(
        c.refresh("app", &t1).await,
        ErrorCode::InvalidGrant,
        "invalid refresh token",
    );
    let id = t1.split('.').next().unwrap();
    let row = crate::storage::store::RefreshStore::get_refresh_token(c.store.as_ref(), id)
        .await
        .unwrap();
    let family = c.store.refresh_family(&row.family_id);
    assert_eq!(family.len(), 2);
    assert!(family.iter().all(|t| t.revoked_at == Some(START + 4)));
    assert_eq!(c.audited("refresh.revoke"), 1);
}

#[tokio::test]
async fn a_refresh_token_dies_unused_or_old_and_stays_with_its_client() {
    let c = core().await;
    let code = c.code("openid offline_access", false).await;
    let t = c.redeem(&code, None).await.unwrap().refresh_token.unwrap();
    refused(
        c.refresh("other", &t).await,
        ErrorCode::InvalidGrant,
        "another client",
    );
    c.clock.advance(3600);
    refused(
        c.refresh("app", &t).await,
        ErrorCode::InvalidGrant,
        "invalid refresh token",
    );

    // Used every 50 minutes it lives until the family's absolute lifetime.
    let code = c.code("openid offline_access", false).await;
    let mut t = c.redeem(&code, None).await.unwrap().refresh_token.unwrap();
    let born = c.clock.now();
    while c.clock.now() + 3000 < born + 24 * 3600 {
        c.clock.advance(3000);
        t = c.refresh("app", &t).await.unwrap().refresh_token.unwrap();
    }
    c.clock.advance(born + 24 * 3600 - c.clock.now());
    refused(
        c.refresh("app", &t).await,
        ErrorCode::InvalidGrant,
        "invalid refresh token",
    );
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let c = core().await;
    let code = c.code("openid offline_access", false).await;
    let t = c.redeem(&code, None).await.unwrap().refresh_token.unwrap();
    let wider = TokenParams {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(t.clone()),
        scope: Some("openid offline_access groups".into()),
        ..Default::default()
    };
    refused(
        c.token("app", wider).await,
        ErrorCode::InvalidScope,
        "exceeds",
    );
    let narrower = TokenParams {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(t),
        scope: Some("openid".into()),
        ..Default::default()
    };
    assert_eq!(c.token("app", narrower).await.unwrap().scope, "openid");
}

#[tokio::test]
async fn rotation_off_keeps_the_token_and_counts_its_use() {
    let c = core_with(Expiry {
        disable_rotation: true,
        ..expiry()
    })
    .await;
    let code = c.code("openid offline_access", false).await;
    let t = c.redeem(&code, None).await.unwrap().refresh_token.unwrap();
    c.clock.advance(3000);
    assert_eq!(
        c.refresh("app", &t).await.unwrap().refresh_token.unwrap(),
        t
    );
    // The use moved the idle deadline: 3000 s later it still works, 6000 s after the login.
    c.clock.advance(3000);
    assert!(c.refresh("app", &t).await.is_ok());
}

#[tokio::test]
async fn a_device_polls_pending_is_slowed_down_and_expires() {
    let c = core().await;
    let app = c.client("app");
    let d =
        c.p.device_authorize(&app, Some("openid"), ADDR)
            .await
            .unwrap();
    let poll = || {
        c.token(
            "app",
            TokenParams {
                grant_type: Some(crate::config::DEVICE_CODE_GRANT.into()),
                device_code: Some(d.device_code.clone()),
                ..Default::default()
            },
        )
    };
    refused(
        poll().await,
        ErrorCode::AuthorizationPending,
        "not finished",
    );
    c.clock.advance(1);
    refused(poll().await, ErrorCode::SlowDown, "poll at most every");
    c.clock.advance(300);
    refused(poll().await, ErrorCode::ExpiredToken, "expired");
}

#[tokio::test]
async fn a_device_approved_in_the_browser_gets_tokens_once() {
    let c = core().await;
    let app = c.client("app");
    let d =
        c.p.device_authorize(&app, Some("openid"), ADDR)
            .await
            .unwrap();
    let request_id = match c.p.device_start(&d.user_code, &browser()).await.unwrap() {
        Next::Connector { request_id, .. } | Next::Choose { request_id, .. } => request_id,
        other => panic!("a login page was expected: {other:?}"),
    };
    c.p.password_login(
        &request_id,
        "local",
        "jane@example.com",
        "correct horse",
        &browser(),
        None,
    )
    .await
    .unwrap();
    // A device always asks the person to confirm, showing the code the device shows.
    match c.p.approval(&request_id, &browser()).await.unwrap() {
        ApprovalStep::Ask(a) => assert_eq!(a.device.unwrap().user_code, d.user_code),
        ApprovalStep::SecondFactor => panic!("no second factor is configured"),
        ApprovalStep::Done(r) => panic!("no confirmation: {}", r.redirect),
    }
    c.p.finish(&request_id, true, &browser()).await.unwrap();
    let poll = TokenParams {
        grant_type: Some(crate::config::DEVICE_CODE_GRANT.into()),
        device_code: Some(d.device_code.clone()),
        ..Default::default()
    };
    assert!(c.token("app", poll).await.is_ok());
    let again = TokenParams {
        grant_type: Some(crate::config::DEVICE_CODE_GRANT.into()),
        device_code: Some(d.device_code),
        ..Default::default()
    };
    refused(
        c.token("app", again).await,
        ErrorCode::InvalidGrant,
        "already used",
    );
}

#[tokio::test]
async fn a_login_in_one_browser_cannot_be_finished_from_another() {
    let c = core().await;
    let request_id = c.logged_in_request("app").await;
    assert!(
        c.p.finish(
            &request_id,
            true,
            &Browser {
                csrf: "another browser".into(),
                ..browser()
            },
        )
        .await
        .is_err()
    );
    assert!(c.p.finish(&request_id, true, &browser()).await.is_ok());
}

#[tokio::test]
async fn the_admin_ui_skips_the_approval_page_and_other_clients_do_not() {
    let c = core().await;
    for (client, asks) in [("app", true), (crate::config::ADMIN_CLIENT, false)] {
        let request_id = c.logged_in_request(client).await;
        match c.p.approval(&request_id, &browser()).await.unwrap() {
            ApprovalStep::Ask(_) => assert!(asks, "{client} was asked for consent"),
            ApprovalStep::SecondFactor => panic!("no second factor is configured"),
            ApprovalStep::Done(f) => {
                assert!(!asks, "{client} skipped consent");
                assert!(query_param(&f.redirect, "code").is_some(), "{}", f.redirect);
            }
        }
    }
}

#[tokio::test]
async fn signing_keys_rotate_on_the_manual_clock_and_old_tokens_still_verify() {
    let c = core().await;
    let first = c.p.keys.signer().unwrap().kid.clone();
    c.clock.advance(6 * 3600 - 10);
    let code = c.code("openid", false).await;
    let old = c.redeem(&code, None).await.unwrap().access_token;
    c.clock.advance(10);
    c.p.keys.refresh().await.unwrap();
    // Announced first: the old key signs until the new one's lead time has passed.
    assert_eq!(c.p.keys.signer().unwrap().kid, first);
    c.clock.advance(60);
    let second = c.p.keys.signer().unwrap().kid.clone();
    assert_ne!(second, first);
    assert!(c.p.verify_access_token(&old).await.is_ok());
    // Once every token it signed has expired, the old key leaves the key set.
    c.clock.advance(300 + 60);
    c.p.keys.refresh().await.unwrap();
    assert!(c.p.keys.current().find(&first).is_none());
}

/// Dex's `oauth2.pkce`: `enforce` holds every client to PKCE, and the methods list is what an
/// authorization request may use (no method is RFC 7636's `plain`).
#[tokio::test]
async fn dex_pkce_settings_enforce_pkce_and_narrow_its_methods() {
    let mut c = core().await;
    let ask = |challenge: Option<String>, method: Option<&str>| AuthorizeParams {
        client_id: Some("app".into()),
        redirect_uri: Some(REDIRECT.into()),
        response_type: Some("code".into()),
        scope: Some("openid".into()),
        code_challenge: challenge,
        code_challenge_method: method.map(Into::into),
        ..Default::default()
    };
    let plain = Some(VERIFIER.to_string());
    // Defaults: a confidential client may go without, and plain is accepted.
    assert!(
        c.p.start_authorization(ask(None, None), &browser())
            .await
            .is_ok()
    );
    assert!(
        c.p.start_authorization(ask(plain.clone(), None), &browser())
            .await
            .is_ok()
    );
    c.p.pkce = crate::config::PkceConfig {
        enforce: true,
        code_challenge_methods_supported: vec!["S256".into()],
    };
    let says = |r: Result<Next, _>| format!("{:?}", r.err()).replace('+', " ");
    let without = says(c.p.start_authorization(ask(None, None), &browser()).await);
    assert!(without.contains("must use PKCE"), "{without}");
    for method in [None, Some("plain")] {
        let r = says(
            c.p.start_authorization(ask(plain.clone(), method), &browser())
                .await,
        );
        assert!(
            r.contains("code_challenge_method must be S256"),
            "{method:?}: {r}"
        );
    }
    let s256 = ask(Some(challenge(VERIFIER)), Some("S256"));
    assert!(c.p.start_authorization(s256, &browser()).await.is_ok());
}

/// A client built as the file builds it, with `change` applied to its entry.
fn client_with(id: &str, change: impl FnOnce(&mut StaticClient)) -> Client {
    let mut c = StaticClient {
        id: Some(id.into()),
        secret: Some(format!("secret-of-{id}")),
        redirect_uris: vec![REDIRECT.into()],
        name: id.into(),
        ..Default::default()
    };
    change(&mut c);
    Client::from_config(&c)
}

/// `allowedConnectors` holds where tokens are signed: a peer named by
/// `audience:server:client_id:` that does not list the login's connector gets no token, and a
/// code issued before its client was narrowed does not redeem.
#[tokio::test]
async fn tokens_name_only_clients_that_allow_the_logins_connector() {
    let mut c = core().await;
    c.p.clients = Clients::new([
        client("app", false),
        client_with("other", |o| {
            o.trusted_peers = vec!["app".into()];
            o.allowed_connectors = vec!["ldap".into()];
        }),
    ]);
    let code = c.code("openid audience:server:client_id:other", true).await;
    let r = c.redeem(&code, Some(VERIFIER)).await;
    refused(
        r,
        ErrorCode::InvalidScope,
        "client other does not allow logins through connector local",
    );

    // The peer allows local: the token names it.
    c.p.clients = Clients::new([
        client("app", false),
        client_with("other", |o| {
            o.trusted_peers = vec!["app".into()];
            o.allowed_connectors = vec!["local".into()];
        }),
    ]);
    let code = c.code("openid audience:server:client_id:other", true).await;
    assert!(c.redeem(&code, Some(VERIFIER)).await.is_ok());

    // Narrowed between the login and the redemption: the code no longer redeems.
    let code = c.code("openid", true).await;
    c.p.clients = Clients::new([client_with("app", |a| {
        a.allowed_connectors = vec!["ldap".into()];
    })]);
    refused(
        c.redeem(&code, Some(VERIFIER)).await,
        ErrorCode::InvalidGrant,
        "connector not allowed for this client",
    );
}

mod sessions;
