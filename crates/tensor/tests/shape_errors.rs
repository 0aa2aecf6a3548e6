//! Shape mismatches panic with a message naming the op and both shapes:
//! one test per op family.

use tensor::{Indices, Tensor};

fn m(shape: &[usize]) -> Tensor<f32> {
    Tensor::zeros(shape)
}

#[test]
#[should_panic(expected = "add: shapes [2, 3] and [4] cannot be broadcast together")]
fn elementwise_mismatch_names_the_op_and_both_shapes() {
    let _ = &m(&[2, 3]) + &m(&[4]);
}

#[test]
#[should_panic(expected = "reshape: cannot view shape [2, 3] as [5]")]
fn view_mismatch_names_the_op_and_both_shapes() {
    m(&[2, 3]).reshape(&[5]);
}

#[test]
#[should_panic(expected = "sum_to: shape [2, 3] cannot be reduced to [4]")]
fn reduction_mismatch_names_the_op_and_both_shapes() {
    m(&[2, 3]).sum_to(&[4]);
}

#[test]
#[should_panic(
    expected = "index_add: source shape [3, 2] does not match target shape [4, 2] with 2 ids along axis 0"
)]
fn index_mismatch_names_the_op_and_both_shapes() {
    m(&[4, 2]).index_add(0, &[0, 1], &m(&[3, 2]));
}

#[test]
#[should_panic(expected = "gather: index shape [2] does not fit tensor shape [4, 2] along axis 0")]
fn gather_mismatch_names_the_op_and_both_shapes() {
    m(&[4, 2]).gather(0, &Indices::new(vec![0, 1], &[2]));
}

#[test]
#[should_panic(expected = "concat: shape [3] does not match [2, 2] off axis 0")]
fn concat_mismatch_names_the_op_and_both_shapes() {
    Tensor::concat(&[m(&[2, 2]), m(&[3])], 0);
}

#[test]
#[should_panic(expected = "matmul")]
fn matmul_mismatch_names_the_op() {
    m(&[2, 3]).matmul(&m(&[4, 5]));
}
