//! The tutorials' models: a sentiment classifier and a character-level
//! language model, and how a checkpoint describes its model.
//!
//! Both are small compositions of the `nn` crate's layers, named the way a
//! PyTorch module with the same attributes would name its parameters, so a
//! state dict saved from the equivalent PyTorch model loads here. Each has a
//! configuration that can be written into a checkpoint ([`config`]), so the
//! file alone rebuilds the model.

pub mod char_rnn;
pub mod config;
pub mod encoding;
pub mod pooling;
pub mod sentiment;

pub use char_rnn::{CharRnn, CharRnnConfig};
pub use config::{ConfigError, Metadata, MetadataValue, ModelConfig};
pub use encoding::ReviewEncoding;
pub use pooling::SentimentPool;
pub use sentiment::{SentimentConfig, SentimentHead, SentimentModel};
