//! The process tuned for training.
//!
//! Two settings of the machine, not of the model, make a training run
//! markedly faster without changing what it computes in any way that shows:
//!
//! - **Denormals flushed to zero.** Gradients that fade along a long
//!   sequence become *denormal* numbers (below `f32::MIN_POSITIVE`), and
//!   many CPUs take a slow microcode path for every operation on one: a GRU
//!   epoch ran 4x slower on such a machine. With them flushed (PyTorch's
//!   `torch.set_flush_denormal(True)`), only values below `1.2e-38` change:
//!   nothing a weight update can see. The pool's workers take the same mode
//!   (`tensor::fast::denormals`).
//! - **Freed buffers kept.** Each step allocates and frees the same large
//!   activation buffers; glibc hands large blocks back to the kernel and
//!   maps them fresh (page faults and all) unless an earlier free raised its
//!   threshold. One deliberate free at the start raises it
//!   (`tensor::fast::heap`).

use tensor::fast::denormals::flush_denormals;
use tensor::fast::heap::reuse_large_buffers;

/// Runs `work` (a program's training and evaluation) with the process tuned
/// for training: denormals flushed to zero on this thread and the pool's
/// workers, and large freed buffers kept for reuse.
pub fn run_tuned<R>(work: impl FnOnce() -> R) -> R {
    reuse_large_buffers();
    flush_denormals(work)
}
