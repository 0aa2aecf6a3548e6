//! Keeping freed buffers in the process, so a training step does not page-fault.
//!
//! A tensor's buffer comes from the system allocator. glibc's (Linux's usual
//! one) serves a request above its *mmap threshold* with fresh pages from the
//! kernel, and gives memory at the top of its heap back to the kernel once
//! more than twice that threshold is free there; every fresh page costs a
//! page fault and a zero-fill by the kernel when first touched. The threshold
//! starts at 128 KiB and rises (up to 32 MiB) to the size of a freed block
//! that had been mapped (`mallopt(3)`, "dynamic mmap threshold"), so it ends
//! near a step's largest single buffer (the embedding's dense 10 MB
//! gradient). But a step frees far more than twice that at once
//! (activations, gradients): without help, the heap gives it back after
//! every step and faults it in again at the next.
//!
//! [`reuse_large_buffers`] frees one 31 MiB block, once per process, which
//! sets the threshold to 31 MiB and the give-back point to 62 MiB from the
//! first step: the heap keeps a step's buffers for the next. It is plain
//! safe Rust; with another allocator it is one allocation and nothing more.
//! The cost: the process may keep up to ~62 MiB it no longer uses.
//!
//! `tests/heap.rs` checks that reused buffers no longer fault;
//! `benches/README.md` has what it saves a training epoch.

use std::sync::Once;

/// The block freed: just under glibc's 32 MiB cap, so the threshold follows it.
const BLOCK_BYTES: usize = 31 << 20;

/// Raises the allocator's threshold for fresh mappings above the buffers a
/// training step reuses (see the [module docs](self)). Only the first call
/// does anything.
pub fn reuse_large_buffers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Allocated, never written (so never faulted in), then freed;
        // `black_box` keeps the compiler from eliding the pair.
        let block: Vec<u8> = Vec::with_capacity(BLOCK_BYTES);
        std::hint::black_box(&block);
    });
}
