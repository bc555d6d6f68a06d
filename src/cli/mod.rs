//! The `gantry` command line.

mod args;
mod check_config;
pub mod credentials;
mod docs;
mod hash_password;
mod issuer;
mod kubectl;
mod loopback;
mod policy;
mod private_file;
mod registry_login;
mod serve;
mod terminal;

pub use args::{
    Cli, Command, ConfigFile, KubeLogin, KubectlCommand, PolicyCommand, RegistryCommand,
};

/// Run a parsed command; the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Serve { config } => serve::serve(&config.path()).await,
        Command::CheckConfig { config, bind, dex } => check_config::run(&config.path(), bind, dex),
        Command::Migrate { config } => serve::migrate(&config.path()).await,
        Command::HashPassword => hash_password::run(),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        Command::Kubectl {
            command:
                KubectlCommand::Credential {
                    login:
                        KubeLogin {
                            issuer,
                            client_id,
                            scopes,
                        },
                    client_secret,
                    device,
                    listen,
                    browser_command,
                    timeout,
                    ca_file,
                },
        } => {
            let Some(timeout) = crate::config::parse_duration(&timeout) else {
                eprintln!("--timeout {timeout}: not a duration");
                return 2;
            };
            let listen = if !listen.is_empty() {
                listen
            } else if client_secret.is_some() {
                vec!["127.0.0.1:8000".into(), "127.0.0.1:18000".into()]
            } else {
                // A port no one can guess ahead, which no other program already holds.
                vec!["127.0.0.1:0".into()]
            };
            kubectl::credential(kubectl::Options {
                issuer,
                client_id,
                client_secret,
                scopes: default_scopes(scopes),
                device,
                listen,
                browser_command,
                timeout,
                ca_file,
            })
            .await
        }
        Command::Kubectl {
            command:
                KubectlCommand::Setup {
                    issuer,
                    client_id,
                    cluster,
                    server,
                    certificate_authority,
                    kubeconfig,
                    print,
                },
        } => kubectl::setup(kubectl::Setup {
            issuer,
            client_id,
            cluster,
            server,
            certificate_authority,
            kubeconfig,
            print,
        }),
        Command::Kubectl {
            command: KubectlCommand::Logout { login },
        } => kubectl::logout(plain_options(login)).await,
        Command::Kubectl {
            command: KubectlCommand::Whoami { login },
        } => kubectl::whoami(plain_options(login)),
        Command::Policy { command } => match command {
            PolicyCommand::Explain {
                config,
                connector,
                user,
                email,
                groups,
                cluster,
                scopes,
            } => {
                let groups: Vec<String> = groups.into_iter().filter(|g| !g.is_empty()).collect();
                policy::explain(
                    &config,
                    connector.as_deref(),
                    &user,
                    &email,
                    &groups,
                    cluster.as_deref(),
                    &scopes,
                )
            }
            PolicyCommand::Rbac { config, cluster } => policy::rbac(&config, &cluster).await,
            PolicyCommand::AuthnConfig { config, cluster } => {
                policy::authn_config(&config, &cluster)
            }
        },
        Command::Registry {
            command: RegistryCommand::Ca { config },
        } => serve::registry_ca(&config).await,
        Command::Registry {
            command:
                RegistryCommand::Login {
                    host,
                    issuer,
                    client_id,
                    no_browser,
                },
        } => {
            registry_login::login(registry_login::Options {
                host,
                issuer,
                client_id,
                open_browser: !no_browser,
            })
            .await
        }
        Command::ExampleApp {
            issuer,
            client_id,
            client_secret,
            listen,
            redirect_uri,
        } => {
            let app =
                crate::example_app::ExampleApp::new(issuer, client_id, client_secret, redirect_uri);
            match app.run(&listen).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("example-app: {e}");
                    1
                }
            }
        }
    }
}

pub(super) fn default_scopes(scopes: Vec<String>) -> Vec<String> {
    if scopes.is_empty() {
        ["openid", "profile", "email", "groups", "offline_access"]
            .map(String::from)
            .to_vec()
    } else {
        scopes
    }
}

/// Options naming a cache, for commands that do not log in.
pub(super) fn plain_options(login: KubeLogin) -> kubectl::Options {
    kubectl::Options {
        issuer: login.issuer,
        client_id: login.client_id,
        client_secret: None,
        scopes: default_scopes(login.scopes),
        device: false,
        listen: vec![],
        browser_command: None,
        timeout: std::time::Duration::from_secs(180),
        ca_file: None,
    }
}
