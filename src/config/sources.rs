//! The sources a configuration is layered from, later wins: the built-in
//! defaults (`config/lapse.toml`, compiled in), one file, then
//! `LAPSE_SECTION__KEY` environment variables; last, each secret key given
//! as `KEY_file` is replaced by that file's content. All layers merge into
//! one TOML table, and every key remembers where it was set, so that an
//! error can say "in FILE" or "set by VARIABLE".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{environment, ConfigError, ConfigOrigin, DEFAULTS_TOML, SECRET_KEYS};

/// The merged table, before it is read into the raw types.
pub(super) struct Layers {
    pub(super) table: toml::Table,
    pub(super) origin: ConfigOrigin,
    /// Dotted key -> "in FILE" or "set by VARIABLE"; keys absent here are
    /// built-in defaults.
    pub(super) key_origins: BTreeMap<String, String>,
}

/// Finds and reads the file to layer over the defaults: `--config`, else
/// `LAPSE_CONFIG`, else `config/lapse.toml` in the working directory when
/// present. `None`: the built-in defaults alone.
pub(super) fn read_config_file(
    explicit_path: Option<&Path>,
) -> Result<Option<(PathBuf, String)>, ConfigError> {
    let path = explicit_path
        .map(Path::to_path_buf)
        .or_else(environment::config_file)
        .or_else(|| {
            let local = PathBuf::from("config/lapse.toml");
            local.is_file().then_some(local)
        });
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
        path: path.clone(),
        source,
    })?;
    Ok(Some((path, text)))
}

/// Layers the defaults, `file` and `env`, then resolves secret files.
pub(super) fn layer(
    file: Option<(&Path, &str)>,
    env: &[(String, String)],
) -> Result<Layers, ConfigError> {
    let mut table = parse_toml(Path::new("<built-in defaults>"), DEFAULTS_TOML)?;
    let mut origin = ConfigOrigin::default();
    let mut key_origins: BTreeMap<String, String> = BTreeMap::new();
    if let Some((path, text)) = file {
        let overlay = parse_toml(path, text)?;
        record_origins(
            &overlay,
            "",
            &format!("in {}", path.display()),
            &mut key_origins,
        );
        merge(&mut table, overlay);
        origin.file = Some(path.to_path_buf());
    }
    for (var, key) in apply_env(&mut table, env)? {
        key_origins.insert(key.clone(), format!("set by {var}"));
        origin.env_overrides.push((var, key));
    }
    resolve_secret_files(&mut table, &key_origins)?;
    resolve_channel_secret_files(&mut table, &key_origins)?;
    Ok(Layers {
        table,
        origin,
        key_origins,
    })
}

fn parse_toml(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_owned(),
        })
}

fn record_origins(
    table: &toml::Table,
    prefix: &str,
    origin: &str,
    out: &mut BTreeMap<String, String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => record_origins(inner, &path, origin, out),
            _ => {
                out.insert(path, origin.to_owned());
            }
        }
    }
}

/// Deep merge: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Applies `LAPSE_SECTION__KEY=value` variables; returns (variable, key) pairs.
fn apply_env(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut applied = Vec::new();
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("LAPSE_") && k.contains("__"))
        .collect();
    vars.sort();
    for (var, raw_value) in vars {
        let rest = &var["LAPSE_".len()..];
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if let [section, name, key] = parts.as_slice() {
            if section == "channels" && !name.is_empty() && !key.is_empty() {
                set_channel_key(table, name, key, raw_value);
                applied.push((var.clone(), format!("channels.{name}.{key}")));
                continue;
            }
        }
        if parts.len() != 2 || parts.iter().any(String::is_empty) {
            return Err(ConfigError::BadEnvVar {
                var: var.clone(),
                why: "expected LAPSE_<SECTION>__<KEY>, e.g. LAPSE_SERVER__LISTEN".into(),
            });
        }
        let (section, key) = (&parts[0], &parts[1]);
        let existing = table
            .get(section)
            .and_then(|s| s.as_table())
            .and_then(|s| s.get(key));
        let value = env_value(raw_value, existing);
        let section_table = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section_table {
            toml::Value::Table(t) => {
                t.insert(key.clone(), value);
            }
            _ => {
                return Err(ConfigError::BadEnvVar {
                    var: var.clone(),
                    why: format!("`{section}` is not a section"),
                })
            }
        }
        applied.push((var.clone(), format!("{section}.{key}")));
    }
    Ok(applied)
}

