//! # Appendix: ops fused for speed
//!
//! The core's ops are each one formula with one backward rule. A recurrent
//! network's inner loop runs a few of them so often that fusing them pays:
//!
//! 1. [`matmul_add`]: `Y = X W + b` as one op (PyTorch's `addmm`): the
//!    addend goes into the product's own buffer, so no second `[m, n]`
//!    tensor is made. A sequence layer's input projection adds its bias
//!    this way.
//! 2. [`packed`]: a weight packed once ([`Var::packed`](crate::Var::packed)) for the
//!    many products `h_t W + x_t` of a time loop
//!    ([`Var::matmul_add_packed`](crate::Var::matmul_add_packed)), whose
//!    gradient `sum_t h_t^T g_t` is multiplied out as **one** product over the
//!    stacked factors instead of one thin product per step (what cuDNN does
//!    for the weights of its LSTM).
//! 3. [`rows`]: adding gradients row by row where they are sparse (an
//!    embedding table's, from the shards of a batch), equal bit for bit to
//!    adding them whole.
//!
//! Each is tested equal to the composed graph it replaces: bit for bit where
//! the arithmetic is the same (`matmul_add` against `matmul` then `add`, the
//! packed product's values and input gradients), and within rounding where
//! the order of the additions changes (the weight gradient of the packed
//! product, one sum over all steps instead of a sum of per-step sums).
//!
//! Nothing in the core calls this appendix: the fused recurrent steps of the
//! `nn` crate's appendix do, and the `train` crate's shards add their
//! gradients by rows.

pub mod matmul_add;
pub mod packed;
pub mod rows;

pub use packed::PackedWeight;
