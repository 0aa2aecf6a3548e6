//! Property tests of the GEMM and of `Tensor::matmul`.
//!
//! The reference is the textbook triple loop, computed in `f64`, together with
//! a bound on the rounding error a correct `k`-term dot product may have:
//! `|error| <= tolerance(k) * (|alpha| * sum_p |a_ip| |b_pj| + |beta| |c_ij|)`
//! where `tolerance(k)` grows with `k` (each of the `k` additions may round).
//! Every kernel the machine can run is forced in turn, for `f32` and `f64`.

use proptest::prelude::*;
use tensor::fast::matmul::{gemm_with, GemmConfig, Kernel, MatMut, MatRef};
use tensor::{Element, Tensor};

/// A tiny deterministic generator (SplitMix64), so a proptest seed fixes the data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// How a matrix operand is laid out in its buffer.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Row-major, no gaps.
    RowMajor,
    /// Column-major (a transposed row-major matrix).
    ColMajor,
    /// A block cut out of a larger row-major buffer: offset and a longer row stride.
    Sliced,
    /// Both strides larger than 1 (every other column of a wider buffer).
    Strided,
    /// One row repeated with row stride 0 (a broadcast batch row); inputs only.
    BroadcastRows,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::RowMajor),
        Just(Layout::ColMajor),
        Just(Layout::Sliced),
        Just(Layout::Strided),
        Just(Layout::BroadcastRows),
    ]
}

fn out_layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::RowMajor),
        Just(Layout::ColMajor),
        Just(Layout::Sliced),
        Just(Layout::Strided)
    ]
}

/// A matrix stored somewhere inside `data` as (offset, row stride, col stride).
#[derive(Clone, Debug)]
struct Stored<T> {
    data: Vec<T>,
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<T: Element> Stored<T> {
    /// Random entries in [-1, 1); unused slots of the buffer hold `filler`.
    fn random(rows: usize, cols: usize, layout: Layout, filler: T, rng: &mut Rng) -> Self {
        let (offset, rs, cs, len) = match layout {
            Layout::RowMajor => (0, cols, 1, rows * cols),
            Layout::ColMajor => (0, 1, rows, rows * cols),
            Layout::Sliced => (3, cols + 5, 1, 3 + rows * (cols + 5)),
            Layout::Strided => (1, 2 * cols + 1, 2, 1 + rows * (2 * cols + 1)),
            Layout::BroadcastRows => (2, 0, 1, 2 + cols),
        };
        let mut data = vec![filler; len.max(1)];
        for i in 0..rows {
            for j in 0..cols {
                data[offset + i * rs + j * cs] = T::from_f64(rng.uniform());
            }
        }
        Stored {
            data,
            offset,
            rows,
            cols,
            rs,
            cs,
        }
    }

    fn get(&self, i: usize, j: usize) -> T {
        self.data[self.offset + i * self.rs + j * self.cs]
    }

    fn mat(&self) -> MatRef<'_, T> {
        MatRef::new(
            &self.data,
            self.offset,
            self.rows,
            self.cols,
            self.rs,
            self.cs,
        )
    }

    fn mat_mut(&mut self) -> MatMut<'_, T> {
        MatMut::new(
            &mut self.data,
            self.offset,
            self.rows,
            self.cols,
            self.rs,
            self.cs,
        )
    }
}

/// Relative precision of the element type.
fn epsilon<T: Element>() -> f64 {
    if T::BYTES == 4 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    }
}

