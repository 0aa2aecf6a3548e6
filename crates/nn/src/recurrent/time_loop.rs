//! The time loop itself, and the masks that let padded steps keep the state.
//!
//! [`run_over_time`] is the one loop every cell, layer and direction
//! runs through; [`step_mask`] turns lengths or a `[B, T]` mask into what it
//! needs at each step.

use autograd::{Tape, Var};
use tensor::{Element, Tensor};

use crate::cell::{CellState, RecurrentCell};

/// The valid steps of a batch, prepared once per forward pass.
pub(crate) struct StepMask<T: Element> {
    /// Per step, `[B, 1]` (1 valid, 0 padded), or `None` if every sequence is valid there.
    pub(crate) steps: Vec<Option<Tensor<T>>>,
    /// `[T, B, 1]`, to zero the output at padded steps; `None` if nothing is padded.
    pub(crate) time_major: Option<Tensor<T>>,
}

/// The [`StepMask`] of a batch of `batch` sequences of `time` steps, from
/// `lengths` or a `mask` (at most one of them); `name` is the layer's, for panics.
pub(crate) fn step_mask<T: Element>(
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

/// What one direction of a layer gives: each step's `h` in time order, and
/// the final state's tensors (`h` first).
pub(crate) type DirectionOutput<T> = (Vec<Var<T>>, Vec<Var<T>>);

/// One direction of one layer, as the sequence layer prepared it: the
/// layer's input and what the time loop needs to run any cell over it.
pub(crate) struct Direction<'a, T: Element> {
    /// The tape the pass records on.
    pub(crate) tape: &'a Tape<T>,
    /// The layer's input, time-major `[T*B, E]` (input dropout applied).
    pub(crate) input: Var<T>,
    /// `T`.
    pub(crate) time: usize,
    /// The recurrent-dropout mask `[B, H]`, if any.
    pub(crate) recurrent_mask: Option<Tensor<T>>,
    /// Per step, the valid rows `[B, 1]`, or `None` if every row is valid.
    pub(crate) mask: &'a [Option<Tensor<T>>],
    /// The initial state's tensors, `h` first, each `[B, H]`.
    pub(crate) initial: Vec<Var<T>>,
    /// Whether time runs from the last step to the first.
    pub(crate) reverse: bool,
}

impl<T: Element> Direction<'_, T> {
    /// The plain run of `cell`: the input of all steps projected at once,
    /// then the cell stepped through time. Returns each step's `h` in time
    /// order and the final state's tensors.
    pub(crate) fn run<C: RecurrentCell<T>>(&self, cell: &C) -> DirectionOutput<T> {
        let mut w = cell.params().on_tape(self.tape);
        w.recurrent_mask = self.recurrent_mask.clone();
        let projected = self.steps_of(cell.project_input(&w, &self.input));
        let initial = C::State::from_parts(self.initial.clone());
        let (outputs, last) =
            self.time_loop(&projected, initial, |x, state| cell.step(&w, x, state));
        (outputs, last.parts())
    }

    /// A time-major `[T*B, F]` projection cut into its `T` steps of `[B, F]`
    /// (one `unbind`, whose backward adds each step's gradient into its slice).
    pub(crate) fn steps_of(&self, projected: Var<T>) -> Vec<Var<T>> {
        let rows = projected.dim(0) / self.time;
        projected
            .reshape(&[self.time, rows, projected.dim(1)])
            .unbind(0)
    }

    /// The one time loop, [`run_over_time`] with this direction's mask and
    /// sense of time.
    pub(crate) fn time_loop<S: CellState<T>>(
        &self,
        projected: &[Var<T>],
        state: S,
        step: impl Fn(&Var<T>, &S) -> S,
    ) -> (Vec<Var<T>>, S) {
        run_over_time(projected, state, self.mask, self.reverse, step)
    }
}

/// The time loop every cell, layer and direction runs through: `step` over
/// the projected inputs of each time step, from the first to the last (or
/// from the last to the first, `reverse`), the state of padded rows kept.
///
/// `valid[t]` is `[B, 1]` (1 for a row whose sequence has a step `t`, 0 for
/// padding), or `None` when every row is valid at `t`; a padded row keeps
/// its old state: `state = where(valid, step(x_t, state), state)`. Returns
/// each step's `h` in time order (a reverse run's too) and the final
/// state. Backpropagation through time is nothing more than the tape
/// recording this loop: the gradient of the state flows from step `t` back
/// to step `t - 1` through the ops `step` recorded.
///
/// # Panics
/// If `valid` does not have one entry per step.
pub fn run_over_time<T: Element, S: CellState<T>>(
    projected: &[Var<T>],
    mut state: S,
    valid: &[Option<Tensor<T>>],
    reverse: bool,
    step: impl Fn(&Var<T>, &S) -> S,
) -> (Vec<Var<T>>, S) {
    let time = projected.len();
    assert_eq!(
        valid.len(),
        time,
        "run_over_time: {} masks for {time} steps",
        valid.len()
    );
    let mut outputs: Vec<Option<Var<T>>> = vec![None; time];
    for i in 0..time {
        let t = if reverse { time - 1 - i } else { i };
        let next = step(&projected[t], &state);
        state = match &valid[t] {
            None => next,
            Some(valid) => S::from_parts(
                next.parts()
                    .iter()
                    .zip(state.parts())
                    .map(|(new, old)| Var::where_(valid, new, &old))
                    .collect(),
            ),
        };
        outputs[t] = Some(state.h().clone());
    }
    let outputs = outputs.into_iter().map(|h| h.expect("every step ran"));
    (outputs.collect(), state)
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
