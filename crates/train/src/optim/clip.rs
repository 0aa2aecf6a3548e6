//! Gradient clipping: by global norm, or by value.

use std::fmt;

use autograd::Gradients;
use tensor::{Element, Tensor};

/// Why [`clip_grad_norm`] refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClipError {
    /// The limit is negative, zero or not a number.
    InvalidMaxNorm(f64),
    /// The gradients' norm is NaN or infinite: some gradient is.
    NonFiniteNorm(f64),
    /// The bound of [`clip_grad_value`] is negative, zero or not a number.
    InvalidClipValue(f64),
}

impl fmt::Display for ClipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClipError::InvalidMaxNorm(limit) => write!(
                f,
                "clip_grad_norm: the limit must be a positive number, got {limit}"
            ),
            ClipError::NonFiniteNorm(norm) => write!(
                f,
                "clip_grad_norm: the gradient norm is {norm}; some gradient is not finite"
            ),
            ClipError::InvalidClipValue(value) => write!(
                f,
                "clip_grad_value: the bound must be a positive number, got {value}"
            ),
        }
    }
}

impl std::error::Error for ClipError {}

/// The global L2 norm of every parameter gradient, `sqrt(Σ_i ‖g_i‖²)`,
/// summed in `f64` in a fixed order (so it is the same for any thread count).
pub fn global_norm<T: Element>(grads: &Gradients<T>) -> f64 {
    grads
        .param_ids()
        .into_iter()
        .filter_map(|id| grads.by_id(id))
        .map(tensor_sum_of_squares)
        .sum::<f64>()
        .sqrt()
}

/// [`sum_of_squares`] over a tensor's elements in row-major order.
pub(crate) fn tensor_sum_of_squares<T: Element>(g: &Tensor<T>) -> f64 {
    match g.as_slice() {
        Some(values) => sum_of_squares(values),
        None => sum_of_squares(&g.to_vec()),
    }
}

/// `Σ x²` in `f64`, in eight running sums (element `j` goes to sum `j mod
/// 8`, added up in order at the end): a fixed order, and one the compiler
/// can turn into vector code.
pub(crate) fn sum_of_squares<T: Element>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            let x = x.to_f64();
            *lane += x * x;
        }
    }
    for (lane, x) in lanes.iter_mut().zip(chunks.remainder()) {
        let x = x.to_f64();
        *lane += x * x;
    }
    lanes.iter().sum()
}

/// Rescales all parameter gradients together so their global L2 norm is at
/// most `max_norm` (PyTorch's `clip_grad_norm_`): if `‖g‖ > max_norm`, every
/// `g_i ← g_i * max_norm / (‖g‖ + 1e-6)`. Returns the norm before clipping.
///
/// PyTorch multiplies every gradient by `min(1, max_norm / (‖g‖ + 1e-6))`
/// on every call; the two agree everywhere except in the sliver where
/// `‖g‖ <= max_norm` but `‖g‖ + 1e-6 > max_norm`, which PyTorch scales by a
/// factor just under 1 and this leaves alone (a gradient under the limit is
/// never touched here, bit for bit).
///
/// # Errors
/// If `max_norm` is not a positive number, or the norm is not finite (the
/// gradients are left as they are, so the caller can report them).
pub fn clip_grad_norm<T: Element>(
    grads: &mut Gradients<T>,
    max_norm: f64,
) -> Result<f64, ClipError> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(ClipError::InvalidMaxNorm(max_norm));
    }
    let norm = global_norm(grads);
    if !norm.is_finite() {
        return Err(ClipError::NonFiniteNorm(norm));
    }
    if norm > max_norm {
        let scale = T::from_f64(max_norm / (norm + 1e-6));
        for id in grads.param_ids() {
            let g = grads.by_id_mut(id).expect("listed with a gradient");
            *g = g.scale(scale);
        }
    }
    Ok(norm)
}

/// Clamps every element of every parameter gradient to `[-clip_value,
/// clip_value]` (PyTorch's `clip_grad_value_`, Keras' `clipvalue`). Unlike
/// the norm clip, this changes the gradient's direction.
///
/// # Errors
/// If `clip_value` is not a positive number (the gradients are left as
/// they are).
pub fn clip_grad_value<T: Element>(
    grads: &mut Gradients<T>,
    clip_value: f64,
) -> Result<(), ClipError> {
    if !(clip_value > 0.0 && clip_value.is_finite()) {
        return Err(ClipError::InvalidClipValue(clip_value));
    }
    let (low, high) = (T::from_f64(-clip_value), T::from_f64(clip_value));
    for id in grads.param_ids() {
        let g = grads.by_id_mut(id).expect("listed with a gradient");
        // NaN stays NaN: a clamp must not hide a broken gradient.
        *g = g.map(|x| {
            if x < low {
                low
            } else if x > high {
                high
            } else {
                x
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::{Param, Tape};
    use tensor::Tensor;

    /// Gradients [3] and [4] have norm 5; clipping to 1 scales both by 1/5.
    #[test]
    fn clipping_scales_to_the_max_norm_and_rejects_bad_input() {
        let (a, b) = (
            Param::new(Tensor::<f64>::zeros(&[1])),
            Param::new(Tensor::<f64>::zeros(&[1])),
        );
        let tape = Tape::new();
        let loss = tape.param(&a).mul_scalar(3.0).sum() + tape.param(&b).mul_scalar(4.0).sum();
        let mut grads = tape.backward(&loss).unwrap();
        for bad in [-1.0, 0.0, f64::NAN, f64::INFINITY] {
            let error = clip_grad_norm(&mut grads, bad).unwrap_err();
            assert!(matches!(error, ClipError::InvalidMaxNorm(_)), "{bad}");
            assert!(error.to_string().contains("must be a positive number"));
        }
        let norm = clip_grad_norm(&mut grads, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-12);
        assert!((grads.param(&a).unwrap().item() - 0.6).abs() < 1e-6);
        assert!((grads.param(&b).unwrap().item() - 0.8).abs() < 1e-6);

        let tape = Tape::new();
        let mut grads = tape
            .backward(&tape.param(&a).mul_scalar(f64::NAN).sum())
            .unwrap();
        assert!(matches!(
            clip_grad_norm(&mut grads, 1.0),
            Err(ClipError::NonFiniteNorm(n)) if n.is_nan()
        ));
    }

    /// Gradients [3, -0.5] and [-4]: clipped to 1 by value, [1, -0.5] and [-1].
    #[test]
    fn clipping_by_value_clamps_each_element() {
        let (a, b) = (
            Param::new(Tensor::<f64>::zeros(&[2])),
            Param::new(Tensor::<f64>::zeros(&[1])),
        );
        let tape = Tape::new();
        let weights = tape.constant(Tensor::from_vec(vec![3.0, -0.5], &[2]));
        let loss = (tape.param(&a) * weights).sum() + tape.param(&b).mul_scalar(-4.0).sum();
        let mut grads = tape.backward(&loss).unwrap();
        for bad in [-1.0, 0.0, f64::NAN] {
            let error = clip_grad_value(&mut grads, bad).unwrap_err();
            assert!(
                error.to_string().contains("must be a positive number"),
                "{bad}"
            );
        }
        clip_grad_value(&mut grads, 1.0).unwrap();
        assert_eq!(grads.param(&a).unwrap().to_vec(), vec![1.0, -0.5]);
        assert_eq!(grads.param(&b).unwrap().to_vec(), vec![-1.0]);
    }
}