/// `LAPSE_CHANNELS__NAME__KEY`: one key of `[channels.NAME]` (text; the
/// channel keys a variable sets are URLs, tokens and ids).
fn set_channel_key(table: &mut toml::Table, name: &str, key: &str, raw: &str) {
    let channels = table
        .entry("channels")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(channels) = channels {
        let channel = channels
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(channel) = channel {
            channel.insert(key.to_owned(), toml::Value::String(raw.to_owned()));
        }
    }
}

/// Types an environment value like the key it replaces: text stays text,
/// anything else is read as a TOML value (`8`, `true`, `["a", "b"]`).
fn env_value(raw: &str, existing: Option<&toml::Value>) -> toml::Value {
    if matches!(existing, Some(toml::Value::String(_))) {
        return toml::Value::String(raw.to_owned());
    }
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !matches!(v, toml::Value::Datetime(_)))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Replaces `KEY_file = "path"` of a secret key with the file's content.
fn resolve_secret_files(
    table: &mut toml::Table,
    origins: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for secret in SECRET_KEYS {
        let Some((section, key)) = secret.split_once('.') else {
            continue;
        };
        let Some(toml::Value::Table(section_table)) = table.get_mut(section) else {
            continue;
        };
        read_secret_file(section_table, section, key, origins)?;
    }
    Ok(())
}

/// `KEY_file = "path"` in `section_table` (dotted name `section`) becomes
/// `KEY = "<the file's content>"`.
fn read_secret_file(
    section_table: &mut toml::Table,
    section: &str,
    key: &str,
    origins: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let secret = format!("{section}.{key}");
    let file_key = format!("{key}_file");
    let Some(path_value) = section_table.remove(&file_key) else {
        return Ok(());
    };
    let file_origin = origins
        .get(&format!("{section}.{file_key}"))
        .cloned()
        .unwrap_or_default();
    let path = match path_value {
        toml::Value::String(p) if !p.is_empty() => PathBuf::from(p),
        other => {
            return Err(ConfigError::BadValue {
                key: format!("{section}.{file_key}"),
                origin: file_origin,
                value: other.to_string(),
                expected: "the path of a file holding the secret".into(),
            })
        }
    };
    if section_table.contains_key(key) {
        return Err(ConfigError::BadValue {
            key: format!("{section}.{file_key}"),
            origin: file_origin,
            value: path.display().to_string(),
            expected: format!("either `{secret}` or `{secret}_file`, not both"),
        });
    }
    let content = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
        key: secret.clone(),
        path: path.clone(),
        source,
    })?;
    let value = content.strip_suffix('\n').unwrap_or(&content);
    let value = value.strip_suffix('\r').unwrap_or(value);
    section_table.insert(key.to_owned(), toml::Value::String(value.to_owned()));
    Ok(())
}

/// The same for every `[channels.NAME]` table and its secret keys.
fn resolve_channel_secret_files(
    table: &mut toml::Table,
    origins: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let Some(toml::Value::Table(channels)) = table.get_mut("channels") else {
        return Ok(());
    };
    for (name, channel) in channels.iter_mut() {
        let toml::Value::Table(channel) = channel else {
            continue;
        };
        for key in super::channels::CHANNEL_SECRET_KEYS {
            read_secret_file(channel, &format!("channels.{name}"), key, origins)?;
        }
    }
    Ok(())
}
