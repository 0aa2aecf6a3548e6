//! Model configurations as text, so a checkpoint can rebuild its model.
//!
//! A safetensors file carries a header of string pairs (its
//! [`Metadata`]) beside the tensors. A model's configuration written there
//! as `key = value` pairs makes the file self-describing: a new process
//! reads the pairs, builds the same architecture, and loads the weights into
//! it, with no flags to repeat ([`ModelConfig`]).
//!
//! Each field is written once: [`model_config!`](crate::model_config) lists
//! a configuration's fields, and each field's type says how it reads and
//! writes itself ([`MetadataValue`]). A choice among names (the cell, the
//! pooling) is a `clap::ValueEnum` ([`options`](crate::options)), so the name a
//! program's `--help` lists is the name in the file.

use std::fmt;

pub use nn::Metadata;
use nn::{CellKind, Init, InitScheme};

use crate::data::Side;
use crate::options as choice;

/// A configuration that can be written as metadata and read back.
pub trait ModelConfig: Sized {
    /// The model's name, stored under the key `model` (`"SentimentModel"`).
    const MODEL: &'static str;

    /// The configuration as `key = value` pairs (`model` included).
    fn to_metadata(&self) -> Metadata;

    /// The configuration from pairs written by [`ModelConfig::to_metadata`].
    ///
    /// # Errors
    /// If `model` names another model, or a key is missing or holds a value
    /// that does not parse; the error names the key and the value.
    fn from_metadata(metadata: &Metadata) -> Result<Self, ConfigError>;
}

/// Why metadata could not be read as a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key involved.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "model configuration, key {:?}: {}",
            self.key, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

/// A field's value as text in a checkpoint's metadata, and back.
pub trait MetadataValue: Sized {
    /// The value as text.
    fn to_text(&self) -> String;

    /// The value from its text.
    ///
    /// # Errors
    /// Says what was expected.
    fn from_text(text: &str) -> Result<Self, String>;
}

/// Numbers, flags and initializers: their `Display` and `FromStr`.
macro_rules! value_via_display {
    ($($t:ty),+) => {$(
        impl MetadataValue for $t {
            fn to_text(&self) -> String {
                self.to_string()
            }
            fn from_text(text: &str) -> Result<Self, String> {
                text.parse().map_err(|e| format!("{e}"))
            }
        }
    )+};
}
value_via_display!(
    String,
    usize,
    u64,
    f64,
    bool,
    Init,
    Side,
    super::SentimentHead,
    super::SentimentPool
);

/// The `nn` crate's choices: their `clap::ValueEnum` names ([`choice::name`]).
macro_rules! value_via_choice {
    ($($t:ty),+) => {$(
        impl MetadataValue for $t {
            fn to_text(&self) -> String {
                choice::name(self)
            }
            fn from_text(text: &str) -> Result<Self, String> {
                choice::parse(text)
            }
        }
    )+};
}
value_via_choice!(CellKind, InitScheme);

/// A list of sizes, written `64,32` (the empty list as nothing).
impl MetadataValue for Vec<usize> {
    fn to_text(&self) -> String {
        let sizes: Vec<String> = self.iter().map(usize::to_string).collect();
        sizes.join(",")
    }

    fn from_text(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|size| size.trim().parse().map_err(|e| format!("{size:?}: {e}")))
            .collect()
    }
}

/// `None` is written `none` (files written before this read `default` too).
impl<V: MetadataValue> MetadataValue for Option<V> {
    fn to_text(&self) -> String {
        self.as_ref().map_or_else(|| "none".to_string(), V::to_text)
    }

    fn from_text(text: &str) -> Result<Self, String> {
        match text {
            "none" | "default" => Ok(None),
            _ => V::from_text(text).map(Some),
        }
    }
}

/// Reads `key`; a missing key is `default` if there is one, else an error.
///
/// # Errors
/// If the key is missing (with no default) or its value does not parse.
pub fn read_field<V: MetadataValue>(
    metadata: &Metadata,
    key: &str,
    default: Option<V>,
) -> Result<V, ConfigError> {
    let problem = |problem: String| ConfigError {
        key: key.to_string(),
        problem,
    };
    match (metadata.get(key), default) {
        (None, Some(default)) => Ok(default),
        (None, None) => Err(problem("missing".to_string())),
        (Some(text), _) => {
            V::from_text(text).map_err(|e| problem(format!("{text:?} is not valid: {e}")))
        }
    }
}

/// Checks that `model` names the expected model.
///
/// # Errors
/// If it names another one or is missing.
pub fn check_model(metadata: &Metadata, expected: &str) -> Result<(), ConfigError> {
    let found = metadata.get("model").ok_or_else(|| ConfigError {
        key: "model".to_string(),
        problem: "missing".to_string(),
    })?;
    if found == expected {
        Ok(())
    } else {
        Err(ConfigError {
            key: "model".to_string(),
            problem: format!("the file holds a {found}, not a {expected}"),
        })
    }
}

/// Implements [`ModelConfig`] for a struct from the list of its fields, each
/// a [`MetadataValue`] written under its own name; `field = value` gives
/// the value a file without that key reads (one written before the field
/// existed).
///
/// ```text
/// train::model_config!(SentimentConfig = "SentimentModel" {
///     vocab_size, embedding_dim, hidden_size, ..., pool = SentimentPool::Last,
/// });
/// ```
#[macro_export]
macro_rules! model_config {
    ($config:ty = $model:literal { $($field:ident $(= $default:expr)?),+ $(,)? }) => {
        impl $crate::models::ModelConfig for $config {
            const MODEL: &'static str = $model;

            fn to_metadata(&self) -> $crate::models::Metadata {
                use $crate::models::config::MetadataValue;
                let mut metadata = $crate::models::Metadata::new();
                metadata.insert("model".to_string(), $model.to_string());
                $(metadata.insert(stringify!($field).to_string(), self.$field.to_text());)+
                metadata
            }

            fn from_metadata(
                metadata: &$crate::models::Metadata,
            ) -> Result<Self, $crate::models::ConfigError> {
                use $crate::models::config::{check_model, read_field};
                check_model(metadata, $model)?;
                Ok(Self {
                    $($field: read_field(metadata, stringify!($field), None $(.or(Some($default)))?)?,)+
                })
            }
        }
    };
}
