//! Your LSTM step as a cell the library's sequence layer can run: the
//! reward at the end of chapter 3 (`examples/your_lstm_on_imdb.rs`).
//!
//! A cell is anything that implements `nn::RecurrentCell`: its parameters
//! and its step. This one keeps the library's LSTM parameters (the same
//! initialization, so a model built with it starts from the same weights
//! as one built with `nn::LstmCell`) and steps with exercise 3.2's
//! [`lstm_step`](crate::ch3_nn::lstm_step).

use autograd::Var;
use nn::{CellOptions, CellParams, CellWeights, LstmCell, LstmState, Module, RecurrentCell};
use nn::{Visitor, VisitorMut};
use rand::Rng;
use tensor::Element;

/// An LSTM step: the projected input and the state to the next state.
pub type LstmStep<T> = fn(&CellWeights<T>, &Var<T>, &LstmState<T>) -> LstmState<T>;

/// The library's LSTM parameters, stepped by your [`lstm_step`](crate::ch3_nn::lstm_step).
#[derive(Clone, Debug)]
pub struct YourLstmCell<T: Element = f32> {
    library: LstmCell<T>,
    step: LstmStep<T>,
}

impl<T: Element> YourLstmCell<T> {
    /// Steps with `step` instead (the library's, to compare).
    pub fn use_step(&mut self, step: LstmStep<T>) {
        self.step = step;
    }
}

impl<T: Element> RecurrentCell<T> for YourLstmCell<T> {
    const GATES: usize = 4;
    const NAME: &'static str = "LSTM";
    type State = LstmState<T>;

    /// The parameters `LstmCell::new` would make, drawn the same way.
    fn new(
        input_size: usize,
        hidden_size: usize,
        options: &CellOptions,
        rng: &mut impl Rng,
    ) -> Self {
        YourLstmCell {
            library: LstmCell::new(input_size, hidden_size, options, rng),
            step: crate::ch3_nn::lstm_step::<T>,
        }
    }

    fn params(&self) -> &CellParams<T> {
        self.library.params()
    }

    fn step(&self, w: &CellWeights<T>, x_projected: &Var<T>, state: &LstmState<T>) -> LstmState<T> {
        (self.step)(w, x_projected, state)
    }
}

/// The library cell's parameters, under its names.
impl<T: Element> Module<T> for YourLstmCell<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        self.library.visit(visitor);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        self.library.visit_mut(visitor);
    }
}
