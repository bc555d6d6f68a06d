//! Identity sources. Each turns credentials or a callback into one `Identity`.
//!
//! A password connector checks a username and password; a callback connector (oidc, oauth,
//! saml, github, gitlab, microsoft,
//! google) sends the browser to a provider and reads its answer; a refresh hook re-validates the user
//! (still exists, groups now) whenever a refresh token is used. Connectors never see HTTP.

pub mod claims;
mod config_error;
pub mod egress;
pub mod gate;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod json_pages;
pub mod ldap;
pub mod local;
pub mod microsoft;
pub mod mock;
pub mod oauth;
pub mod oidc;
pub mod plain_http;
pub mod probe;
pub mod rest;
pub mod saml;
pub mod set;
pub mod token_endpoint;
pub mod upstream;
pub mod warm_up;

use crate::config::ConnectorKind;
use crate::identity::Identity;
use crate::storage::StorageError;
pub use config_error::ConnectorConfigError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The user no longer exists or may no longer log in.
    #[error("user is no longer valid")]
    UserGone,
    /// Several directory entries answer to one username.
    #[error("the username matches several entries")]
    Ambiguous,
    /// The identity source did not answer; the text is for logs.
    #[error("identity source unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the login, or its answer failed a check; the text says which.
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ConnectorError {
    /// The same error, its text led by what was being done (`github: get teams: ...`).
    pub fn while_(self, what: &str) -> ConnectorError {
        match self {
            ConnectorError::Rejected(m) => ConnectorError::Rejected(format!("{what}: {m}")),
            ConnectorError::Unavailable(m) => ConnectorError::Unavailable(format!("{what}: {m}")),
            e => e,
        }
    }

    /// On refresh, the provider's refusal ends the login (its reason goes to the log, not to
    /// the client); an unavailable provider stays unavailable, to be asked again later.
    pub fn on_refresh(self, connector: &str) -> ConnectorError {
        match self {
            ConnectorError::Rejected(m) => {
                tracing::info!(connector = %connector, reason = %m, "upstream refused the refresh");
                ConnectorError::UserGone
            }
            e => e,
        }
    }
}

/// What the client asked for that a connector acts on (Dex's `connector.Scopes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes {
    /// `offline_access`: keep what a refresh will need.
    pub offline_access: bool,
    /// `groups`: read the user's groups even where the connector's config does not need them.
    pub groups: bool,
}