/// Checks `c_after = alpha a b + beta c_before` against the triple loop, with
/// an error bound that scales with `k` and with the magnitudes involved.
/// Returns a description of the worst violation, if any.
fn check_against_naive<T: Element>(
    alpha: f64,
    a: &Stored<T>,
    b: &Stored<T>,
    beta: f64,
    c_before: &Stored<T>,
    c_after: &Stored<T>,
) -> Result<(), String> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let tolerance = 2.0 * (k as f64 + 3.0) * epsilon::<T>();
    for i in 0..m {
        for j in 0..n {
            let (mut sum, mut magnitude) = (0.0f64, 0.0f64);
            for p in 0..k {
                let product = a.get(i, p).to_f64() * b.get(p, j).to_f64();
                sum += product;
                magnitude += product.abs();
            }
            let old = c_before.get(i, j).to_f64();
            let (expected, scale) = if beta == 0.0 {
                (alpha * sum, alpha.abs() * magnitude)
            } else {
                (
                    alpha * sum + beta * old,
                    alpha.abs() * magnitude + beta.abs() * old.abs(),
                )
            };
            let got = c_after.get(i, j).to_f64();
            let allowed = tolerance * scale + f64::MIN_POSITIVE;
            // Written so that a NaN result fails too.
            let within = (got - expected).abs() <= allowed;
            if !within {
                return Err(format!(
                    "C[{i}, {j}] = {got}, expected {expected} (allowed error {allowed:e})"
                ));
            }
        }
    }
    // Nothing outside C moved (padding of a sliced or strided C).
    let mut inside = vec![false; c_after.data.len()];
    for i in 0..m {
        for j in 0..n {
            inside[c_after.offset + i * c_after.rs + j * c_after.cs] = true;
        }
    }
    for (idx, (before, after)) in c_before.data.iter().zip(&c_after.data).enumerate() {
        if !inside[idx] && before.to_f64().to_bits() != after.to_f64().to_bits() {
            return Err(format!(
                "element {idx} of C's buffer outside the matrix was overwritten"
            ));
        }
    }
    Ok(())
}

fn config(kernel: Kernel, threads: usize) -> GemmConfig {
    GemmConfig {
        kernel: Some(kernel),
        threads,
    }
}

/// Sizes that hit the interesting cases: 1, tiny, odd and prime, around tile
/// sizes (4, 6, 8, 12, 16, 32), and a few hundred (more than one block of A).
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1usize..=9,
        3 => prop::sample::select(vec![11usize, 13, 15, 16, 17, 23, 31, 32, 33, 47, 48, 49, 97]),
        1 => 100usize..=300,
    ]
}

/// Runs one random GEMM on every available kernel and checks each against the reference.
#[allow(clippy::too_many_arguments)]
fn run_case<T: Element>(
    (m, k, n): (usize, usize, usize),
    layouts: (Layout, Layout, Layout),
    alpha: f64,
    beta: f64,
    threads: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed);
    let a = Stored::<T>::random(m, k, layouts.0, T::from_f64(f64::NAN), &mut rng);
    let b = Stored::<T>::random(k, n, layouts.1, T::from_f64(f64::NAN), &mut rng);
    let c0 = Stored::<T>::random(m, n, layouts.2, T::from_f64(7.0), &mut rng);
    for kernel in Kernel::available() {
        let mut c = c0.clone();
        gemm_with(
            &config(kernel, threads),
            T::from_f64(alpha),
            a.mat(),
            b.mat(),
            T::from_f64(beta),
            c.mat_mut(),
        );
        check_against_naive(alpha, &a, &b, beta, &c0, &c).map_err(|e| {
            TestCaseError::fail(format!(
                "{kernel:?} {} m={m} k={k} n={n} {layouts:?}: {e}",
                T::NAME
            ))
        })?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Every kernel, in f32 and f64, agrees with the triple loop for any shape
    /// and any operand layout (transposed, sliced, strided, broadcast rows).
    #[test]
    fn gemm_matches_naive_for_any_shape_and_strides(
        m in dim(), k in dim(), n in dim(),
        layouts in (layout(), layout(), out_layout()),
        alpha in prop_oneof![Just(1.0), Just(-0.5), Just(2.0)],
        beta in prop_oneof![Just(0.0), Just(1.0), Just(-1.5)],
        threads in 1usize..=3,
        seed in any::<u64>(),
    ) {
        run_case::<f32>((m, k, n), layouts, alpha, beta, threads, seed)?;
        run_case::<f64>((m, k, n), layouts, alpha, beta, threads, seed)?;
    }

    /// `Tensor::matmul` on batched, broadcast and transposed operands equals
    /// the per-batch-entry triple loop.
    #[test]
    fn batched_matmul_matches_naive_per_batch_entry(
        m in 1usize..20, k in 1usize..20, n in 1usize..20,
        batch_a in prop::sample::select(vec![vec![], vec![1], vec![3], vec![2, 1], vec![2, 3]]),
        batch_b in prop::sample::select(vec![vec![], vec![1], vec![3], vec![1, 3]]),
        transpose_a: bool, transpose_b: bool,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let make = |batch: &[usize], rows: usize, cols: usize, transposed: bool, rng: &mut Rng| {
            let mut shape = batch.to_vec();
            if transposed { shape.extend([cols, rows]); } else { shape.extend([rows, cols]); }
            let numel = shape.iter().product();
            let t = Tensor::<f64>::from_vec((0..numel).map(|_| rng.uniform()).collect(), &shape);
            if transposed { t.t() } else { t }
        };
        let a = make(&batch_a, m, k, transpose_a, &mut rng);
        let b = make(&batch_b, k, n, transpose_b, &mut rng);
        let Some(batch) = tensor::shape::broadcast_shapes(&batch_a, &batch_b) else {
            return Ok(());
        };
        let mut out_shape = batch.to_vec();
        out_shape.extend([m, n]);
        let a_full = a.broadcast_to(&[&batch[..], &[m, k]].concat());
        let b_full = b.broadcast_to(&[&batch[..], &[k, n]].concat());
        let expected = Tensor::<f64>::from_fn(&out_shape, |idx| {
            let (bi, (i, j)) = (&idx[..idx.len() - 2], (idx[idx.len() - 2], idx[idx.len() - 1]));
            (0..k).map(|p| {
                let ai: Vec<usize> = bi.iter().copied().chain([i, p]).collect();
                let bj: Vec<usize> = bi.iter().copied().chain([p, j]).collect();
                a_full.get(&ai) * b_full.get(&bj)
            }).sum()
        });
        for kernel in Kernel::available() {
            let got = a.matmul_with(&b, &config(kernel, 2));
            prop_assert_eq!(got.shape(), expected.shape());
            prop_assert!(got.all_close(&expected, 1e-12), "{:?}: {:?} vs {:?}", kernel, got, expected);
        }
    }
}

