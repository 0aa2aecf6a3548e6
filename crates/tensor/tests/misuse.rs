//! Library misuse: every public constructor and op family, given a bad shape,
//! an out-of-range index, a zero size or a non-finite hyperparameter, panics
//! with a message that names the op, the argument and the value.
//!
//! `shape_errors.rs` covers shape *mismatches* between operands; this file
//! covers everything else a caller can get wrong. Each test pins the whole
//! useful part of the message, so a message that stops naming the op or the
//! value fails here.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::fast::matmul::{gemm, MatMut, MatRef};
use tensor::{Indices, Tensor};

fn m(shape: &[usize]) -> Tensor<f32> {
    Tensor::zeros(shape)
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

// ---- constructors ---------------------------------------------------------

#[test]
#[should_panic(expected = "from_vec: 5 values cannot fill shape [2, 3] (6 elements)")]
fn from_vec_with_the_wrong_length() {
    Tensor::from_vec(vec![0.0f32; 5], &[2, 3]);
}

#[test]
#[should_panic(
    expected = "from_vec: shape [9223372036854775809, 2] has more elements than a usize can count"
)]
fn from_vec_with_a_shape_that_wraps_to_the_length() {
    Tensor::from_vec(vec![1.0f32, 2.0], &[(1 << 63) + 1, 2]);
}

#[test]
#[should_panic(
    expected = "zeros: shape [4294967296, 4294967296] has more elements than a usize can count"
)]
fn zeros_of_an_overflowing_shape() {
    m(&[1 << 32, 1 << 32]);
}

#[test]
#[should_panic(expected = "ones: shape [0, 1099511627776, 1099511627776] has more elements")]
fn ones_of_an_empty_shape_whose_strides_overflow() {
    Tensor::<f32>::ones(&[0, 1 << 40, 1 << 40]);
}

#[test]
#[should_panic(
    expected = "full: shape [4611686018427387904] holds 4611686018427387904 elements of 4 bytes, more than one allocation can hold"
)]
fn full_of_a_shape_too_big_to_allocate() {
    Tensor::<f32>::full(&[1 << 62], 1.0);
}

#[test]
#[should_panic(expected = "arange: shape [18446744073709551615] holds")]
fn arange_too_long_to_allocate() {
    Tensor::<f64>::arange(usize::MAX);
}

#[test]
#[should_panic(expected = "eye: shape [4294967296, 4294967296] has more elements")]
fn eye_whose_square_overflows() {
    Tensor::<f32>::eye(1 << 32);
}

#[test]
#[should_panic(expected = "from_fn: shape [4294967296, 4294967296] has more elements")]
fn from_fn_of_an_overflowing_shape() {
    Tensor::<f32>::from_fn(&[1 << 32, 1 << 32], |_| 0.0);
}

#[test]
#[should_panic(expected = "from_parts: shape [2, 3] and strides [3] differ in length")]
fn from_parts_with_strides_of_another_rank() {
    Tensor::from_parts(Arc::new(vec![0.0f32; 6]), &[2, 3], &[3], 0);
}

#[test]
#[should_panic(
    expected = "from_parts: shape [2, 3] with strides [3, 1] at offset 1 reads past a buffer of 6 elements"
)]
fn from_parts_past_the_end() {
    Tensor::from_parts(Arc::new(vec![0.0f32; 6]), &[2, 3], &[3, 1], 1);
}

#[test]
#[should_panic(
    expected = "from_parts: shape [3] with strides [9223372036854775808] at offset 0 reads past"
)]
fn from_parts_whose_reach_wraps() {
    Tensor::from_parts(Arc::new(vec![0.0f32; 4]), &[3], &[1 << 63], 0);
}

#[test]
fn zero_sizes_are_allowed_where_they_mean_something() {
    // An empty tensor is a value, not a mistake: it sums to 0, reshapes, concatenates.
    let empty = m(&[0, 3]);
    assert_eq!(empty.numel(), 0);
    assert_eq!(empty.sum().item(), 0.0);
    assert_eq!(empty.reshape(&[3, 0]).shape(), &[3, 0]);
    assert_eq!(Tensor::concat(&[empty, m(&[2, 3])], 0).shape(), &[2, 3]);
    assert_eq!(m(&[0, 4]).matmul(&m(&[4, 5])).shape(), &[0, 5]);
}

#[test]
#[should_panic(expected = "max: tensor of shape [0, 3] is empty")]
fn max_of_an_empty_tensor() {
    m(&[0, 3]).max();
}

