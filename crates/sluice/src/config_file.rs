//! The `--config FILE` layer of the settings: a TOML file whose keys are long flag names
//! (`linger-ms = 5`, `advertised-listener = ["a:1", "b:2"]`).
//!
//! Precedence, highest first: flags, `SLUICE_*` environment variables, the file, built-in
//! defaults. clap already layers flags over the environment over defaults, so the file's values
//! become the arguments' *defaults*: clap's own precedence then puts them below the environment
//! and the flags, and every setting keeps one definition (name, type, parser, env name, default)
//! in [`crate::cli`]. A separate layered-config crate (figment, config-rs) would need each
//! default moved out of clap and each key declared twice, so it is not used.
//!
//! Each value is checked here with the argument's own value parser, and a key that no
//! subcommand knows is refused, so a typo in the file stops the process with one line naming
//! the file, the key and the closest known key, instead of being silently ignored.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, Command};

/// Why a config file could not be applied. Display gives one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The `--config` path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path}: {source}")]
    Parse {
        /// The `--config` path.
        path: PathBuf,
        /// The TOML error (line and column in its Display).
        #[source]
        source: toml::de::Error,
    },
    /// No subcommand has a flag named `key`.
    #[error("config file {path}: unknown key `{key}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        /// The `--config` path.
        path: PathBuf,
        /// The key as written in the file.
        key: String,
        /// The known key closest to it, if one is close.
        suggestion: Option<String>,
    },
    /// The value is not one the flag accepts (wrong type, out of range, a table, several
    /// values for a single-valued flag...).
    #[error("config file {path}: invalid value for `{key}`: {reason}")]
    InvalidValue {
        /// The `--config` path.
        path: PathBuf,
        /// The key as written in the file.
        key: String,
        /// What is wrong, from the flag's value parser where it applies.
        reason: String,
    },
}

/// The config file named on the command line (`--config FILE` or `--config=FILE`, before any
/// `--`), else by `SLUICE_CONFIG`; `None` when neither names one.
pub fn path_from_args(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            // `--config` without a value: clap reports that itself.
            return it.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("SLUICE_CONFIG").map(PathBuf::from)
}

/// Reads the file at `path` and applies it to `cmd` (see [`apply`]).
///
/// # Errors
/// [`ConfigFileError::Read`] if the file cannot be read, else as [`apply`].
pub fn apply_file(cmd: Command, path: &Path) -> Result<Command, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    apply(cmd, path, &text)
}

/// Makes each `key = value` of the TOML `text` the default of every argument, in `cmd` and
/// its subcommands at any depth, whose long name is `key` (`_` and `-` are the same in keys).
/// An argument given a default is no longer required. Strings are taken as written, numbers
/// and booleans in their TOML form, arrays as several values.
///
/// # Errors
/// [`ConfigFileError::Parse`] for invalid TOML, [`ConfigFileError::UnknownKey`] for a key no
/// argument has, [`ConfigFileError::InvalidValue`] for a value the argument's parser refuses.
pub fn apply(mut cmd: Command, path: &Path, text: &str) -> Result<Command, ConfigFileError> {
    let table: toml::Table = text.parse().map_err(|source| ConfigFileError::Parse {
        path: path.to_owned(),
        source,
    })?;
    // Look arguments up in a built copy: flattened and global arguments are in place there.
    let mut built = cmd.clone();
    built.build();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let invalid = |reason: String| ConfigFileError::InvalidValue {
            path: path.to_owned(),
            key: key.clone(),
            reason,
        };
        if long == "config" {
            return Err(invalid("a config file cannot name another".into()));
        }
        let values = toml_values(&value).map_err(invalid)?;
        let mut known = false;
        for arg in args_named(&built, &long) {
            known = true;
            if values.len() > 1 && !takes_many(arg) {
                return Err(invalid(format!("expected one value, got {}", values.len())));
            }
            validate(arg, &values).map_err(invalid)?;
        }
        if !known {
            return Err(ConfigFileError::UnknownKey {
                path: path.to_owned(),
                suggestion: closest_key(&built, &long),
                key,
            });
        }
        cmd = set_default(cmd, &long, &values);
    }
    Ok(cmd)
}

/// A TOML value as the strings clap would have received on the command line.
fn toml_values(value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
            Ok(vec![value.to_string()])
        }
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    Err("arrays hold strings, numbers or booleans".to_string())
                }
                other => toml_values(other).map(|mut v| v.remove(0)),
            })
            .collect(),
        toml::Value::Table(_) => Err("a table is not a setting (keys are flag names)".into()),
        toml::Value::Datetime(_) => Err("dates are not settings".into()),
    }
}

/// Every argument in `cmd`'s tree with the long name `long`.
fn args_named<'a>(cmd: &'a Command, long: &str) -> Vec<&'a Arg> {
    let mut found: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| a.get_long() == Some(long))
        .collect();
    for sub in cmd.get_subcommands() {
        found.extend(args_named(sub, long));
    }
    found
}

