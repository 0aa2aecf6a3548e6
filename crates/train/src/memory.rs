//! How much memory the process has used (the figure a training program
//! prints at the end, to show its memory stays flat), and whether a model
//! fits in the machine's memory before it is built.

/// The peak resident set size of this process in bytes (Linux's `VmHWM`),
/// or `None` where the system does not report it.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_bytes("/proc/self/status", "VmHWM:")
}

/// The value of the `key` line (`"VmHWM:"`) of a Linux `/proc` file, given
/// there in kilobytes, in bytes.
fn proc_bytes(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let value = text.lines().find_map(|line| line.strip_prefix(key))?;
    let kilobytes: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kilobytes * 1024)
}

/// The peak resident set size, as text: `"281 MB"`, or `"unknown"`.
pub fn peak_rss_text() -> String {
    match peak_rss_bytes() {
        Some(bytes) => format!("{:.0} MB", bytes as f64 / 1e6),
        None => "unknown".to_string(),
    }
}

/// The machine's physical memory in bytes (Linux's `MemTotal`), or `None`
/// where the system does not report it.
pub fn total_memory_bytes() -> Option<u64> {
    proc_bytes("/proc/meminfo", "MemTotal:")
}

/// Checks that a model of `params` parameters (`None`: more than a number
/// can count) can be trained in this machine's memory: its weights, their
/// gradients and an optimizer's two buffers, 16 bytes per parameter.
///
/// # Errors
/// Names `what`, its parameter count and the memory it would need, before
/// anything is allocated.
pub fn check_model_fits(what: &str, params: Option<u128>) -> Result<(), String> {
    let Some(params) = params else {
        return Err(format!(
            "{what} has more parameters than a number can count"
        ));
    };
    let needed = params.saturating_mul(16);
    match total_memory_bytes() {
        Some(total) if needed > u128::from(total) => Err(format!(
            "{what} has {params} parameters: training it needs at least {:.1} GB, and this \
             machine has {:.1} GB",
            needed as f64 / 1e9,
            total as f64 / 1e9
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_too_large_for_the_machine_is_refused_naming_its_size() {
        assert!(check_model_fits("a small model", Some(1000)).is_ok());
        let error = check_model_fits("the model", None).unwrap_err();
        assert!(
            error.contains("more parameters than a number can count"),
            "{error}"
        );
        if total_memory_bytes().is_some() {
            let error = check_model_fits("an LSTM", Some(1 << 60)).unwrap_err();
            assert!(
                error.contains("an LSTM has 1152921504606846976 parameters"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_peak_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            let peak = peak_rss_bytes().expect("Linux reports VmHWM");
            assert!(peak > 1_000_000, "{peak}");
            assert!(peak_rss_text().ends_with(" MB"));
        }
    }
}
