//! Recurrent cells: one time step of an RNN, an LSTM and a GRU.
//!
//! A cell maps the input at one step and the previous state to the next
//! state. All three share one parameter layout, PyTorch's, with the gates
//! stacked so a step costs two matrix products, not one per gate:
//!
//! | parameter | shape | holds |
//! |---|---|---|
//! | `weight_ih` | `[G*H, E]` | the input weights of all `G` gates, stacked |
//! | `weight_hh` | `[G*H, H]` | the recurrent weights of all gates |
//! | `bias_ih`, `bias_hh` | `[G*H]` | two biases, as cuDNN and PyTorch have |
//!
//! with `G = 1` (RNN), `4` (LSTM: `i, f, g, o`) or `3` (GRU: `r, z, n`).
//!
//! # Split in two so the input projection runs once
//! The input part of every gate, `x_t W_ih^T + b`, does not depend on the
//! state, so a sequence layer computes it for **all** time steps in one
//! matrix product before the time loop ([`RecurrentCell::project_input`],
//! `[B*T, E] @ [E, G*H]`). Inside the loop only the recurrent product
//! `h W_hh^T` remains ([`CellWeights::recurrent`]); [`RecurrentCell::step`]
//! takes the already projected input of one step.
//!
//! A sequence layer asks the tape for a cell's weights once per sequence
//! ([`CellParams::on_tape`]), as transposed views, not at every step.
//!
//! # State
//! A cell's state has a type of its own ([`RecurrentCell::State`]): one
//! `[B, H]` var `h` for the RNN and GRU, an [`LstmState`] `{ h, c }` for the
//! LSTM. [`CellState`] is what the sequence layer needs of any state: its
//! `h`, and its tensors as a list (to keep them at padded steps, and to
//! return and take the final states as PyTorch does).
//!
//! # A cell of your own
//! A cell is a [`Module`]: the sequence layer names and visits the whole
//! cell, so a cell with parameters beyond [`CellParams`] (a peephole LSTM's
//! `weight_peephole`, say) has them trained, saved and loaded like the
//! built-in ones (`weight_peephole_l0` in a layer).

pub mod gru;
pub mod lstm;
pub mod rnn;

use autograd::{Param, Tape, Var};
use rand::Rng;
use tensor::{Element, Tensor};

use crate::activation::Activation;
use crate::init::{Init, InitScheme};
use crate::module::{Module, Visitor, VisitorMut};

pub use gru::GruCell;
pub use lstm::{LstmCell, LstmState};
pub use rnn::RnnCell;

/// Construction options shared by the three cells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellOptions {
    /// Whether the cell has `bias_ih` and `bias_hh` (default true).
    pub bias: bool,
    /// Keras' initializers (default) or PyTorch's `U(-1/sqrt(H), 1/sqrt(H))`.
    pub init: InitScheme,
    /// The Elman RNN's activation, `tanh` (default) or `relu`; ignored by the LSTM and GRU.
    pub nonlinearity: Activation,
    /// The GRU's form (Keras' `reset_after`; ignored by the RNN and LSTM):
    /// `true` (default, PyTorch's and cuDNN's) applies the reset gate after
    /// the recurrent product, `false` before it. See [`GruCell`].
    pub reset_after: bool,
    /// The recurrent kernel's initializer in place of the scheme's (Keras'
    /// `recurrent_initializer`; the TensorFlow text-generation tutorial uses
    /// Glorot-uniform). `None`: orthogonal (Keras) or uniform (PyTorch).
    pub recurrent_init: Option<Init>,
}

impl Default for CellOptions {
    fn default() -> Self {
        CellOptions {
            bias: true,
            init: InitScheme::Keras,
            nonlinearity: Activation::Tanh,
            reset_after: true,
            recurrent_init: None,
        }
    }
}

/// The four parameters of a cell with `G` stacked gates (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct CellParams<T: Element = f32> {
    /// `W_ih`, `[G*H, E]`.
    pub weight_ih: Param<T>,
    /// `W_hh`, `[G*H, H]`.
    pub weight_hh: Param<T>,
    /// `b_ih`, `[G*H]`, if the cell has biases.
    pub bias_ih: Option<Param<T>>,
    /// `b_hh`, `[G*H]`, if the cell has biases.
    pub bias_hh: Option<Param<T>>,
}

