//! The command line's grammar: every command, flag and its help (clap derive). What a command
//! does lives beside it in this folder; `run` in mod.rs joins the two.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueHint};

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version = crate::build_info::LONG_VERSION,
    about = "OpenID Connect identity and access gateway",
    long_about = "OpenID Connect identity and access gateway for container platforms. It reads \
                  Dex's config.yaml, federates LDAP, OIDC, OAuth2 and SAML identity sources, \
                  issues signed tokens, and decides who may do what on Kubernetes clusters and \
                  container registries.",
    after_help = "Examples:
  gantry serve config.yaml                 # run the server (as `dex serve config.yaml`)
  gantry check-config config.yaml          # check a config before (re)starting with it
  gantry kubectl setup --issuer https://id.example.com/dex --client-id kubectl \\
      --cluster prod --server https://prod.example.com:6443
  source <(gantry completions bash)        # tab completion in this shell
  gantry man | man -l -                    # the manual"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The config file, as `--config FILE` or, as Dex users type it, `serve FILE`.
#[derive(Debug, clap::Args)]
pub struct ConfigFile {
    /// The config file (Dex's layout; see config/example.yaml).
    #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
    file: Option<PathBuf>,
    /// The config file, named as an option. Without FILE or --config: GANTRY_CONFIG.
    #[arg(
        long,
        short,
        value_name = "FILE",
        conflicts_with = "file",
        value_hint = ValueHint::FilePath
    )]
    config: Option<PathBuf>,
}

impl ConfigFile {
    /// The file the command line names, else GANTRY_CONFIG's. (Not clap's `env`: clap counts
    /// an environment value as given, so `GANTRY_CONFIG=a gantry serve b` would be refused as
    /// naming two files, where the command line should win, as it does everywhere else.)
    pub(super) fn path(self) -> PathBuf {
        match self
            .file
            .or(self.config)
            .or_else(|| std::env::var_os("GANTRY_CONFIG").map(PathBuf::from))
        {
            Some(p) => p,
            None => clap::Error::raw(
                clap::error::ErrorKind::MissingRequiredArgument,
                "name the config file: `gantry serve FILE`, `--config FILE` or GANTRY_CONFIG\n",
            )
            .exit(),
        }
    }
}

