//! Turning flags, `QUIRE_*` variables and the `--config` file into the settings `quire serve` runs
//! with, and into `quire config print`'s account of where each came from.
//!
//! Kept apart from the flag definitions in the parent module: those are one long declarative
//! list, this is the logic of precedence, file parsing and error reporting.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};

use super::ServeConfig;

/// Where a setting's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The `--config` file.
    File(PathBuf),
    /// A `QUIRE_*` environment variable, by name.
    Env(String),
    /// A command-line flag, by name.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// One setting as the server will use it.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The key, as in the config file (`data_dir`).
    pub key: String,
    /// The value as text, `None` when an optional setting is unset.
    pub value: Option<String>,
    /// Where the value came from.
    pub source: Source,
}

/// The effective configuration: the settings, and where each came from.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The settings the server runs with.
    pub config: ServeConfig,
    /// Every setting in declaration order, for `quire config print`.
    pub settings: Vec<Setting>,
}

impl Effective {
    /// The configuration as TOML, every setting followed by a comment naming its source.
    /// Values of keys containing `secret` or `token` are printed as `"***"`.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Effective configuration of `quire serve`; precedence: flag > env > file > default.\n",
        );
        for setting in &self.settings {
            let line = match &setting.value {
                None => format!("# {} is not set", setting.key),
                Some(_) if is_secret(&setting.key) => format!("{} = \"***\"", setting.key),
                Some(value) => format!(
                    "{} = {}",
                    setting.key,
                    toml_literal(&mask_url_credentials(value))
                ),
            };
            out.push_str(&format!("{line} # {}\n", setting.source));
        }
        out
    }
}

/// Whether `key` names a secret, whose value is never printed.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("secret") || key.contains("token")
}