/// Builds a random `[rows, cols]` f64 tensor.
fn random_tensor<T: Element>(shape: &[usize], seed: u64) -> Tensor<T> {
    let mut rng = Rng(seed);
    Tensor::from_vec(
        (0..shape.iter().product())
            .map(|_| T::from_f64(rng.uniform()))
            .collect(),
        shape,
    )
}

/// The result does not depend on the thread count, to the last bit: the work is
/// split over rows or columns of C, never over the sum.
fn bitwise_identical_across_threads<T: Element>() {
    // Shapes large enough to really use 2 or 3 threads, C cut into blocks of
    // rows (m >= n) and of columns (n > m, down to a C of a couple of micro-tile
    // rows); k > KC in some, so several depth blocks in turn (four in one);
    // n > NC in one, so two column panels; odd sizes so the cuts and the edges
    // don't line up.
    for (m, k, n) in [
        (301, 257, 199),
        (97, 263, 601),
        (1000, 50, 170),
        (10, 517, 2003),
        (400, 800, 150),
        (200, 40, 4100),
    ] {
        let a = random_tensor::<T>(&[m, k], 1);
        let b = random_tensor::<T>(&[n, k], 2).t(); // a transposed operand too
        for kernel in Kernel::available() {
            let one = a.matmul_with(&b, &config(kernel, 1)).to_vec();
            for threads in [2, 3] {
                let many = a.matmul_with(&b, &config(kernel, threads)).to_vec();
                let same = one
                    .iter()
                    .zip(&many)
                    .all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits());
                assert!(
                    same,
                    "{kernel:?} {}: {threads} threads differ from 1 at {m}x{k}x{n}",
                    T::NAME
                );
            }
        }
    }
}

#[test]
fn results_are_bitwise_identical_for_1_2_3_threads_f32() {
    bitwise_identical_across_threads::<f32>();
}

#[test]
fn results_are_bitwise_identical_for_1_2_3_threads_f64() {
    bitwise_identical_across_threads::<f64>();
}