impl Scopes {
    /// The scopes of a stored request or grant, as space-separated names.
    pub fn of(scopes: &[String]) -> Scopes {
        Scopes {
            offline_access: scopes.iter().any(|s| s == "offline_access"),
            groups: scopes.iter().any(|s| s == "groups"),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Local(local::Local),
    Ldap(Box<ldap::LdapConnector>),
    Oidc(Box<oidc::OidcConnector>),
    OAuth(Box<oauth::OAuthConnector>),
    Saml(Box<saml::SamlConnector>),
    Github(Box<github::GithubConnector>),
    Gitlab(Box<gitlab::GitlabConnector>),
    Mock(mock::MockCallback),
    Microsoft(Box<microsoft::MicrosoftConnector>),
    Google(Box<google::GoogleConnector>),
}

/// The answer of a password check.
#[derive(Debug)]
pub enum PasswordCheck {
    Accepted(Identity),
    /// Wrong password, unknown or disabled user, refused bind. `known_login`: the login names
    /// a user of this connector, so the audit trail may record it; a typed name that names
    /// nobody may be a password typed into the wrong field, and is never recorded.
    Refused {
        known_login: bool,
    },
}

impl PasswordCheck {
    pub const UNKNOWN: PasswordCheck = PasswordCheck::Refused { known_login: false };
}

/// Where a callback connector sends the browser, and what its callback must match.
#[derive(Debug)]
pub struct Begin {
    pub url: String,
    /// Empty for providers without ID tokens.
    pub nonce: String,
    /// Empty when the provider is not sent PKCE.
    pub verifier: String,
}

/// Deserialize a connector's `config` block; errors name the key path, in the config's words.
pub fn parse_config<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
) -> Result<T, ConnectorConfigError> {
    let node = crate::config::yaml::Node::from_json(v);
    // Keys in another case are read as meant (as Dex reads them); check-config says so.
    match crate::config::yaml::read_all::<T>(&node, "") {
        (Some(c), problems) if problems.iter().all(|p| p.note) => Ok(c),
        (_, problems) => {
            let problems = problems.into_iter().filter(|p| !p.note);
            let first = problems.into_iter().next();
            Err(ConnectorConfigError::Shape {
                path: first
                    .as_ref()
                    .map(|p| p.path.clone())
                    .filter(|p| !p.is_empty())
                    .map(|p| format!(".{p}"))
                    .unwrap_or_default(),
                message: first.map_or_else(|| "cannot be read".into(), |p| p.message),
            })
        }
    }
}

/// Every problem of the shape of a connector's `config` block as the file has it, each at its
/// key path under `base` and its line: what `check-config` lists before building connectors.
pub fn config_shape_problems(
    kind: ConnectorKind,
    node: &crate::config::yaml::Node,
    base: &str,
) -> Vec<crate::config::Problem> {
    use crate::config::yaml::read_all;
    match kind {
        ConnectorKind::Ldap => read_all::<ldap::config::LdapConfig>(node, base).1,
        ConnectorKind::Oidc => read_all::<oidc::config::OidcConfig>(node, base).1,
        ConnectorKind::OAuth => read_all::<oauth::OAuthConfig>(node, base).1,
        ConnectorKind::Saml => read_all::<saml::config::SamlConfig>(node, base).1,
        ConnectorKind::Github => read_all::<github::config::GithubConfig>(node, base).1,
        ConnectorKind::Gitlab => read_all::<gitlab::config::GitlabConfig>(node, base).1,
        ConnectorKind::MockCallback => read_all::<mock::MockConfig>(node, base).1,
        ConnectorKind::Microsoft => read_all::<microsoft::config::MicrosoftConfig>(node, base).1,
        ConnectorKind::Google => read_all::<google::config::GoogleConfig>(node, base).1,
        ConnectorKind::Local => Vec::new(),
    }
}

/// The keys of a connector type's config that are secrets: never shown, stored sealed.
pub fn secret_keys(kind: ConnectorKind) -> &'static [&'static str] {
    match kind {
        ConnectorKind::Ldap => &["bindPW"],
        ConnectorKind::Oidc
        | ConnectorKind::OAuth
        | ConnectorKind::Github
        | ConnectorKind::Gitlab => &["clientSecret"],
        ConnectorKind::Microsoft | ConnectorKind::Google => &["clientSecret"],
        ConnectorKind::Local | ConnectorKind::Saml | ConnectorKind::MockCallback => &[],
    }
}

/// A connector's config block without its secrets, and which secrets it has.
pub fn without_secrets(
    kind: ConnectorKind,
    config: &serde_json::Value,
) -> (serde_json::Value, Vec<String>) {
    let mut shown = config.clone();
    let mut set = Vec::new();
    if let Some(o) = shown.as_object_mut() {
        for k in secret_keys(kind) {
            if o.remove(*k).is_some_and(|v| !v.is_null() && v != "") {
                set.push((*k).to_string());
            }
        }
    }
    (shown, set)
}

impl gate::Judged for PasswordCheck {
    fn outcome(&self) -> &'static str {
        match self {
            PasswordCheck::Accepted(_) => "ok",
            _ => "refused",
        }
    }
}
impl gate::Judged for Identity {}
/// An identity and the upstream's amr (`finish`).
impl gate::Judged for (Identity, String) {}
impl gate::Judged for Begin {}
impl gate::Judged for saml::SamlLogin {}
impl gate::Judged for Vec<String> {}
impl gate::Judged for probe::Probe {
    fn outcome(&self) -> &'static str {
        match self.outcome {
            probe::Outcome::Ok => "ok",
            _ => "error",
        }
    }
}

/// A configured connector.
#[derive(Debug)]
pub struct Connector {
    id: String,
    name: String,
    kind: Kind,
    /// The config block without secrets, for the admin pages.
    shown_config: serde_json::Value,
    /// The secret keys that have a value.
    secrets_set: Vec<String>,
    /// Calls to the identity source in flight, and their deadline.
    gate: gate::Gate,
}