#[test]
#[should_panic(expected = "argmax_axis: axis 1 of shape [2, 0] is empty")]
fn argmax_along_an_empty_axis() {
    m(&[2, 0]).argmax_axis(1);
}

// ---- random constructors: hyperparameters ---------------------------------

#[test]
#[should_panic(
    expected = "rand_uniform: the range low = 1, high = 1 is not a finite range with low < high"
)]
fn rand_uniform_with_an_empty_range() {
    Tensor::<f32>::rand_uniform(&[2], 1.0, 1.0, &mut rng());
}

#[test]
#[should_panic(expected = "rand_uniform: the range low = -inf, high = 1 is not a finite range")]
fn rand_uniform_with_an_infinite_bound() {
    Tensor::<f32>::rand_uniform(&[2], f64::NEG_INFINITY, 1.0, &mut rng());
}

#[test]
#[should_panic(expected = "rand_normal: mean = NaN is not a finite number")]
fn rand_normal_with_a_nan_mean() {
    Tensor::<f32>::rand_normal(&[2], f64::NAN, 1.0, &mut rng());
}

#[test]
#[should_panic(expected = "rand_normal: std = inf is not a finite number >= 0")]
fn rand_normal_with_an_infinite_std() {
    Tensor::<f32>::rand_normal(&[2], 0.0, f64::INFINITY, &mut rng());
}

#[test]
#[should_panic(expected = "bernoulli: p_one = 1.5 is not a probability in [0, 1]")]
fn bernoulli_with_a_probability_above_one() {
    Tensor::<f32>::bernoulli(&[2], 1.5, &mut rng());
}

#[test]
#[should_panic(expected = "rand_normal: shape [4294967296, 4294967296] has more elements")]
fn rand_normal_of_an_overflowing_shape() {
    Tensor::<f32>::rand_normal(&[1 << 32, 1 << 32], 0.0, 1.0, &mut rng());
}

// ---- views ----------------------------------------------------------------

#[test]
#[should_panic(expected = "reshape: cannot view shape [2, 3] as [4]")]
fn reshape_to_another_size() {
    m(&[2, 3]).reshape(&[4]);
}

#[test]
#[should_panic(expected = "reshape: shape [4294967296, 4294967296, 0] has more elements")]
fn reshape_to_an_overflowing_shape() {
    m(&[0]).reshape(&[1 << 32, 1 << 32, 0]);
}

#[test]
#[should_panic(expected = "permute: [0, 0] is not a permutation of the axes of shape [2, 3]")]
fn permute_with_a_repeated_axis() {
    m(&[2, 3]).permute(&[0, 0]);
}

#[test]
#[should_panic(expected = "transpose: axis 2 is out of range for a tensor with 2 axes")]
fn transpose_of_a_missing_axis() {
    m(&[2, 3]).transpose(0, 2);
}

#[test]
#[should_panic(expected = "t: needs at least 2 axes, got shape [3]")]
fn t_of_a_vector() {
    m(&[3]).t();
}

#[test]
#[should_panic(
    expected = "narrow: start 2 and length 2 are out of bounds for axis 1 of shape [2, 3]"
)]
fn narrow_past_the_end() {
    m(&[2, 3]).narrow(1, 2, 2);
}

#[test]
#[should_panic(expected = "narrow: start 1 and length 18446744073709551615 are out of bounds")]
fn narrow_whose_end_wraps() {
    m(&[2, 3]).narrow(1, 1, usize::MAX);
}

#[test]
#[should_panic(expected = "select: index 2 is out of bounds for axis 0 of shape [2, 3]")]
fn select_past_the_end() {
    m(&[2, 3]).select(0, 2);
}

#[test]
#[should_panic(expected = "squeeze: axis 1 of shape [2, 3] does not have size 1")]
fn squeeze_of_a_long_axis() {
    m(&[2, 3]).squeeze(1);
}

#[test]
#[should_panic(expected = "unsqueeze: axis 3 is out of range for shape [2, 3]")]
fn unsqueeze_past_the_end() {
    m(&[2, 3]).unsqueeze(3);
}

#[test]
#[should_panic(expected = "broadcast_to: shape [2, 3] cannot broadcast to [3, 3]")]
fn broadcast_to_an_incompatible_shape() {
    m(&[2, 3]).broadcast_to(&[3, 3]);
}

#[test]
#[should_panic(expected = "broadcast_to: shape [4294967296, 4294967296] has more elements")]
fn broadcast_to_an_overflowing_shape() {
    m(&[1]).broadcast_to(&[1 << 32, 1 << 32]);
}

