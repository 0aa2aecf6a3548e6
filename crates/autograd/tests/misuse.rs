//! Library misuse through the tape: each op family, given a bad shape, an
//! out-of-range label or id, or a non-finite hyperparameter, panics with a
//! message naming the op, the argument and the value.
//!
//! Ops on vars check their arguments through the tensor op they run, so a
//! var's shape errors read like the tensor's (`tensor/tests/misuse.rs` covers
//! those in full); the losses check their targets themselves.

use autograd::{Reduction, Tape};
use tensor::{Indices, Tensor};

fn logits(tape: &Tape<f32>, shape: &[usize]) -> autograd::Var<f32> {
    tape.leaf(Tensor::zeros(shape))
}

#[test]
#[should_panic(
    expected = "binary_cross_entropy_with_logits: target 5 (element 1) is not in [0, 1]"
)]
fn bce_with_a_label_of_five() {
    let tape = Tape::new();
    let targets = Tensor::from_vec(vec![1.0, 5.0, 0.0], &[3]);
    logits(&tape, &[3]).binary_cross_entropy_with_logits(&targets, None, Reduction::Mean);
}

#[test]
#[should_panic(
    expected = "binary_cross_entropy_with_logits: target -3 (element 0) is not in [0, 1]"
)]
fn bce_with_a_label_of_minus_three() {
    let tape = Tape::new();
    let targets = Tensor::from_vec(vec![-3.0, 1.0], &[2]);
    logits(&tape, &[2]).binary_cross_entropy_with_logits(&targets, None, Reduction::Sum);
}

#[test]
#[should_panic(
    expected = "binary_cross_entropy_with_logits: target NaN (element 0) is not in [0, 1]"
)]
fn bce_with_a_nan_label() {
    let tape = Tape::new();
    let targets = Tensor::from_vec(vec![f32::NAN], &[1]);
    logits(&tape, &[1]).binary_cross_entropy_with_logits(&targets, None, Reduction::Mean);
}

#[test]
fn bce_accepts_soft_labels_inside_zero_one() {
    let tape = Tape::new();
    let targets = Tensor::from_vec(vec![0.0, 0.25, 1.0], &[3]);
    let loss =
        logits(&tape, &[3]).binary_cross_entropy_with_logits(&targets, None, Reduction::Mean);
    // At logit 0 every element costs ln 2, whatever its target.
    assert!((loss.item() - std::f32::consts::LN_2).abs() < 1e-6);
}

#[test]
#[should_panic(
    expected = "binary_cross_entropy_with_logits: targets of shape [2] do not match logits of shape [3]"
)]
fn bce_with_targets_of_another_shape() {
    let tape = Tape::new();
    logits(&tape, &[3]).binary_cross_entropy_with_logits(
        &Tensor::zeros(&[2]),
        None,
        Reduction::Mean,
    );
}

#[test]
#[should_panic(expected = "cross_entropy: target 5 is out of range for 3 classes")]
fn cross_entropy_with_a_class_past_the_last() {
    let tape = Tape::new();
    logits(&tape, &[2, 3]).cross_entropy(&Indices::from_slice(&[0, 5]), None, Reduction::Mean);
}

#[test]
#[should_panic(
    expected = "cross_entropy: logits of shape [2, 3] need targets of shape [2], got [3]"
)]
fn cross_entropy_with_too_many_targets() {
    let tape = Tape::new();
    logits(&tape, &[2, 3]).cross_entropy(&Indices::from_slice(&[0, 1, 2]), None, Reduction::Mean);
}

#[test]
fn cross_entropy_lets_an_ignored_target_be_out_of_range() {
    // The padding id may be any number; it is never looked up.
    let tape = Tape::new();
    let loss = logits(&tape, &[2, 3]).cross_entropy(
        &Indices::from_slice(&[1, 99]),
        Some(99),
        Reduction::Mean,
    );
    assert!((loss.item() - 3f32.ln()).abs() < 1e-6);
}

#[test]
#[should_panic(expected = "dropout: probability 1.5 is not in [0, 1)")]
fn dropout_with_a_probability_above_one() {
    let tape = Tape::training(0);
    logits(&tape, &[4]).dropout(1.5);
}

#[test]
#[should_panic(expected = "dropout: probability NaN is not in [0, 1)")]
fn dropout_with_a_nan_probability() {
    let tape = Tape::training(0);
    logits(&tape, &[4]).dropout(f64::NAN);
}

#[test]
#[should_panic(
    expected = "matmul: shapes [2, 3] and [2, 3] cannot be multiplied: inner dimensions 3 and 2 differ"
)]
fn matmul_of_vars_with_mismatched_inner_dimensions() {
    let tape = Tape::new();
    logits(&tape, &[2, 3]).matmul(&logits(&tape, &[2, 3]));
}

#[test]
#[should_panic(expected = "index_select: index 4 is out of bounds for axis 0 of shape [4, 2]")]
fn index_select_of_a_var_with_an_id_past_the_table() {
    let tape = Tape::new();
    logits(&tape, &[4, 2]).index_select(0, &[1, 4]);
}

#[test]
#[should_panic(expected = "reshape: cannot view shape [2, 3] as [5]")]
fn reshape_of_a_var_to_another_size() {
    let tape = Tape::new();
    logits(&tape, &[2, 3]).reshape(&[5]);
}

#[test]
#[should_panic(expected = "clamp: low = 2 and high = 1 are not an interval")]
fn clamp_of_a_var_with_low_above_high() {
    let tape = Tape::new();
    logits(&tape, &[2]).clamp(2.0, 1.0);
}

#[test]
#[should_panic(expected = "sum_axis: axis 1 is out of range for a tensor with 1 axes")]
fn sum_of_a_var_along_a_missing_axis() {
    let tape = Tape::new();
    logits(&tape, &[2]).sum_axis(1, false);
}

#[test]
#[should_panic(expected = "concat: shape [3, 1] does not match [2] off axis 0")]
fn concat_of_vars_with_different_ranks() {
    let tape = Tape::new();
    autograd::Var::concat(&[logits(&tape, &[2]), logits(&tape, &[3, 1])], 0);
}
