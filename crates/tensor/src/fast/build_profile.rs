//! Whether the numerical core was compiled with optimisation, and a warning
//! when it was not.
//!
//! Cargo compiles dependencies with the profile of the project that uses
//! them, and a project's default `dev` profile does not optimise: the loops
//! of this crate then run about 50 times slower (measured in the README's
//! "Use tapegrad in your own project"), and nothing else would tell. (The
//! warning cannot see the other half: loops generic over the element type
//! are compiled in the crate that uses them, so a project that optimises
//! only its dependencies is still slow. The README says which line to add.) The
//! build script records the level (`OPT_LEVEL`), and the first matrix
//! product of a process built at level 0 prints one line to standard error
//! saying what to add to `Cargo.toml`. Set `TAPEGRAD_NO_BUILD_WARNING=1` to
//! silence it.

use std::sync::Once;

/// The `opt-level` this crate was compiled at (`"0"` to `"3"`, `"s"`, `"z"`).
pub const OPT_LEVEL: &str = env!("TAPEGRAD_TENSOR_OPT_LEVEL");

/// The line printed for a crate compiled at `opt_level`; `None` when that
/// level optimises.
pub fn warning(opt_level: &str) -> Option<String> {
    (opt_level == "0").then(|| {
        "tapegrad: the tensor crate was compiled without optimisation (opt-level 0) and runs \
         about 50x slower; add `[profile.dev] opt-level = 3` to your Cargo.toml, or build with \
         --release (see the README, \"Use tapegrad in your own project\")"
            .to_string()
    })
}

/// Prints [`warning`] for this build to standard error, once per process
/// (and never when `TAPEGRAD_NO_BUILD_WARNING` is set).
pub fn warn_once_if_unoptimized() {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        if std::env::var_os("TAPEGRAD_NO_BUILD_WARNING").is_some() {
            return;
        }
        if let Some(line) = warning(OPT_LEVEL) {
            eprintln!("{line}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unoptimised_build_is_warned_about() {
        assert!(warning("0")
            .unwrap()
            .contains("[profile.dev] opt-level = 3"));
        for level in ["1", "2", "3", "s", "z"] {
            assert_eq!(warning(level), None, "{level}");
        }
        // The workspace's own profiles optimise this crate.
        assert!(!OPT_LEVEL.is_empty());
        assert_eq!(warning(OPT_LEVEL), None, "built at {OPT_LEVEL}");
    }
}