impl Connector {
    /// The built-in `local` connector.
    pub fn local(l: local::Local) -> Connector {
        Connector {
            id: "local".into(),
            name: "Email".into(),
            kind: Kind::Local(l),
            shown_config: serde_json::json!({}),
            secrets_set: Vec::new(),
            gate: gate::Gate::new(gate::DEFAULT_MAX_IN_FLIGHT),
        }
    }

    /// A connector from a `connectors` entry of the config, or the text of why not (what the
    /// admin API and the config check show).
    pub fn from_config(
        c: &crate::config::ConnectorConfig,
        sealer: &crate::seal::Sealer,
        deny: &egress::DenyList,
    ) -> Result<Connector, String> {
        Connector::build(c, sealer, deny).map_err(|e| e.to_string())
    }

    /// A connector from a `connectors` entry of the config.
    /// `sealer` encrypts what callback connectors keep of the provider (refresh tokens);
    /// `deny` is where none of its connections may go.
    pub fn build(
        c: &crate::config::ConnectorConfig,
        sealer: &crate::seal::Sealer,
        deny: &egress::DenyList,
    ) -> Result<Connector, ConnectorConfigError> {
        let connector_kind = c.connector_kind()?;
        let kind = match connector_kind {
            ConnectorKind::Ldap => {
                let cfg = ldap::config::LdapConfig::from_value(&c.config)?;
                Kind::Ldap(Box::new(ldap::LdapConnector::new(&c.id, cfg, deny)?))
            }
            ConnectorKind::Oidc => {
                let cfg = oidc::config::OidcConfig::from_value(&c.config)?;
                Kind::Oidc(Box::new(oidc::OidcConnector::new(
                    &c.id,
                    cfg,
                    sealer.clone(),
                    deny,
                )?))
            }
            ConnectorKind::OAuth => {
                let cfg = oauth::OAuthConfig::from_value(&c.config)?;
                Kind::OAuth(Box::new(oauth::OAuthConnector::new(
                    &c.id,
                    cfg,
                    sealer.clone(),
                    deny,
                )?))
            }
            ConnectorKind::Saml => {
                let cfg = saml::config::SamlConfig::from_value(&c.config)?;
                Kind::Saml(Box::new(saml::SamlConnector::new(&c.id, cfg, deny)?))
            }
            ConnectorKind::Github => {
                let cfg = github::config::GithubConfig::from_value(&c.config)?;
                Kind::Github(Box::new(github::GithubConnector::new(
                    &c.id,
                    cfg,
                    sealer.clone(),
                    deny,
                )?))
            }
            ConnectorKind::Gitlab => {
                let cfg = gitlab::config::GitlabConfig::from_value(&c.config)?;
                Kind::Gitlab(Box::new(gitlab::GitlabConnector::new(
                    &c.id,
                    cfg,
                    sealer.clone(),
                    deny,
                )?))
            }
            ConnectorKind::MockCallback => Kind::Mock(mock::MockCallback::new(&c.id, &c.config)?),
            ConnectorKind::Microsoft => {
                let cfg = microsoft::config::MicrosoftConfig::from_value(&c.config)?;
                Kind::Microsoft(Box::new(microsoft::MicrosoftConnector::new(
                    &c.id,
                    cfg,
                    sealer.clone(),
                    deny,
                )?))
            }
            ConnectorKind::Google => {
                let cfg = google::config::GoogleConfig::from_value(&c.config)?;
                Kind::Google(Box::new(google::GoogleConnector::new(
                    &c.id,
                    cfg,
                    sealer.clone(),
                    deny,
                )?))
            }
            // `parse` never yields it: the built-in one is made by `local`.
            ConnectorKind::Local => {
                return Err(crate::config::UnsupportedKind(c.kind.clone()).into());
            }
        };
        let (shown_config, secrets_set) = without_secrets(connector_kind, &c.config);
        Ok(Connector {
            id: c.id.clone(),
            name: c.name.clone(),
            kind,
            shown_config,
            secrets_set,
            gate: gate::Gate::new(c.max_in_flight.unwrap_or(gate::DEFAULT_MAX_IN_FLIGHT)),
        })
    }

