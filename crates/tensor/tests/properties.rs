//! Property tests of the tensor crate: every view, broadcast and reduction
//! against naive index arithmetic on a plain row-major `Vec`.

use proptest::prelude::*;
use tensor::{Indices, Tensor};

/// Row-major position of `index` in a contiguous tensor of `shape`.
fn flat(shape: &[usize], index: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// Every index of `shape`, in row-major order.
fn all_indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for &n in shape {
        out = out
            .into_iter()
            .flat_map(|prefix| (0..n).map(move |i| [prefix.clone(), vec![i]].concat()))
            .collect();
    }
    out
}

/// A shape of 1 to 4 axes, each of size 1 to 5, and values for it.
fn tensor_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<f64>)> {
    prop::collection::vec(1usize..=5, 1..=4).prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        (Just(shape), prop::collection::vec(-10.0f64..10.0, n))
    })
}

/// A target shape and two shapes that broadcast to it (axes set to 1 or dropped on the left).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1usize..=4, 1..=4).prop_flat_map(|out| {
        let d = out.len();
        (
            Just(out),
            prop::collection::vec(any::<bool>(), d),
            prop::collection::vec(any::<bool>(), d),
            0..=d,
            0..=d,
        )
            .prop_map(|(out, ones_a, ones_b, drop_a, drop_b)| {
                let make = |ones: &[bool], drop: usize| -> Vec<usize> {
                    out.iter()
                        .zip(ones)
                        .skip(drop)
                        .map(|(&n, &one)| if one { 1 } else { n })
                        .collect()
                };
                let a = make(&ones_a, drop_a);
                let b = make(&ones_b, drop_b);
                // The expected result, by the rule: right-align, take the larger size per axis.
                let rank = a.len().max(b.len());
                let size_at = |s: &[usize], i: usize| {
                    if i + s.len() >= rank {
                        s[i + s.len() - rank]
                    } else {
                        1
                    }
                };
                let expected = (0..rank)
                    .map(|i| size_at(&a, i).max(size_at(&b, i)))
                    .collect();
                (expected, a, b)
            })
    })
}

/// The element of a contiguous tensor of `shape` that broadcasting reads for output index `index`.
fn broadcast_read(data: &[f64], shape: &[usize], index: &[usize]) -> f64 {
    let lead = index.len() - shape.len();
    let own: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(a, &n)| if n == 1 { 0 } else { index[lead + a] })
        .collect();
    data[flat(shape, &own)]
}

fn values(shape: &[usize], seed: u64) -> Vec<f64> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 100.0 - 5.0)
        .collect()
}

