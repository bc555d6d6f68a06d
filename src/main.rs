//! The `gantry` binary: parse the command line, call the library.

use clap::Parser;

#[tokio::main]
async fn main() {
    let code = gantry::cli::run(gantry::cli::Cli::parse()).await;
    std::process::exit(code);
}
