//! # Appendix: the built-in cells, fused
//!
//! The cells of the core ([`LstmCell`](crate::LstmCell),
//! [`GruCell`](crate::GruCell), [`RnnCell`](crate::RnnCell)) are written as
//! graphs of autograd ops, the way a reader checks them against their
//! equations. Over a whole sequence that graph costs more in bookkeeping
//! than in arithmetic, so this appendix runs the same equations faster:
//!
//! 1. [`steps`]: the elementwise part of an LSTM or GRU step as **one** op
//!    with a hand-written backward.
//! 2. [`sequence`]: a built-in cell over one direction of a sequence:
//!    `W_hh^T` packed once ([`Var::packed`](autograd::Var::packed)), each
//!    step's recurrent product and projected input added in one op
//!    ([`Var::matmul_add_packed`](autograd::Var::matmul_add_packed)), then
//!    the fused step, all in the core's one time loop.
//!
//! The sequence layer enters here through one seam,
//! `Recurrent::run_direction`, when [`RecurrentConfig::fused`](crate::RecurrentConfig)
//! is set (the default): `run_fused` finds the fused loop of a built-in
//! cell by its type, and answers `None` for any other cell, which then runs
//! the plain loop. `tests/fused_cells.rs` proves the two equal: the same
//! outputs, states and input gradients bit for bit, the weight gradients
//! (summed over the steps as one product) within rounding.

pub mod sequence;
pub mod steps;

pub(crate) use sequence::run_fused;