proptest! {
    #[test]
    fn permute_matches_naive_index_arithmetic((shape, data) in tensor_strategy(), seed in any::<u64>()) {
        let t = Tensor::from_vec(data.clone(), &shape);
        let mut order: Vec<usize> = (0..shape.len()).collect();
        // A seeded Fisher-Yates shuffle of the axes.
        let mut s = seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        let p = t.permute(&order);
        prop_assert!(p.shares_storage_with(&t));
        let out_values = p.to_vec();
        for (k, index) in all_indices(p.shape()).iter().enumerate() {
            let mut source = vec![0; shape.len()];
            for (i, &axis) in order.iter().enumerate() {
                source[axis] = index[i];
            }
            prop_assert_eq!(out_values[k], data[flat(&shape, &source)]);
            prop_assert_eq!(p.get(index), data[flat(&shape, &source)]);
        }
        // A copy of the view reads the same.
        prop_assert_eq!(p.contiguous().to_vec(), out_values);
    }

    #[test]
    fn narrow_and_select_match_naive_index_arithmetic(
        (shape, data) in tensor_strategy(), axis_pick in any::<usize>(), a in any::<usize>(), b in any::<usize>()
    ) {
        let t = Tensor::from_vec(data.clone(), &shape);
        let axis = axis_pick % shape.len();
        let start = a % shape[axis];
        let length = b % (shape[axis] - start + 1);
        let narrowed = t.narrow(axis, start, length);
        for (k, index) in all_indices(narrowed.shape()).iter().enumerate() {
            let mut source = index.clone();
            source[axis] += start;
            prop_assert_eq!(narrowed.to_vec()[k], data[flat(&shape, &source)]);
        }
        let selected = t.select(axis, start);
        for (k, index) in all_indices(selected.shape()).iter().enumerate() {
            let mut source = index.clone();
            source.insert(axis, start);
            prop_assert_eq!(selected.to_vec()[k], data[flat(&shape, &source)]);
        }
    }

    #[test]
    fn reshape_of_any_view_keeps_row_major_order((shape, data) in tensor_strategy()) {
        let t = Tensor::from_vec(data, &shape).t_or_self();
        let n = t.numel();
        prop_assert_eq!(t.reshape(&[n]).to_vec(), t.to_vec());
        prop_assert_eq!(t.reshape(&[1, n]).reshape(t.shape()).to_vec(), t.to_vec());
    }

    #[test]
    fn binary_ops_broadcast_like_numpy((out, shape_a, shape_b) in broadcast_pair(), seed in any::<u64>()) {
        let (da, db) = (values(&shape_a, seed), values(&shape_b, seed ^ 7));
        let a = Tensor::from_vec(da.clone(), &shape_a);
        let b = Tensor::from_vec(db.clone(), &shape_b);
        let sum = &a + &b;
        let product = a.mul(&b);
        let larger = a.maximum(&b);
        prop_assert_eq!(sum.shape(), out.as_slice());
        for (k, index) in all_indices(&out).iter().enumerate() {
            let (x, y) = (broadcast_read(&da, &shape_a, index), broadcast_read(&db, &shape_b, index));
            prop_assert_eq!(sum.to_vec()[k], x + y);
            prop_assert_eq!(product.to_vec()[k], x * y);
            prop_assert_eq!(larger.to_vec()[k], x.max(y));
        }
        // sum_to is the adjoint of broadcasting: <broadcast(a), g> = <a, sum_to(g)>.
        let g = Tensor::from_vec(values(&out, seed ^ 3), &out);
        let left = a.broadcast_to(&out).mul(&g).sum().item();
        let right = a.mul(&g.sum_to(&shape_a)).sum().item();
        prop_assert!((left - right).abs() < 1e-9 * (1.0 + left.abs()));
    }

    #[test]
    fn elementwise_ops_on_views_equal_ops_on_copies((shape, data) in tensor_strategy()) {
        let t = Tensor::from_vec(data, &shape).t_or_self();
        let copy = t.contiguous();
        prop_assert_eq!(t.tanh().to_vec(), copy.tanh().to_vec());
        prop_assert_eq!((&t * &t).to_vec(), (&copy * &copy).to_vec());
        prop_assert_eq!((&t - &copy).to_vec(), vec![0.0; t.numel()]);
        prop_assert_eq!(t.clamp(-1.0, 2.0).to_vec(), copy.to_vec().iter().map(|x| x.clamp(-1.0, 2.0)).collect::<Vec<_>>());
    }

    #[test]
    fn reductions_match_naive_loops((shape, data) in tensor_strategy(), axis_pick in any::<usize>()) {
        let t = Tensor::from_vec(data.clone(), &shape);
        let axis = axis_pick % shape.len();
        let sums = t.sum_axis(axis, false);
        let maxes = t.max_axis(axis, true);
        let argmax = t.argmax_axis(axis);
        let mut reduced_shape = shape.clone();
        reduced_shape.remove(axis);
        for (k, index) in all_indices(&reduced_shape).iter().enumerate() {
            let row: Vec<f64> = (0..shape[axis]).map(|i| {
                let mut full = index.clone();
                full.insert(axis, i);
                data[flat(&shape, &full)]
            }).collect();
            let naive_sum: f64 = row.iter().sum();
            prop_assert!((sums.to_vec()[k] - naive_sum).abs() < 1e-9);
            let naive_max = row.iter().cloned().fold(f64::MIN, f64::max);
            prop_assert_eq!(maxes.to_vec()[k], naive_max);
            prop_assert_eq!(row[argmax.values()[k]], naive_max);
        }
        prop_assert!((t.sum().item() - data.iter().sum::<f64>()).abs() < 1e-9);
        // Softmax along the axis: positive, rows sum to one, and log_softmax = ln(softmax).
        let soft = t.softmax(axis);
        prop_assert!(soft.sum_axis(axis, false).to_vec().iter().all(|s| (s - 1.0).abs() < 1e-12));
        prop_assert!(t.log_softmax(axis).all_close(&soft.ln(), 1e-12));
    }

    #[test]
    fn index_select_and_index_add_are_adjoint((shape, data) in tensor_strategy(), ids in prop::collection::vec(0usize..100, 1..6)) {
        let t = Tensor::from_vec(data, &shape);
        let ids: Vec<usize> = ids.iter().map(|i| i % shape[0]).collect();
        let picked = t.index_select(0, &ids);
        for (j, &i) in ids.iter().enumerate() {
            prop_assert_eq!(picked.select(0, j).to_vec(), t.select(0, i).to_vec());
        }
        // <index_select(t), g> = <t, index_add(0, g)>.
        let g = Tensor::from_vec(values(picked.shape(), 11), picked.shape());
        let left = picked.mul(&g).sum().item();
        let right = t.mul(&Tensor::zeros(&shape).index_add(0, &ids, &g)).sum().item();
        prop_assert!((left - right).abs() < 1e-9 * (1.0 + left.abs()));
    }

    #[test]
    fn gather_and_scatter_add_are_adjoint((shape, data) in tensor_strategy(), axis_pick in any::<usize>(), seed in any::<u64>()) {
        let t = Tensor::from_vec(data, &shape);
        let axis = axis_pick % shape.len();
        let index_values: Vec<usize> = (0..t.numel()).map(|i| ((i as u64).wrapping_mul(seed | 1) >> 3) as usize % shape[axis]).collect();
        let index = Indices::new(index_values, &shape);
        let gathered = t.gather(axis, &index);
        let g = Tensor::from_vec(values(&shape, seed), &shape);
        let left = gathered.mul(&g).sum().item();
        let right = t.mul(&Tensor::zeros(&shape).scatter_add(axis, &index, &g)).sum().item();
        prop_assert!((left - right).abs() < 1e-9 * (1.0 + left.abs()));
    }

    #[test]
    fn concat_then_split_is_the_identity((shape, data) in tensor_strategy(), axis_pick in any::<usize>()) {
        let t = Tensor::from_vec(data, &shape);
        let axis = axis_pick % shape.len();
        let n = shape[axis];
        let pieces = t.split(&[n / 2, n - n / 2], axis);
        prop_assert_eq!(Tensor::concat(&pieces, axis), t.clone());
        let rows = t.unbind(axis);
        prop_assert_eq!(Tensor::stack(&rows, axis), t);
    }

    #[test]
    fn narrow_add_assign_is_the_adjoint_of_narrow((shape, data) in tensor_strategy(), axis_pick in any::<usize>()) {
        let t = Tensor::from_vec(data, &shape);
        let axis = axis_pick % shape.len();
        let start = shape[axis] / 2;
        let piece = t.narrow(axis, start, shape[axis] - start);
        let g = Tensor::from_vec(values(piece.shape(), 5), piece.shape());
        let mut spread = Tensor::zeros(&shape);
        spread.narrow_add_assign(axis, start, &g);
        let left = piece.mul(&g).sum().item();
        let right = t.mul(&spread).sum().item();
        prop_assert!((left - right).abs() < 1e-9 * (1.0 + left.abs()));
    }
}

