//! `sluice`: one binary for every role.
//!
//! - `sluice dev`: everything in one process (metadata node + agent + local-directory store).
//! - `sluice meta`: a metadata quorum node. `sluice agent`: a stateless Kafka agent.
//! - `sluice bench produce|consume`: a load generator speaking the Kafka protocol.
//! - `sluice table export`: an offset range of a topic to a Parquet file.
//!
//! Settings come from flags, then `SLUICE_*` environment variables, then the TOML file named by
//! `--config` (its keys are the flag names; see [`config_file`]), then defaults.

mod bench;
mod cli;
mod config_file;
mod faults;
mod health;
mod listeners;
mod run;
mod snapshots;
mod table;
mod token;

use clap::{CommandFactory, FromArgMatches};

fn main() -> anyhow::Result<()> {
    let mut command = cli::Cli::command();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(path) = config_file::path_from_args(&argv) {
        command = config_file::apply_file(command, &path).unwrap_or_else(|e| {
            // A usage error, like clap's own (exit status 2).
            eprintln!("error: {e}");
            std::process::exit(2);
        });
    }
    let matches = command.get_matches_from(argv);
    let args = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,openraft=warn".into());
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("aws")) {
        // The AWS credential and region chains warn about every source they try (no instance
        // metadata off EC2...); what fails is said by the error that stops the process.
        for quiet in ["aws_config=error", "aws_smithy_runtime=error"] {
            filter = filter.add_directive(quiet.parse()?);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Err(e) = rt.block_on(run::run(args)) {
        // One line with the whole cause chain: what a service manager's log or
        // `kubectl logs` shows as the reason the process stopped.
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
    Ok(())
}

/// `a: b: c` from an error and its causes (as `{:#}` prints it), skipping a cause whose
/// message the previous part already includes: many errors (`MetaError`'s, `io::Error`
/// wrappers) show their source's message and also return it as `source()`.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_skips_causes_their_parent_already_shows() {
        let io = std::io::Error::other("disk on fire");
        let meta = sluice_meta::MetaError::from(io);
        let e = anyhow::Error::new(meta).context("starting the metadata node");
        assert_eq!(
            one_line(&e),
            "starting the metadata node: I/O error: disk on fire"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&plain), "outer: inner");
    }
}