/// With beta = 0, C's old contents are never read: NaN in C cannot leak, for
/// every kernel, for full and edge tiles, for a strided C, and when there is no
/// product to add at all (k = 0 or alpha = 0).
fn beta_zero_ignores_nan<T: Element>() {
    let nan = T::from_f64(f64::NAN);
    for kernel in Kernel::available() {
        for (m, k, n, layout) in [
            (37, 29, 41, Layout::RowMajor),
            (37, 29, 41, Layout::Strided),
            (6, 300, 16, Layout::ColMajor),
            (5, 0, 3, Layout::RowMajor),
        ] {
            let mut rng = Rng(9);
            let a = Stored::<T>::random(m, k, Layout::RowMajor, T::ZERO, &mut rng);
            let b = Stored::<T>::random(k, n, Layout::RowMajor, T::ZERO, &mut rng);
            for alpha in [1.0, 0.0] {
                let mut c = Stored::<T>::random(m, n, layout, nan, &mut rng);
                for i in 0..m {
                    for j in 0..n {
                        c.data[c.offset + i * c.rs + j * c.cs] = nan;
                    }
                }
                let before = c.clone();
                gemm_with(
                    &config(kernel, 2),
                    T::from_f64(alpha),
                    a.mat(),
                    b.mat(),
                    T::ZERO,
                    c.mat_mut(),
                );
                for i in 0..m {
                    for j in 0..n {
                        assert!(
                            !c.get(i, j).is_nan(),
                            "{kernel:?}: NaN leaked into C[{i}, {j}] (alpha {alpha})"
                        );
                    }
                }
                check_against_naive(alpha, &a, &b, 0.0, &before, &c).unwrap();
            }
        }
    }
}

#[test]
fn beta_zero_ignores_nan_in_c_f32() {
    beta_zero_ignores_nan::<f32>();
}

#[test]
fn beta_zero_ignores_nan_in_c_f64() {
    beta_zero_ignores_nan::<f64>();
}

/// Every SIMD kernel gives the scalar kernel's answer up to rounding, on a
/// shape with full tiles, edge tiles and more than one block of depth.
#[test]
fn every_simd_kernel_matches_scalar() {
    let (m, k, n) = (131, 517, 77);
    let a = random_tensor::<f64>(&[m, k], 3);
    let b = random_tensor::<f64>(&[k, n], 4);
    let reference = a.matmul_with(&b, &config(Kernel::Scalar, 1));
    let (a32, b32) = (a.cast::<f32>(), b.cast::<f32>());
    let reference32 = a32.matmul_with(&b32, &config(Kernel::Scalar, 1));
    for kernel in Kernel::available()
        .into_iter()
        .filter(|&k| k != Kernel::Scalar)
    {
        let got = a.matmul_with(&b, &config(kernel, 1));
        assert!(
            got.all_close(&reference, 1e-12),
            "{kernel:?} f64 differs from scalar"
        );
        let got32 = a32.matmul_with(&b32, &config(kernel, 1));
        assert!(
            got32.all_close(&reference32, 1e-4),
            "{kernel:?} f32 differs from scalar"
        );
    }
}

/// The LSTM-sized products used by the benchmarks, in their forward and both
/// backward forms, are right (one full check each, default kernel and threads).
#[test]
fn lstm_shapes_and_their_transposes_are_right() {
    let x = random_tensor::<f32>(&[64, 128], 5);
    let w = random_tensor::<f32>(&[128, 512], 6);
    let g = random_tensor::<f32>(&[64, 512], 7);
    let exact = |a: &Tensor<f32>, b: &Tensor<f32>| {
        a.cast::<f64>()
            .matmul_with(&b.cast::<f64>(), &config(Kernel::Scalar, 1))
    };
    for (a, b) in [
        (x.clone(), w.clone()),
        (x.t(), g.clone()),
        (g.clone(), w.t()),
    ] {
        let got = a.matmul(&b).cast::<f64>();
        assert!(got.all_close(&exact(&a, &b), 1e-4));
    }
}

#[test]
fn vectors_follow_numpy() {
    let v = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
    let m = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    assert_eq!(v.matmul(&m).shape(), &[2]);
    assert_eq!(v.matmul(&m).to_vec(), vec![4.0, 5.0]);
    assert_eq!(m.t().matmul(&v).to_vec(), vec![4.0, 5.0]);
    let dot = v.matmul(&v);
    assert_eq!(dot.shape(), &[] as &[usize]);
    assert_eq!(dot.item(), 14.0);
}

