//! Adding gradients row by row, where they are sparse.
//!
//! When a batch is cut into shards, each shard's pass gives its own
//! [`Gradients`], and the loop adds them up. A `[20_002, 128]` embedding
//! table's gradient is 10 MB, yet a shard of 16 reviews of 200 tokens
//! touches at most 3,200 of its rows: every other row is exactly zero
//! ([`Gradients::rows_touched`]). [`Gradients::add_params_by_rows`] adds
//! only those rows, and gives the same numbers as
//! [`Gradients::add_params`], bit for bit: the rows it skips would have
//! added `+0.0`, which changes nothing (a sum that starts at `+0.0` is never
//! `-0.0`, the one value `+0.0` would change).

use tensor::Element;

use crate::gradients::Gradients;

impl<T: Element> Gradients<T> {
    /// [`Gradients::add_params`], adding only the rows of `other`'s
    /// gradients that it [touched](Gradients::rows_touched) where these
    /// gradients know theirs too; every other parameter is added whole.
    /// The same numbers, bit for bit.
    ///
    /// # Panics
    /// If a parameter's two gradients differ in shape.
    pub fn add_params_by_rows(&mut self, other: &Gradients<T>) {
        for id in other.param_ids() {
            let grad = other.by_id(id).expect("listed with a gradient");
            let added_rows = other.rows_touched_by_id(id);
            let rows_known = self.rows_touched_by_id(id).is_some();
            let node = self.add_param_with(id, grad, |total| match added_rows {
                Some(rows) if rows_known => add_rows(total.data_mut(), grad, rows),
                _ => *total += grad,
            });
            self.merge_rows_touched(node, added_rows);
        }
    }
}

/// `total[r] += grad[r]` for the rows `rows` of two tensors of one shape.
fn add_rows<T: Element>(total: &mut [T], grad: &tensor::Tensor<T>, rows: &[usize]) {
    assert_eq!(
        total.len(),
        grad.numel(),
        "add_params_by_rows: a gradient of {:?} added into one of {} elements",
        grad.shape(),
        total.len()
    );
    let grad = grad.contiguous();
    let values = grad.as_slice().expect("contiguous");
    let width = values.len() / grad.shape()[0].max(1);
    for &row in rows {
        let span = row * width..(row + 1) * width;
        for (t, &g) in total[span.clone()].iter_mut().zip(&values[span]) {
            *t += g;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Param, Tape};
    use tensor::Tensor;

    /// Shards of lookups into one table, a dense parameter beside it: added
    /// by rows or whole, the same bits, and the sum's rows are the union.
    #[test]
    fn adding_by_rows_equals_adding_whole() {
        let table = Param::new(Tensor::<f32>::from_vec(
            (0..40).map(|i| (i as f32 * 0.37).sin()).collect(),
            &[10, 4],
        ));
        let scale = Param::new(Tensor::<f32>::from_vec(vec![0.5, -1.5, 2.0, 0.25], &[4]));
        let pass = |ids: &[usize]| {
            let tape = Tape::new();
            let rows = tape.param(&table).index_select(0, ids);
            let loss = (rows * tape.param(&scale)).tanh().sum();
            tape.backward(&loss).unwrap()
        };
        let shards = [pass(&[3, 1, 3, 7]), pass(&[0, 7, 7]), pass(&[9, 2, 1])];
        let [first, rest @ ..] = &shards;
        let (mut whole, mut by_rows) = (pass(&[3, 1, 3, 7]), pass(&[3, 1, 3, 7]));
        assert_eq!(first.rows_touched(&table), Some(&[1, 3, 7][..]));
        assert_eq!(first.rows_touched(&scale), None);
        for shard in rest {
            whole.add_params(shard);
            by_rows.add_params_by_rows(shard);
        }
        for param in [&table, &scale] {
            let bits = |g: &crate::Gradients<f32>| -> Vec<u32> {
                g.param(param)
                    .unwrap()
                    .to_vec()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect()
            };
            assert_eq!(bits(&whole), bits(&by_rows));
        }
        assert_eq!(by_rows.rows_touched(&table), Some(&[0, 1, 2, 3, 7, 9][..]));
        assert_eq!(whole.rows_touched(&table), Some(&[0, 1, 2, 3, 7, 9][..]));
        let untouched = [4, 5, 6, 8];
        let grad = by_rows.param(&table).unwrap();
        for row in untouched {
            assert!(grad
                .index_select(0, &[row])
                .to_vec()
                .iter()
                .all(|&x| x == 0.0));
        }
    }
}