impl<T: Element> CellParams<T> {
    /// Parameters for `gates` stacked gates, initialized as `options.init` says:
    ///
    /// - Keras: `W_ih` Glorot-uniform, `W_hh` orthogonal, biases zero;
    /// - PyTorch: everything `U(-1/sqrt(H), 1/sqrt(H))`.
    ///
    /// (The LSTM then sets its forget-gate bias, see [`LstmCell`].)
    pub fn new(
        gates: usize,
        input_size: usize,
        hidden_size: usize,
        options: &CellOptions,
        rng: &mut impl Rng,
    ) -> Self {
        let rows = gates * hidden_size;
        let bound = 1.0 / (hidden_size.max(1) as f64).sqrt();
        let (input_init, recurrent_init, bias_init) = match options.init {
            InitScheme::Keras => (Init::GlorotUniform, Init::Orthogonal, Init::Zeros),
            InitScheme::PyTorch => (
                Init::Uniform(bound),
                Init::Uniform(bound),
                Init::Uniform(bound),
            ),
        };
        let weight_ih = Param::new(input_init.tensor(&[rows, input_size], rng));
        let recurrent_init = options.recurrent_init.unwrap_or(recurrent_init);
        let weight_hh = Param::new(recurrent_init.tensor(&[rows, hidden_size], rng));
        let (bias_ih, bias_hh) = if options.bias {
            (
                Some(Param::new(bias_init.tensor(&[rows], rng))),
                Some(Param::new(bias_init.tensor(&[rows], rng))),
            )
        } else {
            (None, None)
        };
        CellParams {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
        }
    }

    /// `E`, the input size.
    pub fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    /// `H`, the hidden size.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }

    /// The weights as vars on `tape`, transposed for the products (views,
    /// made once per sequence, not at every step).
    pub fn on_tape(&self, tape: &Tape<T>) -> CellWeights<T> {
        CellWeights {
            w_ih_t: tape.param(&self.weight_ih).t(),
            w_hh_t: tape.param(&self.weight_hh).t(),
            b_ih: self.bias_ih.as_ref().map(|b| tape.param(b)),
            b_hh: self.bias_hh.as_ref().map(|b| tape.param(b)),
            recurrent_mask: None,
        }
    }
}

/// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`: PyTorch's `nn.LSTMCell` names.
impl<T: Element> Module<T> for CellParams<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        visitor.param("weight_ih", &self.weight_ih);
        visitor.param("weight_hh", &self.weight_hh);
        if let Some(b) = &self.bias_ih {
            visitor.param("bias_ih", b);
        }
        if let Some(b) = &self.bias_hh {
            visitor.param("bias_hh", b);
        }
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.param("weight_ih", &mut self.weight_ih);
        visitor.param("weight_hh", &mut self.weight_hh);
        if let Some(b) = &mut self.bias_ih {
            visitor.param("bias_ih", b);
        }
        if let Some(b) = &mut self.bias_hh {
            visitor.param("bias_hh", b);
        }
    }
}

/// A cell's parameters on one tape, for one sequence: the transposed
/// weights (views, made once, not at every step), the biases, and an
/// optional recurrent-dropout mask.
#[derive(Clone, Debug)]
pub struct CellWeights<T: Element = f32> {
    /// `W_ih^T`, `[E, G*H]`.
    pub w_ih_t: Var<T>,
    /// `W_hh^T`, `[H, G*H]`.
    pub w_hh_t: Var<T>,
    /// `b_ih`, `[G*H]`.
    pub b_ih: Option<Var<T>>,
    /// `b_hh`, `[G*H]`.
    pub b_hh: Option<Var<T>>,
    /// Keras' `recurrent_dropout`: a `[B, H]` mask (0 or `1/(1-p)`) applied to
    /// `h` before the recurrent product, the same at every step of a sequence.
    pub recurrent_mask: Option<Tensor<T>>,
}

impl<T: Element> CellWeights<T> {
    /// `h W_hh^T`, `[B, G*H]`, with the recurrent-dropout mask on `h` if set.
    pub fn recurrent(&self, h: &Var<T>) -> Var<T> {
        self.masked(h).matmul(&self.w_hh_t)
    }

    /// `h` with the recurrent-dropout mask applied, if there is one.
    pub fn masked(&self, h: &Var<T>) -> Var<T> {
        match &self.recurrent_mask {
            Some(mask) => h.dropout_with_mask(mask),
            None => h.clone(),
        }
    }

    /// The biases that may be added before the time loop: `b_ih + b_hh`, or
    /// `b_ih` alone when `b_hh` must stay inside the step (the GRU's).
    pub fn input_bias(&self, include_bias_hh: bool) -> Option<Var<T>> {
        match (&self.b_ih, &self.b_hh) {
            (Some(b_ih), Some(b_hh)) if include_bias_hh => Some(b_ih + b_hh),
            (b_ih, _) => b_ih.clone(),
        }
    }

    /// `x W_ih^T` plus [`CellWeights::input_bias`].
    pub fn input_product(&self, x: &Var<T>, include_bias_hh: bool) -> Var<T> {
        let product = x.matmul(&self.w_ih_t);
        match self.input_bias(include_bias_hh) {
            Some(b) => product + b,
            None => product,
        }
    }
}

