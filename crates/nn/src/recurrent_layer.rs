//! A sequence layer whose cell is chosen at run time.
//!
//! [`Recurrent<T, C>`](crate::Recurrent) fixes its cell in the type, which
//! is what a reader wants to study one cell. A program that takes
//! `--cell rnn|lstm|gru` needs the choice at run time: [`RecurrentLayer`]
//! holds one of the three layers and forwards every call to it.

use std::fmt;

use autograd::{Tape, Var};
use rand::Rng;
use tensor::{Element, Tensor};

use crate::module::{Module, Visitor, VisitorMut};
use crate::recurrent::{Gru, Lstm, RecurrentConfig, RecurrentOutput, Rnn, SequenceOptions};

/// Which recurrent cell a layer runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum CellKind {
    /// The Elman RNN (Keras' SimpleRNN, tanh)
    Rnn,
    /// The LSTM
    #[default]
    Lstm,
    /// The GRU (PyTorch's, reset after the product)
    Gru,
}

impl CellKind {
    /// All three, in the order above.
    pub const ALL: [CellKind; 3] = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru];

    /// `"rnn"`, `"lstm"` or `"gru"`: the name of the layer's attribute in a
    /// PyTorch model, and the prefix of its parameters (`lstm.weight_ih_l0`).
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    /// The number of stacked gate blocks of its cell: 1, 4 or 3.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// The layer's type as Keras and PyTorch print it (`"LSTM"`).
    pub fn layer_type(self) -> &'static str {
        match self {
            CellKind::Rnn => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
}

/// The name, `rnn`, `lstm` or `gru` (see [`CellKind::name`]).
impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An RNN, LSTM or GRU layer, chosen at run time.
#[derive(Clone, Debug)]
pub enum RecurrentLayer<T: Element = f32> {
    /// Elman RNN cells.
    Rnn(Rnn<T>),
    /// LSTM cells.
    Lstm(Lstm<T>),
    /// GRU cells.
    Gru(Gru<T>),
}

/// Runs `$body` with `$layer` bound to the layer inside, whatever its cell.
macro_rules! each_cell {
    ($self:expr, $layer:ident => $body:expr) => {
        match $self {
            RecurrentLayer::Rnn($layer) => $body,
            RecurrentLayer::Lstm($layer) => $body,
            RecurrentLayer::Gru($layer) => $body,
        }
    };
}

impl<T: Element> RecurrentLayer<T> {
    /// A layer of `kind` cells, configured as `config` says.
    ///
    /// # Panics
    /// As [`Recurrent::with_config`](crate::Recurrent::with_config).
    pub fn new(
        kind: CellKind,
        input_size: usize,
        hidden_size: usize,
        config: RecurrentConfig,
        rng: &mut impl Rng,
    ) -> Self {
        match kind {
            CellKind::Rnn => {
                RecurrentLayer::Rnn(Rnn::with_config(input_size, hidden_size, config, rng))
            }
            CellKind::Lstm => {
                RecurrentLayer::Lstm(Lstm::with_config(input_size, hidden_size, config, rng))
            }
            CellKind::Gru => {
                RecurrentLayer::Gru(Gru::with_config(input_size, hidden_size, config, rng))
            }
        }
    }

    /// The cell kind.
    pub fn kind(&self) -> CellKind {
        match self {
            RecurrentLayer::Rnn(_) => CellKind::Rnn,
            RecurrentLayer::Lstm(_) => CellKind::Lstm,
            RecurrentLayer::Gru(_) => CellKind::Gru,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RecurrentConfig {
        each_cell!(self, layer => layer.config())
    }

    /// `H`.
    pub fn hidden_size(&self) -> usize {
        each_cell!(self, layer => layer.hidden_size())
    }

    /// The features of the output sequence.
    pub fn output_size(&self) -> usize {
        each_cell!(self, layer => layer.output_size())
    }

    /// `[B, T, F]` for an input `[B, T, E]`.
    pub fn output_shape(&self, input: &[usize]) -> Vec<usize> {
        each_cell!(self, layer => layer.output_shape(input))
    }

    /// See [`Recurrent::forward`](crate::Recurrent::forward).
    pub fn forward(&self, tape: &Tape<T>, x: &Var<T>) -> RecurrentOutput<T> {
        each_cell!(self, layer => layer.forward(tape, x))
    }

    /// See [`Recurrent::forward_options`](crate::Recurrent::forward_options).
    pub fn forward_options(
        &self,
        tape: &Tape<T>,
        x: &Var<T>,
        options: &SequenceOptions<'_, T>,
    ) -> RecurrentOutput<T> {
        each_cell!(self, layer => layer.forward_options(tape, x, options))
    }

    /// A stateful layer's carried states, if any.
    pub fn carried_states(&self) -> Option<Vec<Tensor<T>>> {
        each_cell!(self, layer => layer.carried_states())
    }

    /// Forgets a stateful layer's carried states.
    pub fn reset_states(&self) {
        each_cell!(self, layer => layer.reset_states())
    }
}

impl<T: Element> Module<T> for RecurrentLayer<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        each_cell!(self, layer => layer.visit(visitor))
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        each_cell!(self, layer => layer.visit_mut(visitor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn cell_kinds_print_their_names() {
        let names: Vec<String> = CellKind::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["rnn", "lstm", "gru"]);
    }

    #[test]
    fn each_kind_has_its_gates_worth_of_parameters() {
        for (kind, gates) in [(CellKind::Rnn, 1), (CellKind::Lstm, 4), (CellKind::Gru, 3)] {
            let layer = RecurrentLayer::<f32>::new(
                kind,
                3,
                2,
                RecurrentConfig::default(),
                &mut StdRng::seed_from_u64(0),
            );
            assert_eq!(layer.kind(), kind);
            assert_eq!(layer.num_params(), gates * 2 * (3 + 2 + 2));
            assert_eq!(kind.gates(), gates);
            let config = RecurrentConfig::default();
            assert_eq!(
                config.param_count(gates, 3, 2),
                Some(layer.num_params() as u128)
            );
        }
    }
}