/// `value` with the credentials of any URL in it hidden: a password in its user info and its
/// whole query (where webhook receivers often take a token) become `***`.
pub(crate) fn mask_url_credentials(value: &str) -> String {
    let ends_part = |character: char| matches!(character, ',' | ' ' | '"');
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(scheme_end) = rest.find("://") {
        out.push_str(&rest[..scheme_end + 3]);
        rest = &rest[scheme_end + 3..];
        let url_end = rest.find(ends_part).unwrap_or(rest.len());
        let (url, after) = rest.split_at(url_end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rsplit_once('@') {
            Some((user_info, host)) => {
                let user = user_info
                    .split_once(':')
                    .map_or(user_info, |(user, _)| user);
                let hidden = if user_info.contains(':') { ":***" } else { "" };
                out.push_str(&format!("{user}{hidden}@{host}"));
            }
            None => out.push_str(authority),
        }
        match path.split_once('?') {
            Some((before, query)) => {
                let fragment = query.find('#').map_or("", |at| &query[at..]);
                out.push_str(&format!("{before}?***{fragment}"));
            }
            None => out.push_str(path),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `value` as a TOML literal: numbers and booleans bare, anything else a quoted string.
fn toml_literal(value: &str) -> String {
    if value.parse::<i64>().is_ok() || value == "true" || value == "false" {
        value.to_owned()
    } else {
        toml::Value::String(value.to_owned()).to_string()
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {} is not valid TOML: {message}", file.display())]
    Syntax { file: PathBuf, message: String },
    /// The file names a setting that does not exist.
    #[error("unknown setting `{key}` in config file {}", file.display())]
    UnknownKey { file: PathBuf, key: String },
    /// The file sets one setting twice (`data_dir` and `data-dir`).
    #[error("setting `{key}` is given twice in config file {}", file.display())]
    DuplicateKey { file: PathBuf, key: String },
    /// The file's value has the wrong type or is out of range.
    #[error("invalid value for setting `{key}` in config file {}: {message}", file.display())]
    InvalidValue {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// The combined settings were refused (should not happen: each was checked alone).
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The effective configuration for `matches` of a [`ServeArgs`]: flags and variables as clap
/// parsed them, the rest from the `--config` file if one is given, the rest default.
pub fn resolve(matches: &ArgMatches) -> Result<Effective, ConfigError> {
    let file = match matches.get_one::<PathBuf>("config") {
        Some(path) => Some((path.clone(), read_file(path)?)),
        None => None,
    };
    // The settings alone, without their variables: what is given below is all there is.
    let with_env = ServeConfig::augment_args(clap::Command::new("quire-config"));
    let command = with_env
        .clone()
        .no_binary_name(true)
        .mut_args(|arg| arg.env(None::<&'static str>));

    let mut file_values = Vec::new();
    if let Some((path, table)) = &file {
        for (key, value) in table {
            let id = key.replace('-', "_");
            let Some(arg) = command
                .get_arguments()
                .find(|arg| arg.get_id() == id.as_str())
            else {
                return Err(ConfigError::UnknownKey {
                    file: path.clone(),
                    key: key.clone(),
                });
            };
            if file_values.iter().any(|(other, _)| *other == id) {
                return Err(ConfigError::DuplicateKey {
                    file: path.clone(),
                    key: id,
                });
            }
            let invalid = |message: String| ConfigError::InvalidValue {
                file: path.clone(),
                key: id.clone(),
                message,
            };
            // A list (`webhook_url = ["...", "..."]`) gives a setting that takes several values
            // each of them, as repeating its flag would.
            let texts = match value {
                toml::Value::Array(items)
                    if matches!(arg.get_action(), clap::ArgAction::Append) =>
                {
                    items
                        .iter()
                        .map(|item| scalar_text(item).map_err(&invalid))
                        .collect::<Result<Vec<_>, _>>()?
                }
                other => vec![scalar_text(other).map_err(&invalid)?],
            };
            let long = format!("--{}", arg.get_long().unwrap_or(id.as_str()));
            for text in texts {
                command
                    .clone()
                    .try_get_matches_from([long.as_str(), text.as_str()])
                    .map_err(|error| invalid(clap_message(&error)))?;
                file_values.push((id.clone(), text));
            }
        }
    }

    let mut argv: Vec<OsString> = Vec::new();
    let mut sources = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        let flag = format!("--{long}");
        let source = match matches.value_source(id) {
            Some(ValueSource::DefaultValue) | None => {
                let mut from_file = file_values.iter().filter(|(key, _)| key == id).peekable();
                match from_file.peek() {
                    Some(_) => {
                        for (_, text) in from_file {
                            argv.push(flag.clone().into());
                            argv.push(text.into());
                        }
                        Source::File(
                            file.as_ref()
                                .map(|(path, _)| path.clone())
                                .unwrap_or_default(),
                        )
                    }
                    None => Source::Default,
                }
            }
            Some(ValueSource::EnvVariable) => {
                push_raw(&mut argv, &flag, matches, id);
                Source::Env(
                    with_env
                        .get_arguments()
                        .find(|other| other.get_id() == id)
                        .and_then(|other| other.get_env())
                        .map(|name| name.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            }
            Some(_) => {
                push_raw(&mut argv, &flag, matches, id);
                Source::Flag(flag)
            }
        };
        sources.push((id.to_owned(), source));
    }

    let effective = command
        .try_get_matches_from(argv)
        .map_err(|error| ConfigError::Invalid(clap_message(&error)))?;
    let config = ServeConfig::from_arg_matches(&effective)
        .map_err(|error| ConfigError::Invalid(clap_message(&error)))?;
    let settings = sources
        .into_iter()
        .map(|(key, source)| Setting {
            value: effective.get_raw(&key).and_then(|values| {
                let values: Vec<String> = values
                    .map(|value| value.to_string_lossy().into_owned())
                    .collect();
                (!values.is_empty()).then(|| values.join(","))
            }),
            key,
            source,
        })
        .collect();
    Ok(Effective { config, settings })
}

/// A file value that is one string, number or boolean, as flag text.
fn scalar_text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        other => Err(format!(
            "expected a string, number or boolean, found {}",
            other.type_str()
        )),
    }
}

/// Appends `flag` and each raw value clap saw for `id`.
fn push_raw(argv: &mut Vec<OsString>, flag: &str, matches: &ArgMatches, id: &str) {
    for value in matches.get_raw(id).into_iter().flatten() {
        argv.push(flag.into());
        argv.push(value.to_owned());
    }
}

/// Reads and parses the config file.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|error| ConfigError::Syntax {
            file: path.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })
}

/// A clap error on one line, without the `error:` prefix and the `--help` hint.
fn clap_message(error: &clap::Error) -> String {
    error
        .render()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .map(|line| line.strip_prefix("error: ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            mask_url_credentials(
                "https://hooks:s3cret@example.com/in?token=abc#top,http://plain.example/x"
            ),
            "https://hooks:***@example.com/in?***#top,http://plain.example/x"
        );
        assert_eq!(
            mask_url_credentials("postgres://quire@db/quire"),
            "postgres://quire@db/quire"
        );
        assert_eq!(mask_url_credentials("0.0.0.0:8080"), "0.0.0.0:8080");
    }

    #[test]
    fn secrets_are_masked() {
        let effective = Effective {
            config: ServeConfig::new("127.0.0.1:0".parse().unwrap(), PathBuf::from("data")),
            settings: vec![
                Setting {
                    key: "auth_secret".to_owned(),
                    value: Some("hunter2".to_owned()),
                    source: Source::Env("QUIRE_AUTH_SECRET".to_owned()),
                },
                Setting {
                    key: "api_token".to_owned(),
                    value: Some("hunter3".to_owned()),
                    source: Source::Default,
                },
                Setting {
                    key: "addr".to_owned(),
                    value: Some("127.0.0.1:0".to_owned()),
                    source: Source::Flag("--addr".to_owned()),
                },
            ],
        };
        let printed = effective.to_toml();
        assert!(!printed.contains("hunter"), "{printed}");
        assert!(printed.contains("auth_secret = \"***\" # env QUIRE_AUTH_SECRET\n"));
        assert!(printed.contains("api_token = \"***\" # default\n"));
        assert!(printed.contains("addr = \"127.0.0.1:0\" # flag --addr\n"));
    }
}
