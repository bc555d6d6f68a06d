//! Browser sessions on the protocol core: a second request in a signed-in browser, `prompt`,
//! `max_age`, `id_token_hint`, `ssoSharedWith`, logout and session-bound refresh tokens.

use super::*;
use crate::oauth::authorize::{AuthorizeError, Finished};
use crate::oauth::logout::{LogoutOutcome, LogoutParams};
use crate::oauth::session::{CookieChange, SessionCookie, decode_cookie};

fn params(client: &str, extra: &[(&str, &str)]) -> AuthorizeParams {
    let mut p = AuthorizeParams {
        client_id: Some(client.into()),
        redirect_uri: Some(REDIRECT.into()),
        response_type: Some("code".into()),
        scope: Some("openid offline_access".into()),
        state: Some("st".into()),
        code_challenge: Some(challenge(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    };
    for (k, v) in extra {
        let v = Some(v.to_string());
        match *k {
            "prompt" => p.prompt = v,
            "max_age" => p.max_age = v,
            "id_token_hint" => p.id_token_hint = v,
            "login_hint" => p.login_hint = v,
            other => panic!("no parameter {other}"),
        }
    }
    p
}

fn with_session(cookie: &SessionCookie) -> Browser {
    Browser {
        session: Some(cookie.clone()),
        ..browser()
    }
}

/// jane logs in at `client` with the form and approves: the code and the session cookie.
async fn form_login(c: &Core, client: &str, b: &Browser) -> (String, SessionCookie) {
    let next =
        c.p.start_authorization(params(client, &[]), b)
            .await
            .unwrap();
    let Next::Connector { request_id, .. } = next else {
        panic!("the login form was expected: {next:?}");
    };
    c.p.password_login(
        &request_id,
        "local",
        "jane@example.com",
        "correct horse",
        &browser(),
        Some(true),
    )
    .await
    .unwrap();
    let f = match c.p.approval(&request_id, b).await.unwrap() {
        ApprovalStep::Ask(_) => c.p.finish(&request_id, true, b).await.unwrap(),
        ApprovalStep::Done(f) => f,
        ApprovalStep::SecondFactor => panic!("no second factor is configured"),
    };
    let cookie = match f.cookie {
        Some(CookieChange::Set { value, max_age }) => {
            assert_eq!(
                max_age,
                Some(24 * 3600),
                "remember me keeps it for the absolute lifetime"
            );
            decode_cookie(&value, None).unwrap()
        }
        other => panic!("no session cookie set: {other:?}"),
    };
    (query_param(&f.redirect, "code").unwrap(), cookie)
}

fn finished(r: Result<Next, AuthorizeError>) -> Finished {
    match r {
        Ok(Next::Finished(f)) => f,
        other => panic!("a silent login was expected: {other:?}"),
    }
}

fn shows_form(r: Result<Next, AuthorizeError>) {
    assert!(
        matches!(r, Ok(Next::Connector { .. } | Next::Choose { .. })),
        "a login page was expected: {r:?}"
    );
}

fn error_redirect(r: Result<Next, AuthorizeError>, code: &str) {
    match r {
        Err(AuthorizeError::Redirect(uri)) => {
            assert_eq!(query_param(&uri, "error").as_deref(), Some(code), "{uri}");
        }
        other => panic!("an error redirect ({code}) was expected: {other:?}"),
    }
}

async fn id_claims(c: &Core, code: &str) -> crate::oauth::tokens::Claims {
    let t = c.redeem(code, Some(VERIFIER)).await.unwrap();
    c.p.keys
        .verify(&t.id_token.unwrap(), &c.p.validation(false))
        .unwrap()
}

#[tokio::test]
async fn a_signed_in_browser_gets_a_code_without_a_form_and_the_token_names_the_real_login() {
    let c = core().await;
    let (code, cookie) = form_login(&c, "app", &browser()).await;
    let first = id_claims(&c, &code).await;
    assert_eq!(first.sid.as_deref(), Some(cookie.id.as_str()));
    assert_eq!(first.amr, Some(vec!["pwd".to_string()]));
    assert_eq!(first.acr.as_deref(), Some(crate::oauth::session::ACR_1FA));
    c.clock.advance(120);
    // Consent was given in this session for these scopes: no page at all.
    let f = finished(
        c.p.start_authorization(params("app", &[]), &with_session(&cookie))
            .await,
    );
    assert_eq!(f.cookie, None);
    let again = id_claims(&c, &query_param(&f.redirect, "code").unwrap()).await;
    assert_eq!(again.sid, first.sid);
    assert_eq!(
        again.auth_time,
        Some(START),
        "auth_time is the real login, not now"
    );
    assert_eq!(again.sub, first.sub);
}

#[tokio::test]
async fn prompt_none_answers_login_required_without_a_session_and_a_code_with_one() {
    let c = core().await;
    error_redirect(
        c.p.start_authorization(params("app", &[("prompt", "none")]), &browser())
            .await,
        "login_required",
    );
    let (_, cookie) = form_login(&c, "app", &browser()).await;
    finished(
        c.p.start_authorization(params("app", &[("prompt", "none")]), &with_session(&cookie))
            .await,
    );
    error_redirect(
        c.p.start_authorization(
            params("app", &[("prompt", "none login")]),
            &with_session(&cookie),
        )
        .await,
        "invalid_request",
    );
    // Another client that the session never approved: consent is needed, and none asked.
    let mut c = c;
    c.p.clients = Clients::new([
        client_with("app", |a| a.sso_shared_with = Some(vec!["other".into()])),
        client("other", false),
    ]);
    error_redirect(
        c.p.start_authorization(
            params("other", &[("prompt", "none")]),
            &with_session(&cookie),
        )
        .await,
        "consent_required",
    );
}

#[tokio::test]
async fn prompt_login_max_age_and_a_hint_for_someone_else_show_the_form_again() {
    let c = core().await;
    let (code, cookie) = form_login(&c, "app", &browser()).await;
    let hint = c
        .redeem(&code, Some(VERIFIER))
        .await
        .unwrap()
        .id_token
        .unwrap();
    let b = with_session(&cookie);
    c.clock.advance(100);
    shows_form(
        c.p.start_authorization(params("app", &[("prompt", "login")]), &b)
            .await,
    );
    shows_form(
        c.p.start_authorization(params("app", &[("max_age", "0")]), &b)
            .await,
    );
    shows_form(
        c.p.start_authorization(params("app", &[("max_age", "60")]), &b)
            .await,
    );
    finished(
        c.p.start_authorization(params("app", &[("max_age", "600")]), &b)
            .await,
    );
    finished(
        c.p.start_authorization(params("app", &[("id_token_hint", &hint)]), &b)
            .await,
    );
    error_redirect(
        c.p.start_authorization(params("app", &[("max_age", "soon")]), &b)
            .await,
        "invalid_request",
    );
    error_redirect(
        c.p.start_authorization(params("app", &[("id_token_hint", "e30.e30.e30")]), &b)
            .await,
        "invalid_request",
    );
    // A session of someone else than the hint names does not answer for them.
    let other_sub = crate::identity::Identity {
        user_id: "u-john".into(),
        connector_id: "local".into(),
        ..Default::default()
    };
    let mut claims =
        c.p.keys
            .verify::<crate::oauth::tokens::Claims>(&hint, &c.p.validation(false))
            .unwrap();
    claims.sub = other_sub.subject();
    let foreign = c.p.keys.signer().unwrap().sign(&claims, "JWT").unwrap();
    shows_form(
        c.p.start_authorization(params("app", &[("id_token_hint", &foreign)]), &b)
            .await,
    );
}

#[tokio::test]
async fn another_client_signs_in_only_where_a_client_the_user_logged_in_to_shares() {
    let mut c = core().await;
    let (_, cookie) = form_login(&c, "app", &browser()).await;
    let b = with_session(&cookie);
    // Dex's default: no sharing.
    shows_form(c.p.start_authorization(params("other", &[]), &b).await);
    c.p.clients = Clients::new([
        client_with("app", |a| a.sso_shared_with = Some(vec!["other".into()])),
        client_with("other", |o| o.sso_shared_with = Some(vec!["third".into()])),
        client("third", false),
    ]);
    match c.p.start_authorization(params("other", &[]), &b).await {
        Ok(Next::Approve { request_id }) => {
            let f = c.p.finish(&request_id, true, &b).await.unwrap();
            assert!(query_param(&f.redirect, "code").is_some());
        }
        other => panic!("the approval page was expected: {other:?}"),
    }
    // "other" was reached through sharing: it shares nothing on (no chains).
    shows_form(c.p.start_authorization(params("third", &[]), &b).await);
    // A session made in another connector than the one the request names does not count.
    shows_form(
        c.p.start_authorization(
            AuthorizeParams {
                connector_id: Some("ldap".into()),
                ..params("app", &[])
            },
            &b,
        )
        .await
        .or_else(|e| match e {
            AuthorizeError::Redirect(_) => Ok(Next::Connector {
                request_id: String::new(),
                connector_id: String::new(),
            }),
            e => Err(e),
        }),
    );
}

#[tokio::test]
async fn a_wrong_secret_an_idle_or_an_old_session_logs_no_one_in() {
    let c = core().await;
    let (_, cookie) = form_login(&c, "app", &browser()).await;
    let forged = SessionCookie {
        id: cookie.id.clone(),
        secret: "guessed".into(),
    };
    shows_form(
        c.p.start_authorization(params("app", &[]), &with_session(&forged))
            .await,
    );
    let b = with_session(&cookie);
    c.clock.advance(3599);
    finished(c.p.start_authorization(params("app", &[]), &b).await);
    // Each use renews the idle time; an hour without one ends it.
    c.clock.advance(3600);
    shows_form(c.p.start_authorization(params("app", &[]), &b).await);
    assert_eq!(c.audited("session.end"), 1);
}

#[tokio::test]
async fn logout_with_a_hint_ends_the_session_and_a_bare_link_asks_first() {
    let c = core().await;
    let (code, cookie) = form_login(&c, "app", &browser()).await;
    let hint = c
        .redeem(&code, Some(VERIFIER))
        .await
        .unwrap()
        .id_token
        .unwrap();
    let b = with_session(&cookie);
    let bare =
        c.p.logout(LogoutParams::default(), &b, false)
            .await
            .unwrap();
    assert_eq!(bare.outcome, LogoutOutcome::Confirm);
    finished(c.p.start_authorization(params("app", &[]), &b).await);
    let out =
        c.p.logout(
            LogoutParams {
                id_token_hint: Some(hint),
                ..Default::default()
            },
            &b,
            false,
        )
        .await
        .unwrap();
    assert_eq!(out.cookie, Some(CookieChange::Clear));
    assert_eq!(c.audited("session.end"), 1);
    shows_form(c.p.start_authorization(params("app", &[]), &b).await);
    error_redirect(
        c.p.start_authorization(params("app", &[("prompt", "none")]), &b)
            .await,
        "login_required",
    );
}

#[tokio::test]
async fn refresh_tokens_of_a_session_bound_client_end_with_the_session_and_others_outlive_it() {
    let mut c = core().await;
    c.p.clients = Clients::new([
        client_with("app", |a| a.refresh_token_lifetime = Some("session".into())),
        client("other", false),
    ]);
    let (code, cookie) = form_login(&c, "app", &browser()).await;
    let t = c.redeem(&code, Some(VERIFIER)).await.unwrap();
    let t = c.refresh("app", &t.refresh_token.unwrap()).await.unwrap();
    let (other_code, _) = form_login(&c, "other", &with_session(&cookie)).await;
    let other = c
        .token(
            "other",
            TokenParams {
                grant_type: Some("authorization_code".into()),
                code: Some(other_code),
                redirect_uri: Some(REDIRECT.into()),
                code_verifier: Some(VERIFIER.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(c.p.end_session(&cookie.id, "test").await.unwrap());
    refused(
        c.refresh("app", &t.refresh_token.unwrap()).await,
        ErrorCode::InvalidGrant,
        "session",
    );
    assert!(
        c.refresh("other", &other.refresh_token.unwrap())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_signed_in_browser_confirms_a_device_without_the_password_but_still_confirms() {
    let c = core().await;
    let (_, cookie) = form_login(&c, "app", &browser()).await;
    let d =
        c.p.device_authorize(&c.client("app"), Some("openid"), ADDR)
            .await
            .unwrap();
    let b = with_session(&cookie);
    let request_id = match c.p.device_start(&d.user_code, &b).await.unwrap() {
        Next::Approve { request_id } => request_id,
        other => panic!("the device confirmation was expected: {other:?}"),
    };
    match c.p.approval(&request_id, &b).await.unwrap() {
        ApprovalStep::Ask(a) => assert_eq!(a.device.unwrap().user_code, d.user_code),
        ApprovalStep::Done(f) => panic!("a device is always confirmed: {}", f.redirect),
        ApprovalStep::SecondFactor => panic!("no second factor is configured"),
    }
    c.p.finish(&request_id, true, &b).await.unwrap();
    let t = c
        .token(
            "app",
            TokenParams {
                grant_type: Some(crate::config::DEVICE_CODE_GRANT.into()),
                device_code: Some(d.device_code),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(t.id_token.is_some());
    // Without a session the device's code leads to the login page.
    let d =
        c.p.device_authorize(&c.client("app"), Some("openid"), ADDR)
            .await
            .unwrap();
    shows_form(
        c.p.device_start(&d.user_code, &browser())
            .await
            .map_err(|_| AuthorizeError::Internal("device_start failed".into())),
    );
}

/// A page left open (an approval asked from the session) does not outlive the session: after
/// logout it issues nothing.
#[tokio::test]
async fn a_request_the_session_logged_in_ends_with_the_session() {
    let c = core().await;
    let (_, cookie) = form_login(&c, "app", &browser()).await;
    let b = with_session(&cookie);
    let request_id = match c
        .p
        .start_authorization(params("app", &[("prompt", "consent")]), &b)
        .await
    {
        Ok(Next::Approve { request_id }) => request_id,
        other => panic!("the approval page was expected: {other:?}"),
    };
    assert!(c.p.end_session(&cookie.id, "test").await.unwrap());
    match c.p.finish(&request_id, true, &b).await {
        Err(AuthorizeError::Page { message, .. }) => {
            assert!(message.contains("ended"), "{message}")
        }
        other => panic!("refused was expected: {other:?}"),
    }
    // And the request is gone, whatever is tried next.
    assert!(c.p.approval(&request_id, &b).await.is_err());
}

/// Sessions that expire while their browser is away are ended by the background task, and
/// the trail says so (their clients are told through it).
#[tokio::test]
async fn sessions_that_expire_unseen_are_ended_and_recorded() {
    let c = core().await;
    let (_, cookie) = form_login(&c, "app", &browser()).await;
    assert_eq!(c.p.end_expired_sessions().await.unwrap(), 0);
    c.clock.advance(3600);
    assert_eq!(c.p.end_expired_sessions().await.unwrap(), 1);
    assert_eq!(c.audited("session.end"), 1);
    assert!(
        !c.p.end_session(&cookie.id, "again").await.unwrap(),
        "ended once"
    );
}
