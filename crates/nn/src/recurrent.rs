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

use std::sync::{Mutex, PoisonError};

use autograd::ops::arith::dropout_mask;
use autograd::{Tape, Var};
use rand::Rng;
use tensor::{Element, Tensor};

use crate::cell::{CellOptions, GruCell, LstmCell, RecurrentCell, RnnCell};
use crate::module::{Module, Visitor, VisitorMut};

/// An LSTM layer (PyTorch's `nn.LSTM`, Keras' `LSTM`).
pub type Lstm<T = f32> = Recurrent<T, LstmCell<T>>;
/// A GRU layer (PyTorch's `nn.GRU`, Keras' `GRU` with `reset_after=True`).
pub type Gru<T = f32> = Recurrent<T, GruCell<T>>;
/// An Elman RNN layer (PyTorch's `nn.RNN`, Keras' `SimpleRNN`).
pub type Rnn<T = f32> = Recurrent<T, RnnCell<T>>;

/// How a bidirectional layer combines its two directions' outputs (Keras' `merge_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeMode {
    /// `[forward, reverse]` along the feature axis: `2H` features (PyTorch's only mode).
    #[default]
    Concat,
    /// `forward + reverse`.
    Sum,
    /// `(forward + reverse) / 2`.
    Mean,
    /// `forward * reverse`.
    Mul,
}

impl MergeMode {
    /// Combines the directions' outputs (one or two vars of equal shape) along the last axis.
    pub fn merge<T: Element>(&self, parts: &[Var<T>]) -> Var<T> {
        if parts.len() == 1 {
            return parts[0].clone();
        }
        let (a, b) = (&parts[0], &parts[1]);
        match self {
            MergeMode::Concat => Var::concat(parts, a.ndim() - 1),
            MergeMode::Sum => a + b,
            MergeMode::Mean => (a + b).mul_scalar(T::from_f64(0.5)),
            MergeMode::Mul => a * b,
        }
    }

    /// The number of features after merging `directions` outputs of `hidden` features.
    pub fn merged_size(&self, hidden: usize, directions: usize) -> usize {
        match self {
            MergeMode::Concat => hidden * directions,
            _ => hidden,
        }
    }
}

/// Configuration of a [`Recurrent`] layer. `Default` is one forward layer
/// with Keras' initializers and no dropout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Stacked layers; layer `l > 0` reads layer `l - 1`'s merged output (default 1).
    pub num_layers: usize,
    /// Run a second, reverse-time direction in every layer (default false).
    pub bidirectional: bool,
    /// How the two directions' outputs combine (default concat).
    pub merge_mode: MergeMode,
    /// Dropout on each layer's output except the last, in training passes
    /// (PyTorch's `dropout`).
    pub dropout: f64,
    /// Dropout on each layer's input, one mask per sequence reused at every
    /// step, in training passes (Keras' `dropout`).
    pub input_dropout: f64,
    /// Dropout on `h` before the recurrent product, one mask per sequence
    /// reused at every step, in training passes (Keras' `recurrent_dropout`).
    pub recurrent_dropout: f64,
    /// Read the sequence from its end and return the output in that reversed
    /// order (Keras' `go_backwards`).
    pub go_backwards: bool,
    /// Carry the final states over to the next batch (Keras' `stateful`).
    pub stateful: bool,
    /// Biases, initializers and (for the RNN) the activation.
    pub cell: CellOptions,
}

impl Default for RecurrentConfig {
    fn default() -> Self {
        RecurrentConfig {
            num_layers: 1,
            bidirectional: false,
            merge_mode: MergeMode::Concat,
            dropout: 0.0,
            input_dropout: 0.0,
            recurrent_dropout: 0.0,
            go_backwards: false,
            stateful: false,
            cell: CellOptions::default(),
        }
    }
}

impl RecurrentConfig {
    /// 1 or 2.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// Per-call options of [`Recurrent::forward_options`]: which steps are valid
/// and where to start.
#[derive(Clone, Copy, Debug)]
pub struct SequenceOptions<'a, T: Element = f32> {
    /// Valid steps per sequence, each sequence at the start of its row
    /// (post-padding). Exclusive with `mask`.
    pub lengths: Option<&'a [usize]>,
    /// `[B, T]`, non-zero at valid steps; any pattern. Exclusive with `lengths`.
    pub mask: Option<&'a Tensor<T>>,
    /// `[h_0]` (RNN, GRU) or `[h_0, c_0]` (LSTM), each `[L*D, B, H]`; zeros
    /// (or a stateful layer's carried states) if `None`.
    pub initial_state: Option<&'a [Var<T>]>,
}

impl<T: Element> Default for SequenceOptions<'_, T> {
    fn default() -> Self {
        SequenceOptions {
            lengths: None,
            mask: None,
            initial_state: None,
        }
    }
}