#[test]
#[should_panic(
    expected = "split: sizes [18446744073709551615, 4] do not add up to axis 1 of shape [2, 3]"
)]
fn split_sizes_whose_sum_wraps() {
    m(&[2, 3]).split(&[usize::MAX, 4], 1);
}

#[test]
#[should_panic(expected = "chunk: axis 1 of shape [2, 3] cannot be cut into 0 equal pieces")]
fn chunk_into_zero_pieces() {
    m(&[2, 3]).chunk(0, 1);
}

#[test]
#[should_panic(expected = "unbind: axis 2 is out of range for a tensor with 2 axes")]
fn unbind_a_missing_axis() {
    m(&[2, 3]).unbind(2);
}

// ---- elementwise ----------------------------------------------------------

#[test]
#[should_panic(expected = "mul: shapes [4294967296, 1] and [1, 4294967296] broadcast to a shape")]
fn elementwise_op_whose_broadcast_shape_overflows() {
    // Two broadcast views, each fine alone; together 2^64 elements.
    let column = m(&[1, 1]).broadcast_to(&[1 << 32, 1]);
    let row = m(&[1, 1]).broadcast_to(&[1, 1 << 32]);
    let _ = column.mul(&row);
}

#[test]
#[should_panic(expected = "clamp: low = 1 and high = -1 are not an interval")]
fn clamp_with_low_above_high() {
    m(&[2]).clamp(1.0, -1.0);
}

#[test]
#[should_panic(expected = "clamp: low = NaN and high = 1 are not an interval")]
fn clamp_with_a_nan_bound() {
    m(&[2]).clamp(f32::NAN, 1.0);
}

#[test]
#[should_panic(
    expected = "where_: mask shape [3] and value shape [2] cannot be broadcast together"
)]
fn where_with_a_mask_of_another_shape() {
    Tensor::where_(&m(&[3]), &m(&[2]), &m(&[2]));
}

#[test]
#[should_panic(expected = "add_assign: shape [3] cannot broadcast to [2]")]
fn add_assign_of_another_shape() {
    let mut a = m(&[2]);
    a += &m(&[3]);
}

// ---- reductions -----------------------------------------------------------

#[test]
#[should_panic(expected = "sum_axis: axis 2 is out of range for a tensor with 2 axes")]
fn sum_along_a_missing_axis() {
    m(&[2, 3]).sum_axis(2, false);
}

#[test]
#[should_panic(expected = "softmax: axis 1 is out of range for a tensor with 1 axes")]
fn softmax_along_a_missing_axis() {
    m(&[3]).softmax(1);
}

// ---- indexing -------------------------------------------------------------

#[test]
#[should_panic(expected = "Indices::new: 3 values cannot fill shape [2, 2]")]
fn indices_with_the_wrong_length() {
    Indices::new(vec![0, 1, 2], &[2, 2]);
}

#[test]
#[should_panic(expected = "Indices::new: shape [9223372036854775809, 2] has more elements")]
fn indices_of_a_shape_that_wraps() {
    Indices::new(vec![0, 1], &[(1 << 63) + 1, 2]);
}

#[test]
#[should_panic(expected = "index_select: index 3 is out of bounds for axis 0 of shape [3, 2]")]
fn index_select_an_id_past_the_table() {
    m(&[3, 2]).index_select(0, &[0, 3]);
}

#[test]
#[should_panic(expected = "index_add: index 5 is out of bounds for axis 0 of shape [3, 2]")]
fn index_add_an_id_past_the_table() {
    m(&[3, 2]).index_add(0, &[5], &m(&[1, 2]));
}

#[test]
#[should_panic(expected = "gather: index 2 is out of bounds for axis 1 of shape [3, 2]")]
fn gather_an_index_past_the_axis() {
    m(&[3, 2]).gather(1, &Indices::new(vec![0, 2, 1], &[3, 1]));
}

#[test]
#[should_panic(expected = "scatter_add: source shape [2, 1] differs from index shape [3, 1]")]
fn scatter_add_a_source_of_another_shape() {
    m(&[3, 2]).scatter_add(1, &Indices::new(vec![0, 1, 1], &[3, 1]), &m(&[2, 1]));
}

#[test]
#[should_panic(
    expected = "narrow_add_assign: source shape [2, 2] does not fit shape [2, 3] at 2 along axis 1"
)]
fn narrow_add_assign_past_the_end() {
    m(&[2, 3]).narrow_add_assign(1, 2, &m(&[2, 2]));
}

