//! How much memory the process has used: the figure a training program
//! prints at the end, to show its memory stays flat.

/// The peak resident set size of this process in bytes (Linux's `VmHWM`),
/// or `None` where the system does not report it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kilobytes * 1024)
}

/// The peak resident set size, as text: `"281 MB"`, or `"unknown"`.
pub fn peak_rss_text() -> String {
    match peak_rss_bytes() {
        Some(bytes) => format!("{:.0} MB", bytes as f64 / 1e6),
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            let peak = peak_rss_bytes().expect("Linux reports VmHWM");
            assert!(peak > 1_000_000, "{peak}");
            assert!(peak_rss_text().ends_with(" MB"));
        }
    }
}
