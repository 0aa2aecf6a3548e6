//! The sequence layer: one time loop that drives any cell.
//!
//! [`Recurrent<T, C>`] runs a [`RecurrentCell`] over a `[B, T, E]` batch, in
//! every configuration PyTorch's `nn.LSTM` and Keras' `LSTM` +
//! `Bidirectional` offer, with **one** loop for the RNN, LSTM and GRU
//! ([`Lstm`], [`Gru`] and [`Rnn`] are aliases):
//!
//! ```text
//! x [B, T, E] -> time-major [T*B, E]
//! for each layer l:
//!     for each direction d (forward; and reverse if bidirectional):
//!         P = x W_ih^T + b      one matrix product for all T steps: [T*B, E] @ [E, G*H]
//!         for t in 0..T (or T-1..=0 in reverse):
//!             s' = cell.step(P[t], s)             only h W_hh^T runs per step
//!             s  = mask[t] ? s' : s               padded steps keep the state
//!             y[t] = h
//!     y = merge(y_forward, y_reverse) * mask      concat | sum | mean | mul; zeros at padding
//!     x = dropout(y)                               between stacked layers, while training
//! output = y [B, T, H*D];  h_n, c_n = final states [L*D, B, H]
//! ```
//!
//! # Variable lengths
//! Give `lengths` (post-padded batches, PyTorch's `pack_padded_sequence`) or
//! a `[B, T]` mask (any padding pattern, e.g. pre-padding, or Keras' mask from
//! [`Embedding::compute_mask`](crate::Embedding::compute_mask)). A padded
//! step leaves the state unchanged and outputs zeros. That one rule gives
//! every property a packed sequence has, in both directions and for both
//! padding sides: the forward direction's state stops changing after a
//! sequence's last valid step, so `h_n` is the state at that step; the
//! reverse direction walks the padding first without changing its initial
//! state, so it really starts at each sequence's own last valid step. Each
//! sequence's results equal those of running it alone (tested).
//!
//! # States
//! The final states come back as `h_n` (and `c_n` for the LSTM), shaped
//! `[num_layers * directions, B, H]` and ordered `l0, l0_reverse, l1, ...`
//! as in PyTorch; initial states take the same shape. A **stateful** layer
//! keeps its final states (detached: as constants, cut from the old tape)
//! and starts the next batch from them, for truncated backpropagation through
//! time over a long text; [`Recurrent::reset_states`] forgets them. (The
//! carried states sit behind a lock, so the forward pass still takes
//! `&self` and a model can be shared between threads.)
//!
//! # Dropout
//! On a training tape ([`Tape::training`]) three kinds of dropout can be
//! active, each as its own framework has it: `input_dropout` on each layer's
//! input and `recurrent_dropout` on `h` before the recurrent product, both
//! with one mask per sequence reused at every step (Keras' `dropout` and
//! `recurrent_dropout`, Gal & Ghahramani, 2016), and `dropout` between
//! stacked layers (PyTorch's). Masks come from the tape's generator.
//!
//! # Speed
//! The time loop is inherently sequential, so the work outside it is moved
//! out: the input projection of all steps is one large, efficient matrix
//! product; the projected steps are cut apart once (`unbind`, whose backward
//! adds each step's gradient into its own slice); the outputs are stacked
//! once at the end. Per step there remain one `[B, H] @ [H, G*H]` product and
//! a few `[B, H]` elementwise ops.
//!
//! The built-in cells go further in this crate's appendix
//! ([`crate::fast`]): each step's elementwise part is one op, and `W_hh` is
//! packed once per sequence. `Recurrent::run_direction` is the one seam:
//! with [`RecurrentConfig::fused`] (the default) a built-in cell runs its
//! fused loop, any other cell the plain one, which gives the same values
//! (tested).

mod options;
pub(crate) mod time_loop;

use std::sync::{Mutex, PoisonError};

use autograd::ops::arith::dropout_mask;
use autograd::{Tape, Var};
use rand::Rng;
use tensor::{Element, Tensor};

