//! `gantry completions` and `gantry man`: the shell completions and manual pages, generated from
//! the clap grammar in args.rs so they never describe a flag that is gone or miss a new one.
//!
//! `gantry man` prints one overview page (`gantry man | man -l -`): every command with its
//! usage and summary, and the examples. `gantry man --dir DIR` writes what a package installs
//! under /usr/share/man/man1: that page and one per command with all of its options, named as
//! git and cargo name theirs (`man gantry-kubectl-credential`).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use super::Cli;

/// The clap command tree, built: every subcommand knows its full name (`gantry kubectl
/// credential`) and its page's (`gantry-kubectl-credential`).
pub(super) fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "gantry", &mut out);
    match out.flush() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gantry: {e}");
            1
        }
    }
}

pub fn man(dir: Option<&Path>) -> i32 {
    let cmd = command();
    let written = match dir {
        None => {
            let mut out = std::io::stdout().lock();
            overview(&cmd, &mut out).and_then(|()| out.flush())
        }
        Some(dir) => pages(&cmd, dir),
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            let to = dir.map(|d| format!(" {}", d.display())).unwrap_or_default();
            eprintln!("gantry man{to}: {e}");
            1
        }
    }
}

/// gantry(1): what each command is for and how it is called, then the examples.
fn overview(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let man = with_date(Man::new(cmd.clone()).title("GANTRY"));
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for c in all_commands(cmd) {
        let mut usage = c.clone();
        roff.control("TP", []).text([bold(
            usage
                .render_usage()
                .to_string()
                .trim_start_matches("Usage: "),
        )]);
        if let Some(about) = c.get_about() {
            roff.text([roman(about.to_string())]);
        }
    }
    roff.control("PP", []).text([roman(
        "Each command's options: gantry COMMAND --help, or its own page (gantry man --dir).",
    )]);
    examples(&mut roff, cmd);
    let mut see_also: Vec<String> = all_commands(cmd)
        .filter(|c| c.get_subcommands().next().is_none())
        .map(|c| format!("{}(1)", page_name(c)))
        .collect();
    see_also.sort();
    // Left-aligned and unhyphenated: justified, the page names came out torn and spread.
    roff.control("SH", ["SEE ALSO"])
        .control("ad", ["l"])
        .control("nh", [])
        .text([roman(see_also.join(", "))]);
    roff.to_writer(w)?;
    man.render_version_section(w)
}

/// gantry.1 and a page for each command, into `dir`.
fn pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(dir.join("gantry.1"))?;
    overview(cmd, &mut f)?;
    f.flush()?;
    for c in all_commands(cmd) {
        let mut f = std::fs::File::create(dir.join(format!("{}.1", page_name(c))))?;
        page(c, &mut f)?;
        f.flush()?;
    }
    Ok(())
}

/// One command's page: clap_mangen's sections, and the examples set in no-fill mode (its own
/// EXTRA section would run them together into one paragraph).
fn page(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let man = with_date(Man::new(cmd.clone()).title(page_name(cmd).to_uppercase()));
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().next().is_some() {
        man.render_subcommands_section(w)?;
    }
    let mut roff = Roff::new();
    examples(&mut roff, cmd);
    roff.control("SH", ["SEE ALSO"]).text([roman("gantry(1)")]);
    roff.to_writer(w)
}

/// The commit's date: the pages change with the commit, not with the day they are built.
fn with_date(man: Man) -> Man {
    match crate::build_info::GIT_DATE {
        Some(d) => man.date(d),
        None => man,
    }
}

/// The `Examples:` of a command's help, as an EXAMPLES section.
fn examples(roff: &mut Roff, cmd: &clap::Command) {
    let Some(help) = cmd.get_after_help().map(|h| h.to_string()) else {
        return;
    };
    let text = help.strip_prefix("Examples:").unwrap_or(&help);
    roff.control("SH", ["EXAMPLES"]).control("nf", []);
    for line in text.trim_matches('\n').lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
}

/// Every command under `cmd`, parents before their subcommands, the help command left out.
fn all_commands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    let mut out = Vec::new();
    fn walk<'a>(c: &'a clap::Command, out: &mut Vec<&'a clap::Command>) {
        for s in c.get_subcommands().filter(|s| !s.is_hide_set()) {
            out.push(s);
            walk(s, out);
        }
    }
    walk(cmd, &mut out);
    out.into_iter()
}

/// `gantry-kubectl-credential` for `gantry kubectl credential`.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .map(String::from)
        .unwrap_or_else(|| cmd.get_name().to_string())
}