/// Runs `values` through `arg`'s own parser, as if each were given as `--long=value` (clap's
/// value parsers cannot be called outside a parse).
fn validate(arg: &Arg, values: &[String]) -> Result<(), String> {
    let long = arg.get_long().unwrap_or_default();
    if matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    ) {
        // Switches take no value on the command line; in the file they are booleans.
        return match values {
            [v] if v == "true" || v == "false" => Ok(()),
            _ => Err(format!("expected true or false, got {}", values.join(", "))),
        };
    }
    let probe = Command::new("sluice")
        .no_binary_name(true)
        .arg(arg.clone().required(false));
    let argv = values.iter().map(|v| format!("--{long}={v}"));
    probe
        .try_get_matches_from(argv)
        .map(drop)
        .map_err(|e| first_line(&e.to_string()))
}

fn takes_many(arg: &Arg) -> bool {
    arg.get_value_delimiter().is_some()
        || matches!(arg.get_action(), clap::ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

fn set_default(cmd: Command, long: &str, values: &[String]) -> Command {
    let ids: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_long() == Some(long))
        .map(|a| a.get_id().to_string())
        .collect();
    let mut cmd = ids.into_iter().fold(cmd, |cmd, id| {
        let values: Vec<clap::builder::OsStr> = values.iter().map(|v| v.clone().into()).collect();
        cmd.mut_arg(id, |a| a.required(false).default_values(values))
    });
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(sub, |s| set_default(s, long, values));
    }
    cmd
}

/// The known long name most like `long` (Jaro-Winkler ≥ 0.8, clap's own threshold for
/// suggestions), if any.
fn closest_key(cmd: &Command, long: &str) -> Option<String> {
    fn all_longs(cmd: &Command, out: &mut Vec<String>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_long().map(String::from)),
        );
        for sub in cmd.get_subcommands() {
            all_longs(sub, out);
        }
    }
    let mut longs = Vec::new();
    all_longs(cmd, &mut longs);
    longs
        .into_iter()
        .filter(|k| k != "config" && k != "help" && k != "version")
        .map(|k| (strsim::jaro_winkler(long, &k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command as Sub};
    use clap::{CommandFactory, FromArgMatches};

    fn parse(file: &str, argv: &[&str]) -> Result<Cli, String> {
        let cmd = apply(Cli::command(), Path::new("t.toml"), file).map_err(|e| e.to_string())?;
        let m = cmd.try_get_matches_from(argv).map_err(|e| e.to_string())?;
        Cli::from_arg_matches(&m).map_err(|e| e.to_string())
    }

    fn agent(cli: Cli) -> crate::cli::AgentArgs {
        match cli.command {
            Sub::Agent(a) => a,
            other => panic!("not agent: {other:?}"),
        }
    }

    #[test]
    fn file_values_sit_between_flags_and_built_in_defaults() {
        let file = "object-store = \"memory://\"\nlinger_ms = 7\nlisten = \"127.0.0.1:1\"\n";
        // the file satisfies a required flag and beats a built-in default
        let a = agent(parse(file, &["sluice", "agent"]).unwrap());
        assert_eq!(a.object_store, "memory://");
        assert_eq!(a.agent.linger_ms, Some(7));
        assert_eq!(a.agent.listen.to_string(), "127.0.0.1:1");
        // a flag beats the file
        let a = agent(parse(file, &["sluice", "agent", "--linger-ms", "3"]).unwrap());
        assert_eq!(a.agent.linger_ms, Some(3));
        assert_eq!(a.object_store, "memory://");
    }

    #[test]
    fn arrays_are_several_values() {
        let file = "object-store = \"memory://\"\nadvertised-listener = [\"a:1\", \"B://b:2\"]\n";
        let a = agent(parse(file, &["sluice", "agent"]).unwrap());
        assert_eq!(a.agent.advertised_listener, ["a:1", "B://b:2"]);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_closest_known_key() {
        let e = parse("lingerms = 5\n", &["sluice", "dev"]).unwrap_err();
        assert_eq!(
            e,
            "config file t.toml: unknown key `lingerms` (did you mean `linger-ms`?)"
        );
        let e = parse("zzz = 1\n", &["sluice", "dev"]).unwrap_err();
        assert_eq!(e, "config file t.toml: unknown key `zzz`");
    }

    #[test]
    fn values_the_flag_refuses_are_refused_naming_the_key() {
        let e = parse("linger-ms = \"soon\"\n", &["sluice", "dev"]).unwrap_err();
        assert!(
            e.starts_with(
                "config file t.toml: invalid value for `linger-ms`: invalid value 'soon'"
            ),
            "{e}"
        );
        let e = parse("listen = [\"a:1\", \"b:2\"]\n", &["sluice", "dev"]).unwrap_err();
        assert_eq!(
            e,
            "config file t.toml: invalid value for `listen`: expected one value, got 2"
        );
        let e = parse("[agent]\nlisten = \"a:1\"\n", &["sluice", "dev"]).unwrap_err();
        assert_eq!(
            e,
            "config file t.toml: invalid value for `agent`: a table is not a setting (keys are flag names)"
        );
        let e = parse("config = \"other.toml\"\n", &["sluice", "dev"]).unwrap_err();
        assert_eq!(
            e,
            "config file t.toml: invalid value for `config`: a config file cannot name another"
        );
    }

    #[test]
    fn the_path_comes_from_the_flag_before_any_double_dash() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            path_from_args(&args(&["sluice", "--config", "a.toml", "dev"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            path_from_args(&args(&["sluice", "dev", "--config=b.toml"])),
            Some(PathBuf::from("b.toml"))
        );
    }
}
