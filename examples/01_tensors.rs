//! Walk 1 of 5, the `tensor` crate: a tensor is a shared buffer read through
//! a shape, strides and an offset, so views (a transpose, a narrow, a
//! broadcast) are new strides over the same numbers, and copy nothing.
//!
//! ```text
//! cargo run --example 01_tensors
//! ```
//!
//! It prints each tensor with its shape and strides, and checks as it goes
//! that the views share the original's storage (`shares_storage_with`), that
//! `contiguous()` copies only a tensor that is not laid out row by row, and
//! that broadcasting a row over a matrix reads it with stride 0.

use tensor::Tensor;

fn show(name: &str, t: &Tensor<f32>) {
    println!(
        "{name:<28} shape {:?} strides {:?} offset {}  {t}",
        t.shape(),
        t.strides(),
        t.offset()
    );
}

fn main() {
    // Six numbers read as 2 rows of 3: one step along a row is 1 element, down a column 3.
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    show("a", &a);
    assert_eq!(a.strides(), &[3, 1]);

    // A transpose swaps the strides: element [i, j] of a.t() is element [j, i] of a.
    let at = a.t();
    show("a.t()", &at);
    assert!(at.shares_storage_with(&a) && !at.is_contiguous());
    assert_eq!(at.get(&[2, 1]), a.get(&[1, 2]));

    // A narrow keeps the strides and moves the offset: columns 1..3 of a.
    let right = a.narrow(1, 1, 2);
    show("a.narrow(1, 1, 2)", &right);
    assert!(right.shares_storage_with(&a));
    assert_eq!(right.offset(), 1);

    // contiguous() copies only when the layout is not row-major already.
    let copied = at.contiguous();
    show("a.t().contiguous()", &copied);
    assert!(!copied.shares_storage_with(&a));
    assert!(
        a.contiguous().shares_storage_with(&a),
        "already row-major: no copy"
    );

    // Broadcasting (NumPy's rule): shapes align from the right, a 1 or a
    // missing axis stretches. A stretched axis has stride 0: one row, read twice.
    let row = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
    let stretched = row.broadcast_to(&[2, 3]);
    show("row.broadcast_to([2, 3])", &stretched);
    assert_eq!(stretched.strides(), &[0, 1]);
    show("a + row", &(&a + &row));

    // [2, 1] and [1, 3] broadcast to [2, 3]: an outer sum.
    let column = Tensor::from_vec(vec![100.0f32, 200.0], &[2, 1]);
    let outer = &column + &row.reshape(&[1, 3]);
    show("column + row", &outer);
    assert_eq!(
        outer.to_vec(),
        vec![110.0, 120.0, 130.0, 210.0, 220.0, 230.0]
    );

    // Views compose: the product of a [2, 3] and its [3, 2] transpose, no copy made first.
    show("a @ a.t()", &a.matmul(&at));
    println!(
        "\n{} numbers stored for a, a.t(), a.narrow(..) and the broadcast row view.",
        a.storage().len() + row.storage().len()
    );
}