use crate::cell::{CellState, GruCell, LstmCell, RecurrentCell, RnnCell};
use crate::module::{Module, Visitor, VisitorMut};
pub use options::{MergeMode, RecurrentConfig, RecurrentOutput, SequenceOptions};
pub use time_loop::{lengths_to_mask, run_over_time};
use time_loop::{step_mask, Direction, DirectionOutput, StepMask};

/// An LSTM layer (PyTorch's `nn.LSTM`, Keras' `LSTM`).
pub type Lstm<T = f32> = Recurrent<T, LstmCell<T>>;
/// A GRU layer (PyTorch's `nn.GRU`, Keras' `GRU` with `reset_after=True`).
pub type Gru<T = f32> = Recurrent<T, GruCell<T>>;
/// An Elman RNN layer (PyTorch's `nn.RNN`, Keras' `SimpleRNN`).
pub type Rnn<T = f32> = Recurrent<T, RnnCell<T>>;

/// A stack of recurrent layers over time, generic over the cell (see the [module docs](self)).
#[derive(Debug)]
pub struct Recurrent<T: Element, C: RecurrentCell<T>> {
    /// One cell per layer and direction: index `layer * directions + direction`.
    cells: Vec<C>,
    config: RecurrentConfig,
    /// A stateful layer's final states from the last batch: `[h_n]` or `[h_n, c_n]`.
    carried: Mutex<Option<Vec<Tensor<T>>>>,
}

impl<T: Element, C: RecurrentCell<T>> Clone for Recurrent<T, C> {
    fn clone(&self) -> Self {
        Recurrent {
            cells: self.cells.clone(),
            config: self.config,
            carried: Mutex::new(self.carried_states()),
        }
    }
}

