//! Model configurations as text, so a checkpoint can rebuild its model.
//!
//! A safetensors file carries a header of string pairs (its metadata) beside
//! the tensors. A model's configuration written there as `key = value`
//! pairs makes the file self-describing: a new process reads the pairs,
//! builds the same architecture, and loads the weights into it, with no
//! flags to repeat ([`ModelConfig`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::init::InitScheme;

/// Metadata pairs, `key -> value`.
pub type Metadata = BTreeMap<String, String>;

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

/// Reads `key` and parses it.
///
/// # Errors
/// If the key is missing or its value does not parse.
pub fn field<V: FromStr>(metadata: &Metadata, key: &str) -> Result<V, ConfigError>
where
    V::Err: fmt::Display,
{
    let text = metadata.get(key).ok_or_else(|| ConfigError {
        key: key.to_string(),
        problem: "missing".to_string(),
    })?;
    text.parse().map_err(|e: V::Err| ConfigError {
        key: key.to_string(),
        problem: format!("{text:?} is not valid: {e}"),
    })
}

/// Checks that `model` names the expected model.
///
/// # Errors
/// If it names another one or is missing.
pub fn check_model(metadata: &Metadata, expected: &str) -> Result<(), ConfigError> {
    let found: String = field(metadata, "model")?;
    if found == expected {
        Ok(())
    } else {
        Err(ConfigError {
            key: "model".to_string(),
            problem: format!("the file holds a {found}, not a {expected}"),
        })
    }
}

/// `Some(n)` as `"n"`, `None` as `"none"`.
pub fn optional_to_string(value: Option<usize>) -> String {
    value.map_or_else(|| "none".to_string(), |n| n.to_string())
}

/// Reads an optional number written by [`optional_to_string`].
///
/// # Errors
/// If the key is missing or holds neither `none` nor a number.
pub fn optional_field(metadata: &Metadata, key: &str) -> Result<Option<usize>, ConfigError> {
    let text: String = field(metadata, key)?;
    if text == "none" {
        return Ok(None);
    }
    field(metadata, key).map(Some)
}

impl fmt::Display for InitScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InitScheme::Keras => "keras",
            InitScheme::PyTorch => "pytorch",
        })
    }
}

impl FromStr for InitScheme {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "keras" => Ok(InitScheme::Keras),
            "pytorch" => Ok(InitScheme::PyTorch),
            _ => Err(format!("expected keras or pytorch, got {text:?}")),
        }
    }
}