/// A contiguous `[batch, time, features] @ [features, out]` folds into one
/// product; a permuted one cannot and goes batch entry by batch entry. Both agree.
#[test]
fn folded_and_unfolded_batches_agree() {
    let x = random_tensor::<f64>(&[4, 5, 6], 8);
    let w = random_tensor::<f64>(&[6, 3], 9);
    let folded = x.matmul(&w);
    let permuted = x.permute(&[1, 0, 2]).contiguous().permute(&[1, 0, 2]); // same values, batch stride 6
    let unfolded = permuted.matmul(&w);
    assert!(folded.all_close(&unfolded, 1e-12));
    for bi in 0..4 {
        let entry = x.select(0, bi).matmul(&w);
        assert!(folded.select(0, bi).all_close(&entry, 1e-12));
    }
}

#[test]
#[should_panic(
    expected = "matmul: shapes [2, 3] and [4, 5] cannot be multiplied: inner dimensions 3 and 4 differ"
)]
fn inner_dimension_mismatch_panics_naming_both_shapes() {
    Tensor::<f32>::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
}

#[test]
#[should_panic(
    expected = "matmul: shapes [2, 2, 3] and [3, 3, 4] cannot be multiplied: batch dimensions do not broadcast"
)]
fn batch_mismatch_panics_naming_both_shapes() {
    Tensor::<f32>::zeros(&[2, 2, 3]).matmul(&Tensor::zeros(&[3, 3, 4]));
}

#[test]
#[should_panic(expected = "matmul: shapes [] and [3]")]
fn scalar_operand_panics() {
    Tensor::<f32>::scalar(1.0).matmul(&Tensor::zeros(&[3]));
}

#[test]
#[should_panic(expected = "gemm: A is 2x3, B is 4x2, C is 2x2")]
fn gemm_checks_dimensions() {
    let (a, b, mut c) = (vec![0.0f32; 6], vec![0.0f32; 8], vec![0.0f32; 4]);
    tensor::fast::matmul::gemm(
        1.0,
        MatRef::from_slice(&a, 2, 3),
        MatRef::from_slice(&b, 4, 2),
        0.0,
        MatMut::from_slice(&mut c, 2, 2),
    );
}

#[test]
#[should_panic(expected = "does not fit in a slice of 5 elements")]
fn matref_checks_bounds_before_anything_runs() {
    MatRef::new(&[0.0f32; 5], 0, 2, 3, 3, 1);
}

#[test]
#[should_panic(expected = "make elements of a 3x2 matrix overlap")]
fn matmut_rejects_aliasing_strides() {
    MatMut::new(&mut [0.0f32; 8], 0, 3, 2, 1, 1);
}

#[test]
fn forcing_an_unavailable_kernel_panics() {
    let missing: Vec<Kernel> = Kernel::ALL
        .into_iter()
        .filter(|k| !k.is_available())
        .collect();
    for kernel in missing {
        let result = std::panic::catch_unwind(|| {
            Tensor::<f32>::zeros(&[2, 2]).matmul_with(&Tensor::zeros(&[2, 2]), &config(kernel, 1))
        });
        assert!(result.is_err(), "{kernel:?} should be refused on this CPU");
    }
    assert!(Kernel::available().contains(&Kernel::detected()));
    assert_eq!(Kernel::available().last(), Some(&Kernel::Scalar));
}

/// Products asked for from several threads at once take turns on the thread
/// pool (or run alone) and still give the single-thread result, bit for bit.
#[test]
fn concurrent_callers_get_the_single_thread_result() {
    let a = random_tensor::<f32>(&[300, 200], 11);
    let b = random_tensor::<f32>(&[200, 250], 12);
    let expected = a.matmul_with(&b, &GemmConfig::single_threaded()).to_vec();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let many = GemmConfig {
                        kernel: None,
                        threads: 2,
                    };
                    assert_eq!(a.matmul_with(&b, &many).to_vec(), expected);
                }
            });
        }
    });
}
