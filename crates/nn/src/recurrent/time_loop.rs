//! The time loop itself, and the masks that let padded steps keep the state.
//!
//! [`run_direction`] is the one loop every cell, layer and direction runs
//! through; [`step_mask`] turns lengths or a `[B, T]` mask into what it needs
//! at each step.

use autograd::Var;
use tensor::{Element, Tensor};

use crate::cell::{CellWeights, RecurrentCell};

/// The valid steps of a batch, prepared once per forward pass.
pub(super) struct StepMask<T: Element> {
    /// Per step, `[B, 1]` (1 valid, 0 padded), or `None` if every sequence is valid there.
    pub(super) steps: Vec<Option<Tensor<T>>>,
    /// `[T, B, 1]`, to zero the output at padded steps; `None` if nothing is padded.
    pub(super) time_major: Option<Tensor<T>>,
}

/// The [`StepMask`] of a batch of `batch` sequences of `time` steps, from
/// `lengths` or a `mask` (at most one of them); `name` is the layer's, for panics.
pub(super) fn step_mask<T: Element>(
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
pub(super) fn run_direction<T: Element, C: RecurrentCell<T>>(
    cell: &C,
    w: &CellWeights<T>,
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