impl<'a, T: Element> SequenceOptions<'a, T> {
    /// No lengths, no mask, default initial state.
    pub fn new() -> Self {
        Self::default()
    }

    /// With per-sequence lengths (post-padded batch).
    pub fn lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }

    /// With a `[B, T]` mask of valid steps.
    pub fn mask(mut self, mask: &'a Tensor<T>) -> Self {
        self.mask = Some(mask);
        self
    }

    /// With initial states.
    pub fn initial_state(mut self, state: &'a [Var<T>]) -> Self {
        self.initial_state = Some(state);
        self
    }
}

/// What a [`Recurrent`] layer returns: the whole output sequence and the final states.
#[derive(Clone, Debug)]
pub struct RecurrentOutput<T: Element = f32> {
    /// `[B, T, F]`: the last layer's merged output at every step (Keras'
    /// `return_sequences=True`, PyTorch's `output`); zeros at padded steps.
    /// `F = H * directions` for concat, `H` otherwise.
    pub output: Var<T>,
    /// `[L*D, B, H]`: each layer's and direction's `h` at its last valid step.
    pub h_n: Var<T>,
    /// `[L*D, B, H]`: the LSTM's final cell state; `None` for the RNN and GRU.
    pub c_n: Option<Var<T>>,
    directions: usize,
    merge_mode: MergeMode,
}

impl<T: Element> RecurrentOutput<T> {
    /// The final states `[h_n]` or `[h_n, c_n]`, to pass as the next initial state.
    pub fn state(&self) -> Vec<Var<T>> {
        std::iter::once(self.h_n.clone())
            .chain(self.c_n.clone())
            .collect()
    }

    /// The last layer's final `h`, directions merged: `[B, F]`. This is Keras'
    /// output with `return_sequences=False` (for `Bidirectional`, the merge
    /// of the forward state after the last valid step and the reverse state
    /// after the first), and what a classifier reads.
    pub fn final_hidden(&self) -> Var<T> {
        let layers_times_directions = self.h_n.dim(0);
        let first = layers_times_directions - self.directions;
        let parts: Vec<Var<T>> = (first..layers_times_directions)
            .map(|i| self.h_n.select(0, i))
            .collect();
        self.merge_mode.merge(&parts)
    }
}

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
        let (hidden, directions, layers) = (
            self.hidden_size(),
            self.config.directions(),
            self.config.num_layers,
        );
        let mask = step_mask::<T>(name, batch, time, options.lengths, options.mask);
        let initial = self.initial_state(tape, batch, options.initial_state);
        let training = tape.is_training();

        // Time-major layout: step t of the projection is a contiguous [B, G*H] block.
        let mut layer_input = x.transpose(0, 1);
        let mut finals: Vec<Vec<Var<T>>> = Vec::with_capacity(layers * directions);
        for layer in 0..layers {
            let flat = layer_input.reshape(&[time * batch, layer_input.dim(2)]);
            let mut outputs = Vec::with_capacity(directions);
            for direction in 0..directions {
                let index = layer * directions + direction;
                let cell = &self.cells[index];
                let mut w = cell.params().on_tape(tape);
                let mut input = flat.clone();
                if training && self.config.input_dropout > 0.0 {
                    // One [B, E] mask for the whole sequence: broadcast over the T steps.
                    let features = layer_input.dim(2);
                    let mask = dropout_mask(tape, &[batch, features], self.config.input_dropout);
                    input = layer_input
                        .dropout_with_mask(&mask)
                        .reshape(&[time * batch, features]);
                }
                if training && self.config.recurrent_dropout > 0.0 {
                    w.recurrent_mask = Some(dropout_mask(
                        tape,
                        &[batch, hidden],
                        self.config.recurrent_dropout,
                    ));
                }
                let projected = cell
                    .project_input(&w, &input)
                    .reshape(&[time, batch, C::GATES * hidden])
                    .unbind(0);
                let reverse = (direction == 1) != self.config.go_backwards;
                let state: Vec<Var<T>> = initial.iter().map(|s| s.select(0, index)).collect();
                let (steps, last) =
                    run_direction(cell, &w, &projected, &mask.steps, state, reverse);
                outputs.push(Var::stack(&steps, 0));
                finals.push(last);
            }
            let mut merged = self.config.merge_mode.merge(&outputs);
            if let Some(zero_padding) = &mask.time_major {
                merged = &merged * zero_padding;
            }
            if layer + 1 < layers {
                merged = merged.dropout(self.config.dropout);
            }
            layer_input = merged;
        }

        let mut output = layer_input.transpose(0, 1);
        if self.config.go_backwards {
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
        let c_n = (C::STATE_PARTS > 1).then(|| gather(1));
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
            directions,
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
                C::STATE_PARTS,
                "{name}: initial state needs {} tensors, got {}",
                C::STATE_PARTS,
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
        (0..C::STATE_PARTS)
            .map(|_| tape.constant(Tensor::zeros(&expected)))
            .collect()
    }
}

