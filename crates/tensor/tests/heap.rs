//! `tensor::fast::heap::reuse_large_buffers`: after it, large buffers freed
//! and allocated again are the same memory, with no new page faults.
//!
//! Run without a test harness (`harness = false`), on the main thread, with
//! nothing else allocating: in a harness, other tests' frees may raise glibc's
//! thresholds first and hide what the call does. Without the call this
//! program counts ~40,000 page faults (the 32 MB of each round given back to
//! the kernel and faulted in again); with it, almost none.

/// This thread's minor page faults so far (`/proc/thread-self/stat`, field 10).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux has /proc");
    let after_name = &stat[stat.rfind(')').expect("the name ends with ')'") + 2..];
    after_name
        .split(' ')
        .nth(7)
        .and_then(|field| field.parse().ok())
        .expect("field 10 is minflt")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    // The second call does nothing.
    tensor::fast::heap::reuse_large_buffers();
    tensor::fast::heap::reuse_large_buffers();
    // One round: four 8 MB buffers allocated, written, then freed.
    let round = || -> f32 {
        let buffers: Vec<Vec<f32>> = (0..4).map(|_| vec![1.0f32; 2 << 20]).collect();
        std::hint::black_box(&buffers)[3][12345]
    };
    let mut checksum = round();
    let before = minor_faults();
    for _ in 0..5 {
        checksum += round();
    }
    let faults = minor_faults() - before;
    assert_eq!(checksum, 6.0);
    assert!(
        faults < 1000,
        "{faults} page faults in 5 rounds of reused buffers"
    );
    println!("heap: {faults} page faults in 5 rounds of 32 MB reused: ok");
}

/// Elsewhere the thresholds are the allocator's own business: nothing to check.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    tensor::fast::heap::reuse_large_buffers();
}
