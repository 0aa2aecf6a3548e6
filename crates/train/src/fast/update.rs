//! A large parameter's optimizer update, in pieces on every core.
//!
//! Every rule of [`optim`](crate::optim) is elementwise: element `j` of a
//! parameter is updated from element `j` of its gradient and of each of the
//! rule's buffers. So a parameter can be cut into pieces of
//! [`UPDATE_CHUNK`] elements and each piece updated on its own thread: the
//! same arithmetic on the same elements, so the numbers are those of one
//! call on the whole parameter, for any number of threads. An embedding
//! of 20,000 x 128 is 40 such pieces.

use std::sync::Mutex;

use tensor::Element;

use crate::optim::{Optimizer, ParamState};

/// Elements per piece when a large parameter's update is spread over threads.
pub const UPDATE_CHUNK: usize = 1 << 15;

/// A piece of one parameter's update: its values, its gradient, and the
/// matching part of each buffer of the rule.
type UpdatePiece<'a, T> = (&'a mut [T], &'a [T], Vec<&'a mut [T]>);

/// `rule.update` on `theta` from `grad` with `state`'s buffers, in pieces
/// of [`UPDATE_CHUNK`] elements on the crate's threads (in one call when
/// the parameter has fewer than two pieces).
pub fn update_in_pieces<T: Element, O: Optimizer<T> + ?Sized>(
    rule: &O,
    theta: &mut [T],
    grad: &[T],
    state: &mut ParamState<T>,
) {
    let step = state.step;
    if theta.len() < 2 * UPDATE_CHUNK {
        let mut buffers: Vec<&mut [T]> = state.buffers.iter_mut().map(Vec::as_mut_slice).collect();
        rule.update(step, theta, grad, &mut buffers);
        return;
    }
    let mut buffers: Vec<std::slice::ChunksMut<'_, T>> = state
        .buffers
        .iter_mut()
        .map(|b| b.chunks_mut(UPDATE_CHUNK))
        .collect();
    let pieces: Vec<Mutex<UpdatePiece<'_, T>>> = theta
        .chunks_mut(UPDATE_CHUNK)
        .zip(grad.chunks(UPDATE_CHUNK))
        .map(|(t, g)| {
            let b = buffers
                .iter_mut()
                .map(|c| c.next().expect("same length"))
                .collect();
            Mutex::new((t, g, b))
        })
        .collect();
    tensor::parallel_map(pieces.len(), |i| {
        let mut piece = pieces[i].lock().unwrap_or_else(|e| e.into_inner());
        let (theta, grad, buffers) = &mut *piece;
        rule.update(step, theta, grad, buffers);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Adam;

    /// In pieces on several threads or in one call, the same numbers.
    #[test]
    fn an_update_in_pieces_equals_one_update() {
        let n = 5 * UPDATE_CHUNK + 7;
        let theta: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let grad: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let adam = Adam::<f32>::new(1e-2);
        let fresh = || ParamState {
            step: 3,
            shape: vec![n],
            buffers: vec![vec![0.1; n], vec![0.2; n]],
        };
        let (mut pieces, mut whole) = (theta.clone(), theta);
        let (mut state, mut whole_state) = (fresh(), fresh());
        update_in_pieces(&adam, &mut pieces, &grad, &mut state);
        let mut buffers: Vec<&mut [f32]> = whole_state
            .buffers
            .iter_mut()
            .map(Vec::as_mut_slice)
            .collect();
        adam.update(3, &mut whole, &grad, &mut buffers);
        assert_eq!(pieces, whole);
        assert_eq!(state, whole_state);
    }
}