/// The valid steps of a batch, prepared once per forward pass.
struct StepMask<T: Element> {
    /// Per step, `[B, 1]` (1 valid, 0 padded), or `None` if every sequence is valid there.
    steps: Vec<Option<Tensor<T>>>,
    /// `[T, B, 1]`, to zero the output at padded steps; `None` if nothing is padded.
    time_major: Option<Tensor<T>>,
}

fn step_mask<T: Element>(
    name: &str,
    batch: usize,
    time: usize,
    lengths: Option<&[usize]>,
    mask: Option<&Tensor<T>>,
) -> StepMask<T> {
    let mask = match (lengths, mask) {
        (Some(_), Some(_)) => panic!("{name}: give lengths or a mask, not both"),
        (None, None) => {
            return StepMask {
                steps: vec![None; time],
                time_major: None,
            }
        }
        (Some(lengths), None) => {
            assert_eq!(
                lengths.len(),
                batch,
                "{name}: {} lengths for a batch of {batch}",
                lengths.len()
            );
            if let Some(&bad) = lengths.iter().find(|&&n| n > time) {
                panic!("{name}: length {bad} is longer than the {time} time steps");
            }
            lengths_to_mask(lengths, time)
        }
        (None, Some(mask)) => {
            assert_eq!(
                mask.shape(),
                [batch, time],
                "{name}: mask of shape {:?}, expected [{batch}, {time}]",
                mask.shape()
            );
            mask.ne_zero()
        }
    };
    if mask.to_vec().iter().all(|&m| m != T::ZERO) {
        return StepMask {
            steps: vec![None; time],
            time_major: None,
        };
    }
    let steps = (0..time)
        .map(|t| {
            let column = mask.select(1, t).contiguous();
            let all_valid = column.to_vec().iter().all(|&m| m != T::ZERO);
            (!all_valid).then(|| column.reshape(&[batch, 1]))
        })
        .collect();
    let time_major = Some(mask.t().contiguous().reshape(&[time, batch, 1]));
    StepMask { steps, time_major }
}

/// The one time loop: runs `cell` over the projected steps (forward or in
/// reverse), keeping the state at padded steps. Returns each step's `h` in
/// time order and the final state.
fn run_direction<T: Element, C: RecurrentCell<T>>(
    cell: &C,
    w: &crate::cell::CellWeights<T>,
    projected: &[Var<T>],
    mask: &[Option<Tensor<T>>],
    mut state: Vec<Var<T>>,
    reverse: bool,
) -> (Vec<Var<T>>, Vec<Var<T>>) {
    let time = projected.len();
    let mut outputs: Vec<Option<Var<T>>> = vec![None; time];
    for i in 0..time {
        let t = if reverse { time - 1 - i } else { i };
        let next = cell.step(w, &projected[t], &state);
        state = match &mask[t] {
            None => next,
            Some(valid) => next
                .iter()
                .zip(&state)
                .map(|(new, old)| Var::where_(valid, new, old))
                .collect(),
        };
        outputs[t] = Some(state[0].clone());
    }
    (
        outputs
            .into_iter()
            .map(|h| h.expect("every step ran"))
            .collect(),
        state,
    )
}

/// The `[B, T]` mask of a post-padded batch: 1 at steps `t < lengths[b]`, 0 after.
pub fn lengths_to_mask<T: Element>(lengths: &[usize], time: usize) -> Tensor<T> {
    Tensor::from_fn(&[lengths.len(), time], |i| {
        if i[1] < lengths[i[0]] {
            T::ONE
        } else {
            T::ZERO
        }
    })
}

trait NonZero<T: Element> {
    fn ne_zero(&self) -> Tensor<T>;
}

impl<T: Element> NonZero<T> for Tensor<T> {
    /// 1 where the element is non-zero, 0 elsewhere.
    fn ne_zero(&self) -> Tensor<T> {
        self.map(|m| if m != T::ZERO { T::ONE } else { T::ZERO })
    }
}

impl<T: Element, C: RecurrentCell<T>> Module<T> for Recurrent<T, C> {
    /// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, with
    /// `_reverse` for the second direction: PyTorch's names and order.
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        let directions = self.config.directions();
        for (i, cell) in self.cells.iter().enumerate() {
            cell.params()
                .visit_with_suffix(&layer_suffix(i, directions), visitor);
        }
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        let directions = self.config.directions();
        for (i, cell) in self.cells.iter_mut().enumerate() {
            cell.params_mut()
                .visit_mut_with_suffix(&layer_suffix(i, directions), visitor);
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