impl<T: Element, C: RecurrentCell<T>> Recurrent<T, C> {
    /// One forward layer with Keras' initializers.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut impl Rng) -> Self {
        Self::with_config(input_size, hidden_size, RecurrentConfig::default(), rng)
    }

    /// A layer as configured, in training mode.
    ///
    /// ```
    /// use autograd::Tape;
    /// use nn::{Gru, RecurrentConfig};
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use tensor::Tensor;
    ///
    /// let config = RecurrentConfig { num_layers: 2, bidirectional: true, ..Default::default() };
    /// let gru = Gru::<f32>::with_config(8, 16, config, &mut StdRng::seed_from_u64(0));
    /// let tape = Tape::new();
    /// let out = gru.forward(&tape, &tape.constant(Tensor::zeros(&[4, 10, 8])));
    /// assert_eq!(out.output.shape(), &[4, 10, 32]); // both directions' h at every step
    /// assert_eq!(out.h_n.shape(), &[4, 4, 16]);     // [layers * directions, batch, hidden]
    /// ```
    ///
    /// # Panics
    /// If `input_size`, `hidden_size` or `num_layers` is 0, or a dropout
    /// probability is not in `[0, 1)`.
    pub fn with_config(
        input_size: usize,
        hidden_size: usize,
        config: RecurrentConfig,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(
            input_size > 0 && hidden_size > 0,
            "{}: input_size = {input_size} and hidden_size = {hidden_size} must both be at least 1",
            C::NAME
        );
        assert!(
            config.num_layers > 0,
            "{}: num_layers must be at least 1",
            C::NAME
        );
        for (what, p) in [
            ("dropout", config.dropout),
            ("input_dropout", config.input_dropout),
            ("recurrent_dropout", config.recurrent_dropout),
        ] {
            assert!(
                (0.0..1.0).contains(&p),
                "{}: {what} {p} is not in [0, 1)",
                C::NAME
            );
        }
        let directions = config.directions();
        let layer_output = config.merge_mode.merged_size(hidden_size, directions);
        let mut cells = Vec::with_capacity(config.num_layers * directions);
        for layer in 0..config.num_layers {
            let layer_input = if layer == 0 { input_size } else { layer_output };
            for _ in 0..directions {
                cells.push(C::new(layer_input, hidden_size, &config.cell, rng));
            }
        }
        Recurrent {
            cells,
            config,
            carried: Mutex::new(None),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RecurrentConfig {
        &self.config
    }

    /// The cells, index `layer * directions + direction`.
    pub fn cells(&self) -> &[C] {
        &self.cells
    }

    /// The cells, mutably.
    pub fn cells_mut(&mut self) -> &mut [C] {
        &mut self.cells
    }

    /// `E`, the input features.
    pub fn input_size(&self) -> usize {
        self.cells[0].input_size()
    }

    /// `H`, the hidden size of every layer.
    pub fn hidden_size(&self) -> usize {
        self.cells[0].hidden_size()
    }

    /// The features of the output sequence (`H * directions` for concat, `H` otherwise).
    pub fn output_size(&self) -> usize {
        self.config
            .merge_mode
            .merged_size(self.hidden_size(), self.config.directions())
    }

    /// `[B, T, F]` for an input `[B, T, E]`.
    pub fn output_shape(&self, input: &[usize]) -> Vec<usize> {
        vec![input[0], input[1], self.output_size()]
    }

    /// A stateful layer's carried states (`[h_n]` or `[h_n, c_n]`), if any.
    pub fn carried_states(&self) -> Option<Vec<Tensor<T>>> {
        self.carried
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets a stateful layer's carried states: the next batch starts from zeros.
    pub fn reset_states(&self) {
        *self.carried.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Runs the layer over `x: [B, T, E]` with every step valid and the
    /// default initial state.
    ///
    /// # Panics
    /// As [`Recurrent::forward_options`].
    pub fn forward(&self, tape: &Tape<T>, x: &Var<T>) -> RecurrentOutput<T> {
        self.forward_options(tape, x, &SequenceOptions::default())
    }

    /// Runs the layer with lengths, a mask or initial states: the time loop.
    ///
    /// # Panics
    /// If `x` is not `[B, T, E]` with `T >= 1`, if both or badly shaped
    /// `lengths`/`mask` are given, if an initial state has the wrong shape, or
    /// if a stateful layer's carried state is for another batch size.
    pub fn forward_options(
        &self,
        tape: &Tape<T>,
        x: &Var<T>,
        options: &SequenceOptions<'_, T>,
    ) -> RecurrentOutput<T> {
        let name = C::NAME;
        assert!(
            x.ndim() == 3,
            "{name}: input must be [batch, time, features], got {:?}",
            x.shape()
        );
        let (batch, time, features) = (x.dim(0), x.dim(1), x.dim(2));
        assert!(time > 0, "{name}: the input has no time steps");
        assert_eq!(
            features,
            self.input_size(),
            "{name}: input has {features} features, the layer expects {}",
            self.input_size()
        );
        let mask = step_mask::<T>(name, batch, time, options.lengths, options.mask);
        let initial = self.initial_state(tape, batch, options.initial_state);

        // Time-major layout: step t of the projection is a contiguous [B, G*H] block.
        let mut layer_input = x.transpose(0, 1);
        let mut finals: Vec<Vec<Var<T>>> = Vec::with_capacity(self.cells.len());
        for layer in 0..self.config.num_layers {
            let (merged, layer_finals) = self.run_layer(tape, layer, &layer_input, &mask, &initial);
            finals.extend(layer_finals);
            layer_input = if layer + 1 < self.config.num_layers {
                merged.dropout(self.config.dropout)
            } else {
                merged
            };
        }
        self.output(layer_input.transpose(0, 1), &finals)
    }

    /// One layer, both directions, over the time-major input `[T, B, F]`:
    /// the merged output `[T, B, F']` (zeros at padded steps) and each
    /// direction's final state tensors.
    fn run_layer(
        &self,
        tape: &Tape<T>,
        layer: usize,
        input: &Var<T>,
        mask: &StepMask<T>,
        initial: &[Var<T>],
    ) -> (Var<T>, Vec<Vec<Var<T>>>) {
        let (time, batch, features) = (input.dim(0), input.dim(1), input.dim(2));
        let training = tape.is_training();
        let directions = self.config.directions();
        let (mut outputs, mut finals) = (Vec::new(), Vec::new());
        for direction in 0..directions {
            let index = layer * directions + direction;
            let mut flat = input.reshape(&[time * batch, features]);
            if training && self.config.input_dropout > 0.0 {
                // One [B, E] mask for the whole sequence: broadcast over the T steps.
                let drop = dropout_mask(tape, &[batch, features], self.config.input_dropout);
                flat = input
                    .dropout_with_mask(&drop)
                    .reshape(&[time * batch, features]);
            }
            let recurrent_mask = (training && self.config.recurrent_dropout > 0.0).then(|| {
                let shape = [batch, self.hidden_size()];
                dropout_mask(tape, &shape, self.config.recurrent_dropout)
            });
            let run = Direction {
                tape,
                input: flat,
                time,
                recurrent_mask,
                mask: &mask.steps,
                initial: initial.iter().map(|s| s.select(0, index)).collect(),
                reverse: (direction == 1) != self.config.go_backwards,
            };
            let (steps, last) = self.run_direction(&self.cells[index], &run);
            outputs.push(Var::stack(&steps, 0));
            finals.push(last);
        }
        let mut merged = self.config.merge_mode.merge(&outputs);
        if let Some(zero_padding) = &mask.time_major {
            merged = &merged * zero_padding;
        }
        (merged, finals)
    }

    /// One cell over one direction: each step's `h` and the final state's
    /// tensors.
    ///
    /// This is the one seam to this crate's appendix: with
    /// [`RecurrentConfig::fused`] (the default) a built-in cell runs its
    /// fused loop (`fast::run_fused`, see [`crate::fast`]); any other
    /// cell, or `fused: false`, runs the plain loop, `Direction::run`.
    fn run_direction(&self, cell: &C, run: &Direction<'_, T>) -> DirectionOutput<T> {
        let fused = if self.config.fused {
            crate::fast::run_fused(cell, run)
        } else {
            None
        };
        fused.unwrap_or_else(|| run.run(cell))
    }

    /// The layer's output `[B, T, F]` (reversed back for `go_backwards`) and
    /// the final states gathered as `[L*D, B, H]`; a stateful layer keeps them.
    fn output(&self, mut output: Var<T>, finals: &[Vec<Var<T>>]) -> RecurrentOutput<T> {
        if self.config.go_backwards {
            let time = output.dim(1);
            let reversed: Vec<usize> = (0..time).rev().collect();
            output = output.index_select(1, &reversed);
        }
        let gather = |part: usize| {
            Var::stack(
                &finals.iter().map(|s| s[part].clone()).collect::<Vec<_>>(),
                0,
            )
        };
        let h_n = gather(0);
        let c_n = (C::State::PARTS > 1).then(|| gather(1));
        if self.config.stateful {
            *self.carried.lock().unwrap_or_else(PoisonError::into_inner) = Some(
                std::iter::once(&h_n)
                    .chain(&c_n)
                    .map(|v| v.value().clone())
                    .collect(),
            );
        }
        RecurrentOutput {
            output,
            h_n,
            c_n,
            directions: self.config.directions(),
            merge_mode: self.config.merge_mode,
        }
    }

    /// The initial state parts, each `[L*D, B, H]`: given, carried, or zeros.
    fn initial_state(&self, tape: &Tape<T>, batch: usize, given: Option<&[Var<T>]>) -> Vec<Var<T>> {
        let name = C::NAME;
        let expected = [self.cells.len(), batch, self.hidden_size()];
        if let Some(given) = given {
            assert_eq!(
                given.len(),
                C::State::PARTS,
                "{name}: initial state needs {} tensors, got {}",
                C::State::PARTS,
                given.len()
            );
            for part in given {
                assert_eq!(
                    part.shape(),
                    expected,
                    "{name}: initial state of shape {:?}, expected {expected:?}",
                    part.shape()
                );
            }
            return given.to_vec();
        }
        if let Some(carried) = self.carried_states() {
            assert_eq!(
                carried[0].shape(),
                expected,
                "{name}: the stateful layer carries states for {:?}, this batch needs {expected:?}; call reset_states()",
                carried[0].shape()
            );
            return carried.iter().map(|s| tape.constant(s.clone())).collect();
        }
        (0..C::State::PARTS)
            .map(|_| tape.constant(Tensor::zeros(&expected)))
            .collect()
    }
}

impl<T: Element, C: RecurrentCell<T>> Module<T> for Recurrent<T, C> {
    /// Each cell's parameters under its own names with `_l{k}` appended,
    /// and `_reverse` for the second direction: `weight_ih_l0`,
    /// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, ... PyTorch's names and
    /// order (and a custom cell's own parameters beside them).
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        let directions = self.config.directions();
        for (i, cell) in self.cells.iter().enumerate() {
            visitor.module_with_suffix(&layer_suffix(i, directions), cell);
        }
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        let directions = self.config.directions();
        for (i, cell) in self.cells.iter_mut().enumerate() {
            visitor.module_with_suffix(&layer_suffix(i, directions), cell);
        }
    }
}

/// `_l{layer}` plus `_reverse` for the second direction.
fn layer_suffix(cell_index: usize, directions: usize) -> String {
    let (layer, direction) = (cell_index / directions, cell_index % directions);
    format!("_l{layer}{}", if direction == 1 { "_reverse" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn parameters_are_named_and_ordered_like_pytorch() {
        let config = RecurrentConfig {
            num_layers: 2,
            bidirectional: true,
            ..Default::default()
        };
        let lstm = Lstm::<f32>::with_config(3, 4, config, &mut StdRng::seed_from_u64(0));
        let names: Vec<String> = lstm.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names[..5],
            [
                "weight_ih_l0",
                "weight_hh_l0",
                "bias_ih_l0",
                "bias_hh_l0",
                "weight_ih_l0_reverse"
            ]
        );
        assert_eq!(names.len(), 16);
        assert_eq!(names[15], "bias_hh_l1_reverse");
        assert_eq!(config.param_count(4, 3, 4), Some(lstm.num_params() as u128));
        let shapes: Vec<Vec<usize>> = lstm
            .named_params()
            .into_iter()
            .map(|(_, p)| p.shape().to_vec())
            .collect();
        assert_eq!(shapes[0], [16, 3]);
        assert_eq!(
            shapes[8],
            [16, 8],
            "layer 1 reads both directions of layer 0"
        );
    }

    #[test]
    fn shapes_of_output_and_final_states() {
        let config = RecurrentConfig {
            num_layers: 2,
            bidirectional: true,
            ..Default::default()
        };
        let gru = Gru::<f64>::with_config(3, 4, config, &mut StdRng::seed_from_u64(1));
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[2, 5, 3]));
        let out = gru.forward(&tape, &x);
        assert_eq!(out.output.shape(), &[2, 5, 8]);
        assert_eq!(out.h_n.shape(), &[4, 2, 4]);
        assert!(out.c_n.is_none());
        assert_eq!(out.final_hidden().shape(), &[2, 8]);
    }

    #[test]
    fn padded_steps_output_zeros_and_keep_the_state() {
        let lstm = Lstm::<f64>::new(2, 3, &mut StdRng::seed_from_u64(2));
        let tape = Tape::new();
        let x = tape.constant(Tensor::rand_normal(
            &[2, 4, 2],
            0.0,
            1.0,
            &mut StdRng::seed_from_u64(3),
        ));
        let out = lstm.forward_options(&tape, &x, &SequenceOptions::new().lengths(&[4, 2]));
        let y = out.output.value();
        assert_eq!(y.select(0, 1).narrow(0, 2, 2).to_vec(), vec![0.0; 6]);
        assert_eq!(
            out.h_n.value().select(1, 1).reshape(&[3]),
            y.select(0, 1).select(0, 1)
        );
        assert_eq!(
            out.h_n.value().select(1, 0).reshape(&[3]),
            y.select(0, 0).select(0, 3)
        );
    }
}
