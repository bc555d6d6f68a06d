//! Who is an admin: the admin UI's sign-in through Gantry itself, its sessions (checked again
//! on every request), and the admin API's client tokens.

use super::*;

impl AdminService {
    fn is_admin(&self, connector: &str, user: &str, email: &str, groups: &[String]) -> bool {
        let connectors = self.core.connector_ids();
        self.core.policy.get().compiled.is_admin(&Subject {
            connector,
            connectors: &connectors,
            user,
            email,
            groups,
        })
    }

    /// Finish the admin client's code flow: the session cookie value if the user is an admin.
    pub async fn admin_sign_in(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<(String, Admin), AdminError> {
        let admin_client = self
            .core
            .authenticate_client(
                Some(ClientAuth {
                    id: Some(ADMIN_CLIENT.into()),
                    secret: None,
                }),
                None,
                None,
            )
            .map_err(|e| AdminError::BadRequest(e.description))?;
        let issued = self
            .core
            .token(
                admin_client,
                TokenParams {
                    grant_type: Some("authorization_code".into()),
                    code: Some(code.into()),
                    redirect_uri: Some(redirect_uri(&self.core.issuer)),
                    code_verifier: Some(verifier.into()),
                    ..TokenParams::default()
                },
                // A code grant checks no password: no address is counted.
                std::net::Ipv4Addr::UNSPECIFIED.into(),
            )
            .await
            .map_err(|e| AdminError::BadRequest(e.description))?;
        let c = self
            .core
            .verify_access_token(&issued.access_token)
            .await
            .map_err(|_| AdminError::NotSignedIn)?;
        // The identity the code was issued for, as its connector made it: what the session's
        // re-checks hand back to the connector. The code is ours (just redeemed), so its row is.
        let identity = self
            .db
            .get_auth_code_fresh(&secret::hash_secret(code))
            .await
            .map_err(AdminError::from)
            .and_then(|row| {
                serde_json::from_str::<Identity>(&row.identity)
                    .map_err(|e| AdminError::Internal(format!("stored identity: {e}")))
            })?;
        if identity.subject() != c.sub {
            return Err(AdminError::Internal(
                "the redeemed code names another user than its token".into(),
            ));
        }
        // The stable identity the token is about, never its display name: an upstream user
        // whose `name` is "admin" is not the admin.
        let (user_id, connector) = Identity::parse_subject(&c.sub).unwrap_or_default();
        let user = self.core.policy_user(
            &connector,
            &user_id,
            c.preferred_username.as_deref().unwrap_or_default(),
        );
        let email = c.email.clone().unwrap_or_default();
        let groups = c.groups.clone().unwrap_or_default();
        // Judged by the policy as the database has it now (see `admin_session`).
        self.sync_admin_objects().await?;
        if !self.is_admin(&connector, &user, &email, &groups) {
            let who = if email.is_empty() { user } else { email };
            tracing::warn!(user = %who, "admin sign-in refused: not an administrator");
            self.core
                .audit(
                    &who,
                    "admin.sign_in",
                    "admin",
                    "refused",
                    serde_json::json!({}),
                )
                .await;
            return Err(AdminError::Forbidden(who));
        }
        let token = secret::random_token(32);
        let now = self.core.clock.now();
        self.db
            .create_admin_session(&AdminSession {
                id_hash: secret::hash_secret(&token),
                subject: c.sub.clone(),
                username: user.clone(),
                email: email.clone(),
                groups_json: serde_json::to_string(&groups).unwrap_or_default(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + ABSOLUTE_TIMEOUT,
                identity: serde_json::to_string(&identity)
                    .map_err(|e| AdminError::Internal(e.to_string()))?,
                checked_at: now,
            })
            .await?;
        tracing::info!(user = %user, "admin signed in");
        self.core
            .audit(
                &email,
                "admin.sign_in",
                "admin",
                "success",
                serde_json::json!({}),
            )
            .await;
        Ok((
            token,
            Admin {
                name: user,
                connector,
                email,
                groups,
                client: None,
            },
        ))
    }

    /// The admin behind a session cookie. Everything that made them an admin is checked again
    /// on every request, against what every replica shares (the database): the session still
    /// exists (revoking the user deletes it), the user still exists and may log in, their
    /// groups now, and the policy now. A session that fails a check ends there, so an admin
    /// who is disabled, deleted, regrouped, revoked or dropped from `policy.admins` loses the
    /// admin pages and API at once, on every replica.
    pub async fn admin_session(&self, token: &str) -> Result<Admin, AdminError> {
        if token.is_empty() {
            return Err(AdminError::NotSignedIn);
        }
        let now = self.core.clock.now();
        let id_hash = secret::hash_secret(token);
        let s = match self
            .db
            .use_admin_session(&id_hash, now, now - IDLE_TIMEOUT)
            .await
        {
            Ok(s) => s,
            Err(StorageError::NotFound) => return Err(AdminError::NotSignedIn),
            Err(e) => return Err(e.into()),
        };
        // The policy and connectors as the database has them now, not as this replica last
        // polled them: a change made on another replica a moment ago applies to this request.
        self.sync_admin_objects().await?;
        match self.recheck_admin(&id_hash, &s, now).await {
            Ok(admin) => Ok(admin),
            Err(Ended(reason)) => {
                self.db.delete_admin_session(&id_hash).await?;
                let who = if s.email.is_empty() {
                    &s.username
                } else {
                    &s.email
                };
                tracing::info!(user = %who, reason, "admin session ended");
                self.core
                    .audit(
                        who,
                        "admin.session_end",
                        "admin",
                        "ended",
                        serde_json::json!({ "reason": reason }),
                    )
                    .await;
                Err(AdminError::NotSignedIn)
            }
            Err(Fault(e)) => Err(e),
        }
    }

    /// Whether the user behind session `s` is still an administrator: the admin if so.
    async fn recheck_admin(
        &self,
        id_hash: &str,
        s: &AdminSession,
        now: i64,
    ) -> Result<Admin, Recheck> {
        let Ok(mut identity) = serde_json::from_str::<Identity>(&s.identity) else {
            return Err(Ended("the session cannot be checked again"));
        };
        if identity.subject() != s.subject {
            return Err(Ended("the session cannot be checked again"));
        }
        let Some(conn) = self.core.connector(&identity.connector_id) else {
            return Err(Ended("the connector is gone"));
        };
        let local = conn.kind() == crate::config::ConnectorKind::Local;
        if local || now - s.checked_at >= RECHECK_INTERVAL {
            // The admin UI signs in with the groups scope: admin rights may come from groups.
            let scopes = crate::connector::Scopes {
                offline_access: true,
                groups: true,
            };
            let fresh = match conn.refresh(&identity, scopes, now).await {
                Ok(fresh) if fresh.subject() == s.subject => fresh,
                Ok(_) => return Err(Ended("the connector answered for another user")),
                // Unreachable or busy: neither a yes nor a no. Refused now, kept for later.
                Err(e @ (ConnectorError::Unavailable(_) | ConnectorError::Storage(_))) => {
                    return Err(Fault(AdminError::Unavailable(e.to_string())));
                }
                Err(_) => return Err(Ended("the user is gone or may no longer log in")),
            };
            // The password database's answer costs nothing to get again; an upstream one is
            // kept (with what the connector needs next time, such as a rotated refresh token).
            if !local {
                let json = serde_json::to_string(&fresh)
                    .map_err(|e| Fault(AdminError::Internal(e.to_string())))?;
                let groups = serde_json::to_string(&fresh.groups).unwrap_or_default();
                self.db
                    .recheck_admin_session(id_hash, &json, &groups, now)
                    .await
                    .map_err(|e| Fault(e.into()))?;
            }
            identity = fresh;
        }
        // The name again from the subject, so the decision is about the identity.
        let user = self.core.policy_user(
            &identity.connector_id,
            &identity.user_id,
            &identity.preferred_username,
        );
        let email = identity.email.clone();
        if !self.is_admin(&identity.connector_id, &user, &email, &identity.groups) {
            return Err(Ended("no longer an administrator"));
        }
        Ok(Admin {
            name: user,
            connector: identity.connector_id,
            email,
            groups: identity.groups,
            client: None,
        })
    }

    pub async fn admin_sign_out(&self, token: &str) -> Result<(), AdminError> {
        Ok(self
            .db
            .delete_admin_session(&secret::hash_secret(token))
            .await?)
    }

    /// The API client behind a bearer token: only `client_credentials` tokens of clients the
    /// policy's `admins.clients` names. A user's access token is not accepted here: it was
    /// issued to some other application, which must not gain admin rights by replaying it.
    pub async fn admin_api_client(&self, bearer: &str) -> Result<Admin, AdminError> {
        let c = self
            .core
            .verify_access_token(bearer)
            .await
            .map_err(|_| AdminError::NotSignedIn)?;
        let Some(client) = c.client_id.clone().filter(|id| *id == c.sub) else {
            return Err(AdminError::Forbidden(
                "a user's access token (use a client_credentials token)".into(),
            ));
        };
        // As for sessions: the clients and policy as the database has them now. A deleted
        // client's tokens end with it, however long they were issued for.
        self.sync_admin_objects().await?;
        if self.core.clients.get(&client).is_none() {
            return Err(AdminError::NotSignedIn);
        }
        if !self
            .core
            .policy
            .get()
            .compiled
            .admins
            .clients
            .contains(&client)
        {
            return Err(AdminError::Forbidden(format!("client {client}")));
        }
        // Made before the client was (re)created, its secret rotated, or it was last dropped
        // from the admin clients: a token of a client that is no longer the one it was made for.
        if c.iat <= self.db.client_token_floor(&client).await? {
            return Err(AdminError::NotSignedIn);
        }
        Ok(Admin {
            name: client.clone(),
            connector: String::new(),
            email: String::new(),
            groups: Vec::new(),
            client: Some(client),
        })
    }
}