/// Which cached login a kubectl command means: the cache is kept per issuer, client and scopes.
#[derive(Debug, clap::Args)]
pub struct KubeLogin {
    /// Gantry's issuer URL, as in its discovery document.
    #[arg(long, value_name = "URL", value_hint = ValueHint::Url)]
    pub issuer: String,
    /// The client Gantry knows kubectl as (a public client in staticClients).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// A scope to ask for; repeatable. Default: openid profile email groups offline_access.
    /// The cached login is kept per set of scopes: give the ones the kubeconfig gives.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    #[command(after_help = "Examples:
  gantry serve config.yaml
  gantry serve --config /etc/gantry/config.yaml
  GANTRY_CONFIG=/etc/gantry/config.yaml gantry serve")]
    Serve {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Check a config file and exit: 0 when it is valid.
    ///
    /// Names every problem it finds in one run: the file's own rules, listen addresses that do
    /// not parse or resolve or that share a port, TLS files (web.tlsCert/tlsKey, registry.caCert/
    /// caKey, the connectors' CA files, PostgreSQL's) that are missing, unreadable, expired or
    /// whose key is not the certificate's, and `$VAR`s the environment does not set.
    #[command(after_help = "Examples:
  gantry check-config config.yaml
  gantry check-config /etc/gantry/config.yaml && systemctl restart gantry
  gantry check-config --bind config.yaml     # on the server's machine, before its first start")]
    CheckConfig {
        #[command(flatten)]
        config: ConfigFile,
        /// Also open each listen address for a moment, to find one in use, not allowed (a port
        /// below 1024) or not on this machine. Off by default: beside the running server that
        /// the file is for, its own addresses are in use.
        #[arg(long)]
        bind: bool,
        /// Also list the Dex keys of the file that Gantry maps onto its own settings, with
        /// the Gantry setting each becomes.
        #[arg(long)]
        dex: bool,
    },
    /// Create the database schema (the server also does this at start) and exit.
    #[command(after_help = "Examples:
  gantry migrate /etc/gantry/config.yaml     # before a rollout of several replicas")]
    Migrate {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Print the argon2id hash of a password for `staticPasswords`: asked twice without echo
    /// on a terminal, or read as one line from a pipe.
    #[command(after_help = "Examples:
  gantry hash-password                          # asks twice, without echo
  printf '%s\\n' \"$PASSWORD\" | gantry hash-password   # one line from a pipe, for scripts")]
    HashPassword,
    /// The policy rendered: explain a user's access, RBAC bindings, API server authn config.
    #[command(after_help = "Examples:
  gantry policy explain -c config.yaml --user alice --groups devs repository:team-a/app:push
  gantry policy rbac -c config.yaml --cluster prod | kubectl apply -f -")]
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// kubectl integration: the exec credential plugin.
    #[command(after_help = "Examples:
  gantry kubectl setup --issuer https://id.example.com/dex --client-id kubectl \\
      --cluster prod --server https://prod.example.com:6443
  kubectl get pods                              # logs in through the browser once
  gantry kubectl whoami --issuer https://id.example.com/dex --client-id kubectl")]
    Kubectl {
        #[command(subcommand)]
        command: KubectlCommand,
    },
    /// Registry token service tools.
    #[command(after_help = "Examples:
  gantry registry ca -c config.yaml > /etc/registry/gantry-ca.pem
  gantry registry login registry.example.com --issuer https://id.example.com/dex")]
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:
  source <(gantry completions bash)                       # this bash session
  gantry completions bash > /etc/bash_completion.d/gantry
  gantry completions zsh > \"${fpath[1]}/_gantry\"
  gantry completions fish > ~/.config/fish/completions/gantry.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_help = "Examples:
  gantry man | man -l -
  gantry man --dir /usr/local/share/man/man1 && man gantry-kubectl-credential")]
    Man {
        /// Write gantry.1 and a page per command (gantry-serve.1, gantry-kubectl-credential.1,
        /// ...) into this directory instead of printing the one overview page.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
    /// A tiny relying party that logs in through Gantry and shows the tokens and claims.
    #[command(after_help = "Examples:
  gantry example-app                 # against `gantry serve config/dev.yaml`; open http://127.0.0.1:5555
  gantry example-app --issuer https://id.example.com/dex --client-id demo --client-secret \"$SECRET\"")]
    ExampleApp {
        /// The issuer to log in through.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:5556/dex", value_hint = ValueHint::Url)]
        issuer: String,
        /// The app's client id at the issuer.
        #[arg(long, value_name = "ID", default_value = "example-app")]
        client_id: String,
        /// The app's client secret (the default is config/dev.yaml's demo secret).
        #[arg(
            long,
            value_name = "SECRET",
            env = "EXAMPLE_APP_SECRET",
            default_value = "ZXhhbXBsZS1hcHAtc2VjcmV0"
        )]
        client_secret: String,
        /// The address the app serves its pages on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5555")]
        listen: String,
        /// The redirect URI registered for the client: the app's /callback.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:5555/callback", value_hint = ValueHint::Url)]
        redirect_uri: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KubectlCommand {
    /// A client-go exec credential plugin: prints an ExecCredential with an ID token.
    #[command(after_help = "Examples:
  # What the kubeconfig written by `gantry kubectl setup` runs; kubectl calls it.
  gantry kubectl credential --issuer https://id.example.com/dex --client-id kubectl
  # Log in ahead of kubectl, on a machine without a browser:
  gantry kubectl credential --issuer https://id.example.com/dex --client-id kubectl --device >/dev/null")]
    Credential {
        #[command(flatten)]
        login: KubeLogin,
        /// The client's secret, for a confidential client (public clients need none). It
        /// ends up in the kubeconfig: prefer a public client.
        #[arg(long, value_name = "SECRET")]
        client_secret: Option<String>,
        /// Use the device flow (no browser on this machine).
        #[arg(long)]
        device: bool,
        /// Loopback addresses to try for the browser redirect, in order. Default: a port the
        /// system picks (Gantry lets public clients' loopback redirects use any port); with
        /// --client-secret, 127.0.0.1:8000 then :18000, as a confidential client's redirect
        /// URIs match exactly.
        #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
        listen: Vec<String>,
        /// Command that opens the login URL (default: $BROWSER, then xdg-open).
        #[arg(long, value_name = "COMMAND", value_hint = ValueHint::CommandName)]
        browser_command: Option<String>,
        /// How long to wait for the login to finish, such as 180s or 5m.
        #[arg(long, value_name = "DURATION", default_value = "180s")]
        timeout: String,
        /// PEM CA certificate of the issuer, when a private CA signed its certificate.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        ca_file: Option<PathBuf>,
    },
    /// Write (or --print) the kubeconfig cluster, user and context that run the plugin.
    #[command(after_help = "Examples:
  gantry kubectl setup --issuer https://id.example.com/dex --client-id kubectl \\
      --cluster prod --server https://prod.example.com:6443 --certificate-authority prod-ca.pem
  gantry kubectl setup ... --print > prod.kubeconfig")]
    Setup {
        /// Gantry's issuer URL, as in its discovery document.
        #[arg(long, value_name = "URL", value_hint = ValueHint::Url)]
        issuer: String,
        /// The client Gantry knows kubectl as (a public client in staticClients).
        #[arg(long, value_name = "ID")]
        client_id: String,
        /// The name of the cluster, and of the kubeconfig context made for it.
        #[arg(long, value_name = "NAME")]
        cluster: String,
        /// The cluster's API server URL.
        #[arg(long, value_name = "URL", value_hint = ValueHint::Url)]
        server: String,
        /// The PEM file of the CA that signed the API server's certificate.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        certificate_authority: Option<String>,
        /// The kubeconfig to change (default: the first of $KUBECONFIG, else ~/.kube/config).
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        kubeconfig: Option<PathBuf>,
        /// Print the entries as a kubeconfig of their own instead of changing one.
        #[arg(long)]
        print: bool,
    },
    /// Revoke the cached refresh token at the server and clear the cache.
    #[command(after_help = "Examples:
  gantry kubectl logout --issuer https://id.example.com/dex --client-id kubectl")]
    Logout {
        #[command(flatten)]
        login: KubeLogin,
    },
    /// Print the cached identity and groups.
    #[command(after_help = "Examples:
  gantry kubectl whoami --issuer https://id.example.com/dex --client-id kubectl
  gantry kubectl whoami --issuer https://id.example.com/dex --client-id kubectl | jq -r '.groups[]'")]
    Whoami {
        #[command(flatten)]
        login: KubeLogin,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// JSON: what a user with these groups may do, and which rules decided it.
    #[command(after_help = "Examples:
  gantry policy explain -c config.yaml --user alice --groups devs,oncall --cluster prod
  gantry policy explain -c config.yaml --connector ldap --user alice repository:team-a/app:pull,push")]
    Explain {
        /// The config file whose policy is asked (or GANTRY_CONFIG).
        #[arg(long, short, env = "GANTRY_CONFIG", value_name = "FILE", value_hint = ValueHint::FilePath)]
        config: PathBuf,
        /// The connector the user comes from (qualified policy names such as `ldap:admins`
        /// match only its users); default: the only one, or `local`.
        #[arg(long, value_name = "ID")]
        connector: Option<String>,
        /// The connector's stable user name (see the README: which claim each connector gives).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// The user's email, for patterns that use ${email}.
        #[arg(long, value_name = "EMAIL", default_value = "")]
        email: String,
        /// The user's groups, comma-separated.
        #[arg(
            long,
            value_name = "GROUP,...",
            value_delimiter = ',',
            default_value = ""
        )]
        groups: Vec<String>,
        /// The cluster whose Kubernetes roles to explain (a name in kubernetes.clusters).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Registry scopes such as repository:team-a/app:pull,push
        #[arg(value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// RoleBindings and ClusterRoleBindings that carry out the policy on one cluster.
    #[command(after_help = "Examples:
  gantry policy rbac -c config.yaml --cluster prod | kubectl apply -f -")]
    Rbac {
        /// The config file whose policy is rendered (or GANTRY_CONFIG).
        #[arg(long, short, env = "GANTRY_CONFIG", value_name = "FILE", value_hint = ValueHint::FilePath)]
        config: PathBuf,
        /// The cluster (a name in kubernetes.clusters).
        #[arg(long, value_name = "NAME")]
        cluster: String,
    },
    /// The kube-apiserver AuthenticationConfiguration (and --oidc-* flags) for one cluster.
    #[command(after_help = "Examples:
  gantry policy authn-config -c config.yaml --cluster prod > /etc/kubernetes/authn.yaml")]
    AuthnConfig {
        /// The config file that names the cluster (or GANTRY_CONFIG).
        #[arg(long, short, env = "GANTRY_CONFIG", value_name = "FILE", value_hint = ValueHint::FilePath)]
        config: PathBuf,
        /// The cluster (a name in kubernetes.clusters).
        #[arg(long, value_name = "NAME")]
        cluster: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Print the registry CA certificate (PEM) for the registry's `auth.token.rootcertbundle`.
    #[command(after_help = "Examples:
  gantry registry ca -c /etc/gantry/config.yaml > /etc/registry/gantry-ca.pem")]
    Ca {
        /// The config file (or GANTRY_CONFIG): its database or registry.caCert holds the CA.
        #[arg(long, short, env = "GANTRY_CONFIG", value_name = "FILE", value_hint = ValueHint::FilePath)]
        config: PathBuf,
    },
    /// Log in to a registry through the browser and keep an identity token for it.
    #[command(after_help = "Examples:
  gantry registry login registry.example.com --issuer https://id.example.com/dex
  gantry registry login registry.example.com:5000 --no-browser   # on a machine without one")]
    Login {
        /// The registry, as host[:port] (https; http only for 127.0.0.1, ::1, localhost).
        #[arg(value_name = "HOST", value_hint = ValueHint::Hostname)]
        host: String,
        /// The issuer (Gantry) this registry's logins must go to. Without it, the issuer
        /// confirmed at the first login is used; a registry that then names another is refused.
        #[arg(long, value_name = "URL", env = "GANTRY_REGISTRY_ISSUER", value_hint = ValueHint::Url)]
        issuer: Option<String>,
        /// The (public) client Gantry knows this CLI as.
        #[arg(long, value_name = "ID", default_value = "gantry-cli")]
        client_id: String,
        /// Print the URL only; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command under `c`, with its full name, `c` included.
    fn commands(c: &clap::Command, name: String, out: &mut Vec<(String, clap::Command)>) {
        // clap's own `help` command explains itself.
        for s in c.get_subcommands().filter(|s| s.get_name() != "help") {
            commands(s, format!("{name} {}", s.get_name()), out);
        }
        out.push((name, c.clone()));
    }

    /// A flag added without help, or a command without an example, fails here rather than in
    /// front of a user reading `--help`.
    #[test]
    fn every_argument_has_help_and_every_command_an_example() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut all = Vec::new();
        commands(&cmd, "gantry".into(), &mut all);
        let mut missing = Vec::new();
        for (name, c) in &all {
            if c.get_after_help()
                .is_none_or(|h| !h.to_string().starts_with("Examples:\n  "))
            {
                missing.push(format!("{name}: no `Examples:` in after_help"));
            }
            if c.get_about().is_none() {
                missing.push(format!("{name}: no about"));
            }
            for a in c.get_arguments() {
                // clap's own --help and --version explain themselves.
                if matches!(a.get_id().as_str(), "help" | "version") {
                    continue;
                }
                if a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{name} {}: no help", a.get_id()));
                }
                // `<CLIENT_ID>` says less than `<ID>`; a flag that takes a value names it.
                if a.get_action().takes_values()
                    && !a.is_positional()
                    && a.get_value_names().is_none()
                    && a.get_possible_values().is_empty()
                {
                    missing.push(format!("{name} {}: no value_name", a.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