/// Transposes the last two axes when there are two or more (to make a non-contiguous view).
trait TransposeIfPossible {
    fn t_or_self(self) -> Self;
}

impl TransposeIfPossible for Tensor<f64> {
    fn t_or_self(self) -> Self {
        if self.ndim() >= 2 {
            self.t()
        } else {
            self
        }
    }
}

proptest! {
    /// A NaN is never passed over, as in PyTorch and NumPy: `max`, `min`,
    /// `max_axis` and `min_axis` are NaN wherever the reduced elements hold
    /// one, `argmax_axis` points at the first NaN, `relu` keeps it; without
    /// NaN they are the naive loops' (infinities included).
    #[test]
    fn extrema_argmax_and_relu_propagate_nan(
        (shape, mut data) in tensor_strategy(),
        nan_at in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        infinite: bool,
    ) {
        if infinite {
            data[0] = f64::NEG_INFINITY;
        }
        for at in &nan_at {
            let i = at.index(data.len());
            data[i] = f64::NAN;
        }
        let t = Tensor::from_vec(data.clone(), &shape);
        let any_nan = data.iter().any(|x| x.is_nan());
        let naive_max = data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let naive_min = data.iter().copied().fold(f64::INFINITY, f64::min);
        for (got, naive) in [(t.max().item(), naive_max), (t.min().item(), naive_min)] {
            let right = if any_nan { got.is_nan() } else { got == naive };
            prop_assert!(right, "{got} vs {naive}");
        }
        let last = shape.len() - 1;
        let (rows, len) = (data.len() / shape[last], shape[last]);
        let max_rows = t.max_axis(last, false).to_vec();
        let argmax = t.argmax_axis(last);
        for r in 0..rows {
            let row = &data[r * len..(r + 1) * len];
            let first_nan = row.iter().position(|x| x.is_nan());
            match first_nan {
                Some(i) => {
                    prop_assert!(max_rows[r].is_nan());
                    prop_assert_eq!(argmax.values()[r], i);
                }
                None => {
                    let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    prop_assert_eq!(max_rows[r], best);
                    prop_assert_eq!(row[argmax.values()[r]], best);
                }
            }
        }
        for (y, x) in t.relu().to_vec().iter().zip(&data) {
            let kept = if x.is_nan() { y.is_nan() } else { *y == x.max(0.0) };
            prop_assert!(kept, "relu({x}) = {y}");
        }
    }
}
