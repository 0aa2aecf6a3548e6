//! A file-size limit as a write error, not a killed process.
//!
//! A shell's `ulimit -f` caps the size of the files a process writes. On
//! Unix the write that crosses the cap sends the process `SIGXFSZ`, whose
//! default action kills it on the spot: no message, and whatever it was
//! writing is lost. With the signal ignored, that write fails instead
//! (`EFBIG`, "File too large"), the part file is removed, the error names
//! the file, and the good version of the file stays.

/// Makes a write past the file-size limit an error instead of a fatal
/// signal (Unix; nothing elsewhere). A program calls it once, at start.
pub fn report_file_size_limit_as_error() {
    #[cfg(all(unix, any(target_os = "linux", target_os = "macos")))]
    {
        extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        // SIGXFSZ is 25 on Linux and macOS; SIG_IGN is handler 1.
        const SIGXFSZ: i32 = 25;
        const SIG_IGN: usize = 1;
        // SAFETY: `signal` is the C library's, with its C signature; it only
        // sets this process's disposition of SIGXFSZ to "ignore", which no
        // Rust code relies on.
        unsafe {
            signal(SIGXFSZ, SIG_IGN);
        }
    }
}
