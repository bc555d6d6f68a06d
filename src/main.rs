//! The `gantry` binary: parse the command line, call the library. Invoked as
//! `docker-credential-gantry` (a link to it), it is docker's credential helper.

use clap::Parser;

#[tokio::main]
async fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "docker-credential-gantry")
    {
        let action = std::env::args().nth(1).unwrap_or_default();
        std::process::exit(gantry::cli::credentials::helper(&action));
    }
    let code = gantry::cli::run(gantry::cli::Cli::parse()).await;
    std::process::exit(code);
}