/// What a sequence layer needs of a cell's state: its `h` (the step's
/// output) and its tensors as a list, `h` first.
pub trait CellState<T: Element>: Clone {
    /// How many tensors the state has (1 for `h`; 2 for the LSTM's `h, c`).
    const PARTS: usize;

    /// The hidden state `h`, `[B, H]`: what the cell outputs at this step.
    fn h(&self) -> &Var<T>;

    /// The tensors, `h` first.
    fn parts(&self) -> Vec<Var<T>>;

    /// The state from tensors in the order of [`CellState::parts`].
    ///
    /// # Panics
    /// If there are not [`CellState::PARTS`] of them.
    fn from_parts(parts: Vec<Var<T>>) -> Self;
}

/// The RNN's and the GRU's state: `h` alone.
impl<T: Element> CellState<T> for Var<T> {
    const PARTS: usize = 1;

    fn h(&self) -> &Var<T> {
        self
    }

    fn parts(&self) -> Vec<Var<T>> {
        vec![self.clone()]
    }

    fn from_parts(parts: Vec<Var<T>>) -> Self {
        let [h]: [Var<T>; 1] = parts.try_into().expect("a state of one tensor, h");
        h
    }
}

/// One time step of a recurrent network, split so that the input projection
/// of a whole sequence can run before the time loop.
///
/// A sequence layer ([`Recurrent`](crate::recurrent::Recurrent)) calls
/// [`project_input`](Self::project_input) once on all `[B*T, E]` inputs, then
/// [`step`](Self::step) once per time step with that step's `[B, G*H]` rows.
/// A cell is a [`Module`]: the layer visits all of it, so the parameters a
/// cell adds to its [`CellParams`] are trained and saved too.
pub trait RecurrentCell<T: Element = f32>: Module<T> + Clone + Send + Sync + 'static {
    /// The number of stacked gate blocks `G`.
    const GATES: usize;
    /// The layer's name as PyTorch and Keras print it (`"LSTM"`).
    const NAME: &'static str;
    /// The state carried from step to step.
    type State: CellState<T>;

    /// A cell with fresh parameters.
    fn new(
        input_size: usize,
        hidden_size: usize,
        options: &CellOptions,
        rng: &mut impl Rng,
    ) -> Self;

    /// The four stacked-gate parameters.
    fn params(&self) -> &CellParams<T>;

    /// `E`.
    fn input_size(&self) -> usize {
        self.params().input_size()
    }

    /// `H`.
    fn hidden_size(&self) -> usize {
        self.params().hidden_size()
    }

    /// The part of every gate that depends on the input only: `x W_ih^T + b`
    /// for `x: [N, E]`, giving `[N, G*H]`. Default: both biases folded in here,
    /// right for cells where they only ever appear as a sum (RNN, LSTM).
    fn project_input(&self, w: &CellWeights<T>, x: &Var<T>) -> Var<T> {
        w.input_product(x, true)
    }

    /// The next state from this step's projected input `[B, G*H]` and the
    /// previous state, written with autograd ops only.
    fn step(&self, w: &CellWeights<T>, x_projected: &Var<T>, state: &Self::State) -> Self::State;

    /// One whole step from a raw input `x: [B, E]`: `step(project_input(x), state)`.
    /// What PyTorch's `nn.LSTMCell(x, (h, c))` computes.
    fn forward(&self, tape: &Tape<T>, x: &Var<T>, state: &Self::State) -> Self::State {
        let w = self.params().on_tape(tape);
        self.step(&w, &self.project_input(&w, x), state)
    }

    /// A zero state for a batch of `batch` sequences.
    fn zero_state(&self, tape: &Tape<T>, batch: usize) -> Self::State {
        Self::State::from_parts(
            (0..Self::State::PARTS)
                .map(|_| tape.constant(Tensor::zeros(&[batch, self.hidden_size()])))
                .collect(),
        )
    }
}

/// The `N` equal gate blocks along the last axis of `[B, N*H]`.
pub(crate) fn gate_blocks<const N: usize, T: Element>(gates: &Var<T>) -> [Var<T>; N] {
    let blocks = gates.chunk(N, gates.ndim() - 1);
    std::array::from_fn(|i| blocks[i].clone())
}

/// `1 - z`, generic over the element type.
pub(crate) fn one_minus<T: Element>(z: &Var<T>) -> Var<T> {
    z.neg().add_scalar(T::ONE)
}

/// Fills gate block `block` of a `[G*H]` bias with `value` (the LSTM's forget-gate bias).
pub(crate) fn set_block<T: Element>(bias: &mut Param<T>, block: usize, hidden: usize, value: f64) {
    let mut b = bias.value().clone();
    b.data_mut()[block * hidden..(block + 1) * hidden].fill(T::from_f64(value));
    bias.set(b);
}