// ---- joining --------------------------------------------------------------

#[test]
#[should_panic(expected = "concat: needs at least one tensor")]
fn concat_of_nothing() {
    Tensor::<f32>::concat(&[], 0);
}

#[test]
#[should_panic(expected = "concat: axis 2 is out of range for a tensor with 2 axes")]
fn concat_along_a_missing_axis() {
    Tensor::concat(&[m(&[2, 2]), m(&[2, 2])], 2);
}

#[test]
#[should_panic(expected = "stack: shape [3] differs from [2]")]
fn stack_of_different_shapes() {
    Tensor::stack(&[m(&[2]), m(&[3])], 0);
}

// ---- matrix products --------------------------------------------------------

#[test]
#[should_panic(expected = "matmul: shapes [] and [2] are not matrices or vectors (0-D operand)")]
fn matmul_of_a_scalar() {
    m(&[]).matmul(&m(&[2]));
}

#[test]
#[should_panic(
    expected = "matmul: shapes [2, 3] and [4, 5] cannot be multiplied: inner dimensions 3 and 4 differ"
)]
fn matmul_with_mismatched_inner_dimensions() {
    m(&[2, 3]).matmul(&m(&[4, 5]));
}

#[test]
#[should_panic(
    expected = "matmul: shapes [2, 1, 3] and [3, 3, 1] cannot be multiplied: batch dimensions do not broadcast"
)]
fn matmul_with_batches_that_do_not_broadcast() {
    m(&[2, 1, 3]).matmul(&m(&[3, 3, 1]));
}

#[test]
#[should_panic(
    expected = "matmul: shapes [4294967296, 1] and [1, 4294967296] give a product of shape [4294967296, 4294967296], more elements than a usize can count"
)]
fn matmul_whose_output_overflows() {
    // [2^32, 1] @ [1, 2^32]: both broadcast views, the product 2^64 elements.
    let a = m(&[1, 1]).broadcast_to(&[1 << 32, 1]);
    let b = m(&[1, 1]).broadcast_to(&[1, 1 << 32]);
    a.matmul(&b);
}

#[test]
#[should_panic(
    expected = "MatRef::new: a 2x3 matrix at offset 1 with strides (3, 1) does not fit in a slice of 6 elements"
)]
fn mat_ref_past_the_end() {
    MatRef::new(&[0.0f32; 6], 1, 2, 3, 3, 1);
}

#[test]
#[should_panic(expected = "MatRef::from_slice: 2 elements for a 9223372036854775809x2 matrix")]
fn mat_ref_from_slice_whose_size_wraps() {
    MatRef::from_slice(&[0.0f32; 2], (1 << 63) + 1, 2);
}

#[test]
#[should_panic(expected = "MatMut::new: strides (0, 1) make elements of a 2x3 matrix overlap")]
fn mat_mut_with_overlapping_rows() {
    MatMut::new(&mut [0.0f32; 6], 0, 2, 3, 0, 1);
}

#[test]
#[should_panic(expected = "gemm: A is 2x3, B is 2x2, C is 2x2: need A m x k, B k x n, C m x n")]
fn gemm_with_mismatched_dimensions() {
    let (a, b, mut c) = ([0.0f32; 6], [0.0f32; 4], [0.0f32; 4]);
    gemm(
        1.0,
        MatRef::from_slice(&a, 2, 3),
        MatRef::from_slice(&b, 2, 2),
        0.0,
        MatMut::from_slice(&mut c, 2, 2),
    );
}

/// A broadcast view whose elements fit a `usize` but not one allocation:
/// an op that materializes it names itself, not "capacity overflow".
#[test]
#[should_panic(
    expected = "mul: shape [4611686018427387904] holds 4611686018427387904 elements of 4 bytes"
)]
fn an_op_on_broadcast_views_too_large_to_allocate_names_the_op() {
    let huge = Tensor::<f32>::zeros(&[1]).broadcast_to(&[1 << 62]);
    let _ = huge.mul(&huge);
}

/// The same through a unary op: the engine that allocates, `map`, is named.
#[test]
#[should_panic(
    expected = "map: shape [4611686018427387904] holds 4611686018427387904 elements of 4 bytes"
)]
fn a_unary_op_on_a_broadcast_view_too_large_to_allocate_names_the_engine() {
    let _ = Tensor::<f32>::zeros(&[1]).broadcast_to(&[1 << 62]).exp();
}
