//! A choice among names: one enum, its names written once.
//!
//! A program's option (`--cell lstm`), a checkpoint's setting (`cell =
//! lstm`) and a message all spell a choice the same way. The enum derives
//! `clap::ValueEnum`, whose variant names (kebab-case, or `#[value(name)]`)
//! and doc comments are the command line's names and help; [`name`] and
//! [`parse`] read the same names for files and messages, and
//! [`text_as_choice!`](crate::text_as_choice) gives such an enum `Display`
//! and `FromStr` through them.

use clap::ValueEnum;

/// The name of a choice, as the command line and the files spell it.
pub fn name<E: ValueEnum>(value: &E) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The choice named `text`.
///
/// # Errors
/// Lists the names there are.
pub fn parse<E: ValueEnum>(text: &str) -> Result<E, String> {
    E::from_str(text, false).map_err(|_| {
        let names: Vec<String> = E::value_variants().iter().map(name).collect();
        format!("expected one of {}, got {text:?}", names.join(", "))
    })
}

/// `Display` and `FromStr` for enums that derive `clap::ValueEnum`, through
/// their names ([`name`], [`parse`]).
#[macro_export]
macro_rules! text_as_choice {
    ($($t:ty),+ $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$crate::choice::name(self))
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                $crate::choice::parse(text)
            }
        }
    )+};
}
