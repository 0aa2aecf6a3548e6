//! The global-norm clip, reading only the rows a sparse gradient touched.
//!
//! After the shards' gradients are added, the loop takes their global norm
//! and, above the limit, scales them all ([`clip_grad_norm`]). An embedding
//! table's gradient is zero outside the rows the batch read
//! ([`Gradients::rows_touched`]), and a zero adds nothing to a sum of
//! squares and stays zero when scaled. [`clip_grad_norm_by_rows`] and
//! [`global_norm_by_rows`] skip those rows, and give the plain functions'
//! numbers bit for bit: each square goes to the same one of the eight
//! running sums as [`global_norm`]'s (by its position in the tensor), in
//! the same order, and the sums skip only `+ 0.0`.

use autograd::{Gradients, ParamId};
use tensor::Element;

use crate::optim::tensor_sum_of_squares;
use crate::optim::ClipError;
#[cfg(doc)]
use crate::optim::{clip_grad_norm, global_norm};

/// [`global_norm`], reading only the touched rows of the gradients that
/// know theirs. The same number, bit for bit.
pub fn global_norm_by_rows<T: Element>(grads: &Gradients<T>) -> f64 {
    grads
        .param_ids()
        .into_iter()
        .map(|id| squares_of(grads, id))
        .sum::<f64>()
        .sqrt()
}

/// `Σ x²` over parameter `id`'s gradient, as the plain norm adds it.
fn squares_of<T: Element>(grads: &Gradients<T>, id: ParamId) -> f64 {
    let grad = grads.by_id(id).expect("listed with a gradient");
    let (Some(rows), Some(values)) = (grads.rows_touched_by_id(id), grad.as_slice()) else {
        return tensor_sum_of_squares(grad);
    };
    let width = values.len() / grad.shape()[0].max(1);
    let mut lanes = [0.0f64; 8];
    for &row in rows {
        let first = row * width;
        for (index, x) in (first..).zip(&values[first..first + width]) {
            let x = x.to_f64();
            lanes[index % 8] += x * x;
        }
    }
    lanes.iter().sum()
}

/// [`clip_grad_norm`], reading and scaling only the touched rows of the
/// gradients that know theirs. The same numbers, bit for bit.
///
/// # Errors
/// As [`clip_grad_norm`].
pub fn clip_grad_norm_by_rows<T: Element>(
    grads: &mut Gradients<T>,
    max_norm: f64,
) -> Result<f64, ClipError> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(ClipError::InvalidMaxNorm(max_norm));
    }
    let norm = global_norm_by_rows(grads);
    if !norm.is_finite() {
        return Err(ClipError::NonFiniteNorm(norm));
    }
    if norm > max_norm {
        let scale = T::from_f64(max_norm / (norm + 1e-6));
        for id in grads.param_ids() {
            let rows = grads.rows_touched_by_id(id).map(<[usize]>::to_vec);
            let grad = grads.by_id_mut(id).expect("listed with a gradient");
            match rows {
                Some(rows) if grad.is_contiguous() => {
                    let width = grad.numel() / grad.shape()[0].max(1);
                    let values = grad.data_mut();
                    for row in rows {
                        for x in &mut values[row * width..(row + 1) * width] {
                            *x *= scale;
                        }
                    }
                }
                _ => *grad = grad.scale(scale),
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::text::CharBatch;
    use crate::fast::Shards;
    use crate::models::{CharRnn, CharRnnConfig};
    use crate::optim::{clip_grad_norm, global_norm};
    use crate::tasks::char_step;
    use crate::trainer::BatchRunner;
    use nn::Module;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use tensor::Indices;

    /// A step's summed gradients, with the embedding's rows known: a table
    /// of 3 columns, so the eight running sums cut across its rows.
    fn summed_gradients(model: &CharRnn) -> Gradients<f32> {
        let rng = &mut StdRng::seed_from_u64(4);
        let mut ids = || Indices::new((0..8 * 5).map(|_| rng.gen_range(0..50)).collect(), &[8, 5]);
        let batch = CharBatch {
            inputs: ids(),
            targets: ids(),
        };
        let mut tapes = Shards::new(Some(3))
            .train(model, &char_step, &batch, 7)
            .into_iter()
            .map(|t| t.unwrap().grads.unwrap());
        let mut total = tapes.next().unwrap();
        for grads in tapes {
            total.add_params_by_rows(&grads);
        }
        total
    }

    fn bits(grads: &Gradients<f32>, model: &CharRnn) -> Vec<Vec<u32>> {
        model
            .named_params()
            .into_iter()
            .map(|(_, p)| {
                grads
                    .param(p)
                    .unwrap()
                    .to_vec()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect()
            })
            .collect()
    }

    /// Gradients of wide-ranging magnitudes, whose sum of squares rounds
    /// differently in another grouping: the norm by rows is still the
    /// plain one, bit for bit.
    #[test]
    fn the_norm_by_rows_adds_each_square_where_the_plain_norm_does() {
        use autograd::{Param, Tape};
        use tensor::Tensor;
        let rng = &mut StdRng::seed_from_u64(9);
        let table = Param::new(Tensor::<f32>::zeros(&[1000, 3]));
        let ids: Vec<usize> = (0..2000).map(|_| rng.gen_range(0..1000)).collect();
        // Thousands of squares of 48 significant bits: their running sums
        // round, differently in each grouping.
        let weights: Vec<f32> = (0..2000 * 3)
            .map(|_| rng.gen_range(0.5f32..1.0) * 2f32.powi(rng.gen_range(-2..2)))
            .collect();
        let tape = Tape::new();
        let rows = tape.param(&table).index_select(0, &ids);
        let loss = (rows * tape.constant(Tensor::from_vec(weights, &[2000, 3]))).sum();
        let grads = tape.backward(&loss).unwrap();
        assert!(grads.rows_touched(&table).is_some());
        assert_eq!(
            global_norm(&grads).to_bits(),
            global_norm_by_rows(&grads).to_bits()
        );
    }

    /// The norm, and the clip below and above the limit: the plain
    /// functions' numbers, bit for bit.
    #[test]
    fn the_clip_by_rows_equals_the_plain_clip() {
        let config = CharRnnConfig {
            embedding_dim: 3,
            hidden_size: 4,
            num_layers: 1,
            stateful: false,
            ..CharRnnConfig::new(50)
        };
        let model = CharRnn::<f32>::new(config, &mut StdRng::seed_from_u64(0));
        let grads = summed_gradients(&model);
        let touched = grads.rows_touched(model.embedding.weight()).unwrap().len();
        assert!(touched < 50, "some rows untouched: {touched}");
        let norm = global_norm(&grads);
        assert_eq!(norm.to_bits(), global_norm_by_rows(&grads).to_bits());
        for limit in [norm * 2.0, norm / 3.0] {
            let (mut plain, mut by_rows) = (summed_gradients(&model), summed_gradients(&model));
            let a = clip_grad_norm(&mut plain, limit).unwrap();
            let b = clip_grad_norm_by_rows(&mut by_rows, limit).unwrap();
            assert_eq!(a.to_bits(), b.to_bits());
            assert_eq!(
                bits(&plain, &model),
                bits(&by_rows, &model),
                "limit {limit}"
            );
        }
        let mut grads = summed_gradients(&model);
        assert_eq!(
            clip_grad_norm_by_rows(&mut grads, 0.0),
            Err(ClipError::InvalidMaxNorm(0.0))
        );
    }
}
