//! The options of easycars_fdw servers and foreign tables. One table of specs per object drives
//! validation, parsing, defaults and the "Valid options: ..." hint, so adding an option is one
//! line here plus the field that reads it. [`validate`] is the wrapper's validator.

use super::entities::Entity;
use super::error::FdwError;
use super::server::ServerConfig;
use std::collections::HashMap;

/// How an option's value is read.
#[derive(Debug, Clone, Copy)]
pub enum Spec {
    /// A whole number in `min..=max`; `default` when absent, else the option is required.
    Int {
        min: u64,
        max: u64,
        default: Option<u64>,
    },
    /// An EasyCars API root (see `credentials::is_safe_base_url`); optional.
    BaseUrl,
    /// Free text, checked by its reader; optional.
    Text,
}

/// One option of one kind of object.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub spec: Spec,
}

const fn int(name: &'static str, min: u64, max: u64, default: Option<u64>) -> OptionSpec {
    OptionSpec {
        name,
        spec: Spec::Int { min, max, default },
    }
}

/// The options of an `easycars_fdw` server.
pub const SERVER: &[OptionSpec] = &[
    int("dealership_id", 1, i32::MAX as u64, None),
    OptionSpec {
        name: "base_url",
        spec: Spec::BaseUrl,
    },
    int("timeout_ms", 100, 600_000, Some(30_000)),
    int("max_retries", 0, 10, Some(3)),
    int("concurrency", 1, 64, Some(16)),
    int(
        "max_response_bytes",
        1024,
        4 * 1024 * 1024 * 1024,
        Some(super::server::DEFAULT_MAX_RESPONSE_BYTES),
    ),
];

/// The options of an `easycars_fdw` foreign table.
pub const TABLE: &[OptionSpec] = &[
    OptionSpec {
        name: "entity",
        spec: Spec::Text,
    },
    OptionSpec {
        name: "rowid_column",
        spec: Spec::Text,
    },
];

/// An object's option values, checked against its specs.
pub struct Options<'a> {
    specs: &'static [OptionSpec],
    values: &'a HashMap<String, String>,
}

impl<'a> Options<'a> {
    /// Refuses any option the specs do not name, with the list of valid ones.
    pub fn new(
        specs: &'static [OptionSpec],
        values: &'a HashMap<String, String>,
        object: &'static str,
    ) -> Result<Options<'a>, FdwError> {
        if let Some(unknown) = values.keys().find(|k| !specs.iter().any(|s| s.name == *k)) {
            return Err(FdwError::UnknownOption {
                name: unknown.clone(),
                object,
                valid: names(specs),
            });
        }
        Ok(Options { specs, values })
    }

    fn spec(&self, name: &str) -> Spec {
        self.specs
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.spec)
            .unwrap_or(Spec::Text)
    }

    /// A whole-number option, its default when absent.
    pub fn int(&self, name: &'static str) -> Result<u64, FdwError> {
        let Spec::Int { min, max, default } = self.spec(name) else {
            return Err(FdwError::Internal("not a whole-number option"));
        };
        match self.values.get(name) {
            None => default.ok_or(FdwError::MissingOption(name)),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(FdwError::InvalidOption {
                    name,
                    reason: format!("expected a whole number from {min} to {max}"),
                }),
            },
        }
    }

    /// An API root option, if given.
    pub fn base_url(&self, name: &'static str) -> Result<Option<String>, FdwError> {
        match self.values.get(name) {
            Some(u) if !crate::credentials::is_safe_base_url(u) => Err(FdwError::InvalidOption {
                name,
                reason: "expected an http:// or https:// URL without user info, query or fragment"
                    .into(),
            }),
            other => Ok(other.cloned()),
        }
    }

    /// A text option, if given.
    pub fn text(&self, name: &'static str) -> Option<&'a str> {
        self.values.get(name).map(String::as_str)
    }
}

/// "a, b, c": the valid option names, for hints.
pub fn names(specs: &[OptionSpec]) -> String {
    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

/// The wrapper's validator: the options of a server, foreign table, user mapping or the wrapper
/// itself (`catalog` names which), as `CREATE` or `ALTER` would store them.
pub fn validate(
    options: Vec<Option<String>>,
    catalog: Option<pgrx::pg_sys::Oid>,
) -> Result<(), FdwError> {
    use pgrx::pg_sys;
    let opts: HashMap<String, String> = options
        .into_iter()
        .flatten()
        .filter_map(|o| o.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    match catalog {
        Some(oid) if oid == pg_sys::ForeignServerRelationId => {
            ServerConfig::from_options(&opts).map(|_| ())
        }
        Some(oid) if oid == pg_sys::ForeignTableRelationId => {
            let o = Options::new(TABLE, &opts, "an easycars_fdw foreign table")?;
            let entity = o.text("entity").ok_or(FdwError::MissingOption("entity"))?;
            let entity = Entity::from_name(entity).ok_or_else(|| FdwError::InvalidOption {
                name: "entity",
                reason: "expected stock, leads, contacts or quotations".into(),
            })?;
            let spec = entity.spec();
            match (o.text("rowid_column"), spec.rowid_column()) {
                (None, _) => Ok(()),
                (Some(r), Some(expected)) if r == expected => Ok(()),
                (Some(_), expected) => Err(FdwError::InvalidOption {
                    name: "rowid_column",
                    reason: match expected {
                        Some(c) => format!("must be {c} for {}", spec.name()),
                        None => format!("{} cannot be written", spec.name()),
                    },
                }),
            }
        }
        // SECURITY: user mappings would be the natural home of secrets, and their options are
        // readable in the catalogs; credentials live encrypted in easycars.credentials instead.
        Some(oid) if oid == pg_sys::UserMappingRelationId => match opts.keys().next() {
            Some(name) => Err(FdwError::UnknownOption {
                name: name.clone(),
                object: "an easycars_fdw user mapping",
                valid: "none (credentials are stored with easycars.set_credentials())".into(),
            }),
            None => Ok(()),
        },
        _ => match opts.keys().next() {
            Some(name) => Err(FdwError::UnknownOption {
                name: name.clone(),
                object: "the easycars_fdw wrapper",
                valid: "none".into(),
            }),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_lists_every_server_option() {
        assert_eq!(
            names(SERVER),
            "dealership_id, base_url, timeout_ms, max_retries, concurrency, max_response_bytes"
        );
        assert_eq!(names(TABLE), "entity, rowid_column");
    }

    #[test]
    fn defaults_ranges_and_required() {
        let values: HashMap<String, String> =
            [("timeout_ms".to_string(), " 500 ".to_string())].into();
        let o = Options::new(SERVER, &values, "a server").unwrap();
        assert_eq!(o.int("timeout_ms").unwrap(), 500);
        assert_eq!(o.int("max_retries").unwrap(), 3);
        assert!(matches!(
            o.int("dealership_id"),
            Err(FdwError::MissingOption("dealership_id"))
        ));
        let values: HashMap<String, String> = [("nope".to_string(), "1".to_string())].into();
        assert!(Options::new(SERVER, &values, "a server").is_err());
    }
}
