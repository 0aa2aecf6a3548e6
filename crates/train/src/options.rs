//! Options, written once: a choice among names, and the checks of a value.
//!
//! A program's option (`--cell lstm`), a checkpoint's setting (`cell =
//! lstm`) and a message all spell a choice the same way. The enum derives
//! `clap::ValueEnum`, whose variant names (kebab-case, or `#[value(name)]`)
//! and doc comments are the command line's names and help; [`name`] and
//! [`parse`] read the same names for files and messages, and
//! [`text_as_choice!`](crate::text_as_choice) gives such an enum `Display`
//! and `FromStr` through them.
//!
//! A number's check ([`at_least_one`], [`probability`], ...) is a plain
//! `fn(&str) -> Result<T, String>`, which is what a `clap` value parser
//! takes: a bad value is reported with the option's name, and the program
//! exits with a message instead of a panic.

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

/// A whole number of at least 1.
///
/// # Errors
/// If `text` is not a whole number or is 0.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A finite number greater than 0 (a learning rate, a clipping norm).
///
/// # Errors
/// If `text` is not a number, or not finite and positive.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number greater than 0, got {x}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A finite number of at least 0 (0 can mean "off").
///
/// # Errors
/// If `text` is not a number, or negative or not finite.
pub fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number of at least 0, got {x}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A probability in `[0, 1)` (a dropout rate).
///
/// # Errors
/// If `text` is not a number in `[0, 1)`.
pub fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) => Ok(p),
        Ok(p) => Err(format!("must be in [0, 1), got {p}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A number in `(0, 1]`: a fraction of a rate that leaves something.
pub fn positive_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        Ok(x) => Err(format!("must be in (0, 1], got {x}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A path that is not empty.
///
/// # Errors
/// If `text` is empty.
pub fn non_empty_path(text: &str) -> Result<std::path::PathBuf, String> {
    if text.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(text.into())
    }
}

/// `Display` and `FromStr` for enums that derive `clap::ValueEnum`, through
/// their names ([`name`], [`parse`]).
#[macro_export]
macro_rules! text_as_choice {
    ($($t:ty),+ $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$crate::options::name(self))
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                $crate::options::parse(text)
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert_eq!(at_least_one("0").unwrap_err(), "must be at least 1");
        assert!(at_least_one("-1")
            .unwrap_err()
            .contains("not a whole number"));
        assert_eq!(positive("1e-3"), Ok(1e-3));
        for bad in ["0", "-1", "NaN", "inf"] {
            assert!(
                positive(bad).unwrap_err().contains("greater than 0"),
                "{bad}"
            );
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.5").is_err());
        assert_eq!(probability("0.5"), Ok(0.5));
        for bad in ["1", "1.5", "-0.1", "NaN"] {
            assert!(probability(bad).unwrap_err().contains("[0, 1)"), "{bad}");
        }
        assert!(non_empty_path("").is_err());
    }
}