    /// Record this connector's calls into `calls` (see [`gate`]).
    pub fn observe(&self, calls: &gate::ConnectorCalls) {
        self.gate.observe(&self.id, calls);
    }

    pub fn shown_config(&self) -> &serde_json::Value {
        &self.shown_config
    }
    pub fn secrets_set(&self) -> &[String] {
        &self.secrets_set
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name the policy knows this connector's user by: one that the connector's own
    /// administrators control and that stays with the person. Local users and directory
    /// entries have one (the login name, or `preferredUsernameAttr`). For upstream providers
    /// it is the provider's stable user id (`sub`, the SAML NameID): their display names and
    /// `preferred_username` are chosen by users or providers, and can say anything.
    pub fn policy_username(&self, user_id: &str, preferred_username: &str) -> String {
        match self.kind {
            Kind::Local(_) | Kind::Ldap(_) if !preferred_username.is_empty() => {
                preferred_username.to_string()
            }
            _ => user_id.to_string(),
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The config `type` (Dex's names; "local" for the built-in one).
    pub fn kind(&self) -> ConnectorKind {
        match &self.kind {
            Kind::Local(_) => ConnectorKind::Local,
            Kind::Ldap(_) => ConnectorKind::Ldap,
            Kind::Oidc(_) => ConnectorKind::Oidc,
            Kind::OAuth(_) => ConnectorKind::OAuth,
            Kind::Saml(_) => ConnectorKind::Saml,
            Kind::Github(_) => ConnectorKind::Github,
            Kind::Gitlab(_) => ConnectorKind::Gitlab,
            Kind::Mock(_) => ConnectorKind::MockCallback,
            Kind::Microsoft(_) => ConnectorKind::Microsoft,
            Kind::Google(_) => ConnectorKind::Google,
        }
    }
    /// The label of the username field on the password form.
    pub fn prompt(&self) -> &str {
        match &self.kind {
            Kind::Local(_) => "Email Address",
            Kind::Ldap(l) => l.prompt(),
            Kind::Oidc(_)
            | Kind::OAuth(_)
            | Kind::Saml(_)
            | Kind::Github(_)
            | Kind::Gitlab(_)
            | Kind::Mock(_)
            | Kind::Microsoft(_)
            | Kind::Google(_) => "",
        }
    }
    pub fn is_password(&self) -> bool {
        matches!(self.kind, Kind::Local(_) | Kind::Ldap(_))
    }

    /// Sends the browser to a provider instead of showing a password form.
    pub fn is_callback(&self) -> bool {
        matches!(
            self.kind,
            Kind::Oidc(_)
                | Kind::OAuth(_)
                | Kind::Saml(_)
                | Kind::Github(_)
                | Kind::Gitlab(_)
                | Kind::Mock(_)
                | Kind::Microsoft(_)
                | Kind::Google(_)
        )
    }

    /// The built-in local connector behind this one, if it is it.
    pub fn as_local(&self) -> Option<&local::Local> {
        match &self.kind {
            Kind::Local(l) => Some(l),
            _ => None,
        }
    }

    /// The SAML connector behind this one, if it is one.
    pub fn saml(&self) -> Option<&saml::SamlConnector> {
        match &self.kind {
            Kind::Saml(s) => Some(s),
            _ => None,
        }
    }

    /// Prepare what a slow start could not: provider discovery. Retried until it succeeds.
    pub async fn warm_up(&self) -> Result<(), ConnectorError> {
        match &self.kind {
            Kind::Oidc(o) => o.warm_up().await,
            Kind::Saml(s) => s.warm_up().await,
            Kind::Google(g) => g.warm_up().await,
            _ => Ok(()),
        }
    }

    /// Where to send the browser for a callback login for a client that asked for `scopes`
    /// (`offline_access` asks the provider for a refresh token).
    pub async fn begin(
        &self,
        state: &str,
        scopes: Scopes,
        now: i64,
    ) -> Result<Begin, ConnectorError> {
        self.gate
            .run("begin", async {
                match &self.kind {
                    Kind::Oidc(o) => o.begin(state, scopes.offline_access).await,
                    Kind::OAuth(o) => o.begin(state),
                    Kind::Saml(s) => s.begin(state, now).await,
                    Kind::Github(g) => g.begin(state, scopes),
                    Kind::Gitlab(g) => g.begin(state, scopes),
                    Kind::Mock(m) => m.begin(state),
                    Kind::Microsoft(m) => m.begin(state, scopes),
                    Kind::Google(g) => g.begin(state, scopes).await,
                    _ => Err(ConnectorError::Rejected("not a callback connector".into())),
                }
            })
            .await
    }

    /// The identity a provider's callback proves, for a client that asked for `scopes`.
    /// The identity an upstream's answer proves, and how the upstream says the user proved
    /// it (a stored amr, see [`crate::mfa::amr`]; empty when it says nothing).
    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
        scopes: Scopes,
        now: i64,
    ) -> Result<(Identity, String), ConnectorError> {
        let plain = |i: Identity| (i, String::new());
        self.gate
            .run("finish", async {
                match &self.kind {
                    Kind::Oidc(o) => o.finish(code, iss, nonce, verifier).await,
                    Kind::OAuth(o) => o.finish(code, verifier).await.map(plain),
                    Kind::Github(g) => g.finish(code, scopes, now).await.map(plain),
                    Kind::Gitlab(g) => g.finish(code, scopes).await.map(plain),
                    Kind::Mock(m) => Ok(plain(m.identity())),
                    Kind::Microsoft(m) => m.finish(code, verifier, scopes, now).await.map(plain),
                    Kind::Google(g) => g
                        .finish(code, iss, nonce, verifier, scopes)
                        .await
                        .map(plain),
                    _ => Err(ConnectorError::Rejected("not a callback connector".into())),
                }
            })
            .await
    }

    /// A SAML IdP's POSTed response for the request `in_response_to`, checked in a slot of this
    /// connector and within its deadline like every other call (fetching the IdP's metadata
    /// can be part of it).
    pub async fn finish_saml_post(
        &self,
        saml_response: &str,
        in_response_to: &str,
        now: i64,
    ) -> Result<saml::SamlLogin, ConnectorError> {
        self.gate
            .run("saml_response", async {
                match &self.kind {
                    Kind::Saml(s) => s.finish_post(saml_response, in_response_to, now).await,
                    _ => Err(ConnectorError::Rejected("not a SAML connector".into())),
                }
            })
            .await
    }

    /// RFC 8693: the identity an upstream token proves, for connectors that allow exchange.
    pub async fn token_identity(
        &self,
        token: &str,
        token_type: &str,
    ) -> Option<Result<Identity, ConnectorError>> {
        match &self.kind {
            Kind::Oidc(o) if o.allows_token_exchange() => Some(
                self.gate
                    .run("token_exchange", o.token_identity(token, token_type))
                    .await,
            ),
            _ => None,
        }
    }

    /// The admin's Test: reach the identity source and say, in [`probe`]'s fixed words, what
    /// was found.
    pub async fn probe(&self, now: i64) -> probe::Probe {
        match self
            .gate
            .run("probe", async { Ok(self.probe_ungated(now).await) })
            .await
        {
            Ok(p) => p,
            Err(e) => probe::Probe::failed(probe::Outcome::Unreachable, e),
        }
    }

    async fn probe_ungated(&self, now: i64) -> probe::Probe {
        match &self.kind {
            Kind::Local(l) => probe::Probe::passed(vec![format!(
                "{} user(s) in the config file; password database {}",
                l.static_users().len(),
                if l.uses_db() { "on" } else { "off" }
            )]),
            Kind::Ldap(l) => l.probe().await,
            Kind::Oidc(o) => o.probe().await,
            Kind::OAuth(o) => o.probe().await,
            Kind::Saml(s) => s.probe(now).await,
            Kind::Github(g) => g.probe().await,
            Kind::Gitlab(g) => g.probe().await,
            Kind::Mock(_) => probe::Probe::passed(vec![
                "development connector: logs anyone in as Kilgore Trout, no provider".into(),
            ]),
            Kind::Microsoft(m) => m.probe().await,
            Kind::Google(g) => g.probe().await,
        }
    }

    /// Directory operations sent and connections opened so far, for connectors that talk to
    /// a directory.
    pub fn operations(&self) -> Option<(u64, u64)> {
        match &self.kind {
            Kind::Ldap(l) => Some(l.operations()),
            _ => None,
        }
    }

    /// The groups this source can list (a directory can; a password list cannot).
    pub async fn list_groups(&self) -> Result<Vec<String>, ConnectorError> {
        match &self.kind {
            Kind::Ldap(l) => self.gate.run("groups", l.list_groups()).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Check a username and password.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<PasswordCheck, ConnectorError> {
        // An empty password must never reach a backend: for LDAP it is an anonymous bind.
        if password.is_empty() || username.is_empty() {
            return Ok(PasswordCheck::UNKNOWN);
        }
        let r = match &self.kind {
            Kind::Local(l) => self.gate.run("login", l.login(username, password)).await,
            Kind::Ldap(l) => self.gate.run("login", l.login(username, password)).await,
            Kind::Oidc(_)
            | Kind::OAuth(_)
            | Kind::Saml(_)
            | Kind::Github(_)
            | Kind::Gitlab(_)
            | Kind::Mock(_)
            | Kind::Microsoft(_)
            | Kind::Google(_) => {
                return Ok(PasswordCheck::UNKNOWN);
            }
        };
        match r {
            // Several entries for one name is a directory problem, not a way in: a failed login.
            Err(ConnectorError::Ambiguous) => Ok(PasswordCheck::UNKNOWN),
            other => other,
        }
    }

    /// Re-validate an identity on refresh, for a grant of `scopes`.
    pub async fn refresh(
        &self,
        identity: &Identity,
        scopes: Scopes,
        now: i64,
    ) -> Result<Identity, ConnectorError> {
        self.gate
            .run("refresh", self.refresh_ungated(identity, scopes, now))
            .await
    }

    async fn refresh_ungated(
        &self,
        identity: &Identity,
        scopes: Scopes,
        now: i64,
    ) -> Result<Identity, ConnectorError> {
        match &self.kind {
            Kind::Local(l) => l.refresh(identity).await,
            Kind::Ldap(l) => match l.refresh(identity).await {
                Err(ConnectorError::Ambiguous) => Err(ConnectorError::UserGone),
                other => other,
            },
            Kind::Oidc(o) => o.refresh(identity).await,
            Kind::OAuth(o) => o.refresh(identity).await,
            Kind::Saml(s) => s.refresh(identity, now),
            Kind::Github(g) => g.refresh(identity, scopes, now).await,
            Kind::Gitlab(g) => g.refresh(identity, scopes).await,
            Kind::Mock(m) => Ok(m.identity()),
            Kind::Microsoft(m) => m.refresh(identity, scopes, now).await,
            Kind::Google(g) => g.refresh(identity, scopes).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IdP's POST goes through the connector's slots like every other call: with one slot
    /// held by a call stuck on the IdP, the next is refused after the slot wait, not left
    /// waiting on the IdP too.
    #[tokio::test]
    async fn a_saml_post_waits_in_the_connectors_slots_like_every_other_call() {
        // Metadata that never comes: connections are accepted and held.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                open.push(s);
            }
        });
        let c = crate::config::ConnectorConfig {
            kind: "saml".into(),
            id: "idp".into(),
            name: "IdP".into(),
            config: serde_json::json!({
                "metadataURL": format!("http://127.0.0.1:{port}/metadata"),
                "redirectURI": "https://id.example/callback",
                "usernameAttr": "name",
                "emailAttr": "email",
            }),
            max_in_flight: Some(1),
            ..Default::default()
        };
        let sealer = crate::seal::Sealer::new(&[crate::secret::random_bytes(32)]).unwrap();
        let conn =
            std::sync::Arc::new(Connector::from_config(&c, &sealer, &Default::default()).unwrap());
        let stuck = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.finish_saml_post("PHIvPg==", "id-1", 0).await.is_ok() })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        match conn.finish_saml_post("PHIvPg==", "id-2", 0).await {
            Err(ConnectorError::Unavailable(why)) => assert!(why.contains("maxInFlight"), "{why}"),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => panic!("accepted"),
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        stuck.abort();
        held.abort();
    }
}
