//! What a sequence layer is built with and what it returns: [`RecurrentConfig`]
//! (layers, directions, dropout, state), [`SequenceOptions`] (lengths, a mask,
//! initial states) and [`RecurrentOutput`].

use autograd::Var;
use tensor::{Element, Tensor};

#[cfg(doc)]
use super::Recurrent;
use crate::cell::CellOptions;

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
/// with Keras' initializers, no dropout, and the fused loop.
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
    /// Run the built-in cells' fused loop (this crate's appendix,
    /// [`crate::fast`]; default true, faster) instead of their composed
    /// graph: the same values and input gradients, bit for bit, and the
    /// same weight gradients within rounding. A cell of your own always
    /// runs its own `step`.
    pub fused: bool,
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
            fused: true,
            cell: CellOptions::default(),
        }
    }
}

impl RecurrentConfig {
    /// How many parameters a layer of this configuration has, for cells of
    /// `gates` stacked gates, `input_size` features in and `hidden_size`
    /// out, counted before any is made (`None` if the count overflows): a
    /// program can refuse a size that cannot fit in memory.
    pub fn param_count(&self, gates: usize, input_size: usize, hidden_size: usize) -> Option<u128> {
        let (gates, hidden) = (gates as u128, hidden_size as u128);
        let directions = self.directions() as u128;
        let output = match self.merge_mode {
            MergeMode::Concat => hidden.checked_mul(directions)?,
            _ => hidden,
        };
        let biases = if self.cell.bias { 2 } else { 0 };
        let mut total: u128 = 0;
        for layer in 0..self.num_layers {
            let input = if layer == 0 {
                input_size as u128
            } else {
                output
            };
            let cell = gates
                .checked_mul(hidden)?
                .checked_mul(input.checked_add(hidden)?.checked_add(biases)?)?;
            total = total.checked_add(cell.checked_mul(directions)?)?;
        }
        Some(total)
    }

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
    pub(super) directions: usize,
    pub(super) merge_mode: MergeMode,
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
