//! The command line's grammar: every command, flag and its help (clap derive). What a command
//! does lives beside it in this folder; `run` in mod.rs joins the two.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version = crate::build_info::LONG_VERSION,
    about = "OpenID Connect identity and access gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The config file, as `--config FILE` or, as Dex users type it, `serve FILE`.
#[derive(Debug, clap::Args)]
pub struct ConfigFile {
    /// The config file (Dex's layout; see config/example.yaml).
    #[arg(value_name = "FILE", required_unless_present = "config")]
    file: Option<PathBuf>,
    /// The config file, named as an option (or in GANTRY_CONFIG).
    #[arg(
        long,
        short,
        env = "GANTRY_CONFIG",
        value_name = "FILE",
        conflicts_with = "file"
    )]
    config: Option<PathBuf>,
}

impl ConfigFile {
    pub(super) fn path(self) -> PathBuf {
        // One of the two is there: clap refuses the command line otherwise.
        self.file.or(self.config).unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Check a config file and exit: 0 when it is valid.
    CheckConfig {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Create the database schema (the server also does this at start) and exit.
    Migrate {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Read a password on standard input and print its argon2id hash for `staticPasswords`.
    HashPassword,
    /// The policy rendered: explain a user's access, RBAC bindings, API server authn config.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// kubectl integration: the exec credential plugin.
    Kubectl {
        #[command(subcommand)]
        command: KubectlCommand,
    },
    /// Registry token service tools.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    Man {
        /// Write gantry.1 and a page per command (gantry-serve.1, gantry-kubectl-credential.1,
        /// ...) into this directory instead of printing the one overview page.
        #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
    /// A tiny relying party that logs in through Gantry and shows the tokens and claims.
    ExampleApp {
        #[arg(long, default_value = "http://127.0.0.1:5556/dex")]
        issuer: String,
        #[arg(long, default_value = "example-app")]
        client_id: String,
        #[arg(
            long,
            env = "EXAMPLE_APP_SECRET",
            default_value = "ZXhhbXBsZS1hcHAtc2VjcmV0"
        )]
        client_secret: String,
        #[arg(long, default_value = "127.0.0.1:5555")]
        listen: String,
        #[arg(long, default_value = "http://127.0.0.1:5555/callback")]
        redirect_uri: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KubectlCommand {
    /// A client-go exec credential plugin: prints an ExecCredential with an ID token.
    Credential {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        client_secret: Option<String>,
        /// Repeatable; default: openid profile email groups offline_access.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Use the device flow (no browser on this machine).
        #[arg(long)]
        device: bool,
        /// Loopback addresses to try for the browser redirect, in order. Default: a port the
        /// system picks (Gantry lets public clients' loopback redirects use any port); with
        /// --client-secret, 127.0.0.1:8000 then :18000, as a confidential client's redirect
        /// URIs match exactly.
        #[arg(long, value_delimiter = ',')]
        listen: Vec<String>,
        /// Command that opens the login URL (default: $BROWSER, then xdg-open).
        #[arg(long)]
        browser_command: Option<String>,
        #[arg(long, default_value = "180s")]
        timeout: String,
        /// PEM CA certificate of the issuer, when a private CA signed its certificate.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// Write (or --print) the kubeconfig cluster, user and context that run the plugin.
    Setup {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        server: String,
        #[arg(long)]
        certificate_authority: Option<String>,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        #[arg(long)]
        print: bool,
    },
    /// Revoke the cached refresh token at the server and clear the cache.
    Logout {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Print the cached identity and groups.
    Whoami {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// JSON: what a user with these groups may do, and which rules decided it.
    Explain {
        #[arg(long, short, env = "GANTRY_CONFIG")]
        config: PathBuf,
        /// The connector the user comes from (qualified policy names such as `ldap:admins`
        /// match only its users); default: the only one, or `local`.
        #[arg(long)]
        connector: Option<String>,
        /// The connector's stable user name (see the README: which claim each connector gives).
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "")]
        email: String,
        /// Comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "")]
        groups: Vec<String>,
        #[arg(long)]
        cluster: Option<String>,
        /// Registry scopes such as repository:team-a/app:pull,push
        scopes: Vec<String>,
    },
    /// RoleBindings and ClusterRoleBindings that carry out the policy on one cluster.
    Rbac {
        #[arg(long, short, env = "GANTRY_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        cluster: String,
    },
    /// The kube-apiserver AuthenticationConfiguration (and --oidc-* flags) for one cluster.
    AuthnConfig {
        #[arg(long, short, env = "GANTRY_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        cluster: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Print the registry CA certificate (PEM) for the registry's `auth.token.rootcertbundle`.
    Ca {
        #[arg(long, short, env = "GANTRY_CONFIG")]
        config: PathBuf,
    },
    /// Log in to a registry through the browser and keep an identity token for it.
    Login {
        /// The registry, as host[:port] (https; http only for 127.0.0.1, ::1, localhost).
        host: String,
        /// The issuer (Gantry) this registry's logins must go to. Without it, the issuer
        /// confirmed at the first login is used; a registry that then names another is refused.
        #[arg(long, env = "GANTRY_REGISTRY_ISSUER")]
        issuer: Option<String>,
        /// The (public) client Gantry knows this CLI as.
        #[arg(long, default_value = "gantry-cli")]
        client_id: String,
        /// Print the URL only; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
}
