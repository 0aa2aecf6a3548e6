//! The checks of chapter 1: each against the library on random views.

use rand::rngs::StdRng;
use rand::Rng;
use tensor::Tensor;

use super::{cases_rng, closeness, compare, normal, random_shape, unravel, CheckResult};

/// A random view of a buffer whose every element holds its own position:
/// transposed, narrowed, broadcast or selected, a few times over.
fn random_view(rng: &mut StdRng) -> (Tensor<f64>, String) {
    let shape = random_shape(rng, 4, 4);
    let numel: usize = shape.iter().product();
    let mut view = Tensor::<f64>::arange(numel).reshape(&shape);
    let mut made = vec![format!("arange({numel}).reshape({shape:?})")];
    for _ in 0..rng.gen_range(0..4) {
        let axis = rng.gen_range(0..view.ndim());
        match rng.gen_range(0..4) {
            0 if view.ndim() >= 2 => {
                let other = rng.gen_range(0..view.ndim());
                view = view.transpose(axis, other);
                made.push(format!("transpose({axis}, {other})"));
            }
            1 => {
                let size = view.dim(axis);
                let start = rng.gen_range(0..size);
                let length = rng.gen_range(1..=size - start);
                view = view.narrow(axis, start, length);
                made.push(format!("narrow({axis}, {start}, {length})"));
            }
            2 if view.dim(axis) == 1 => {
                let mut target = view.shape().to_vec();
                target[axis] = 3;
                view = view.broadcast_to(&target);
                made.push(format!("broadcast_to({target:?})"));
            }
            3 if view.ndim() >= 2 => {
                let index = rng.gen_range(0..view.dim(axis));
                view = view.select(axis, index);
                made.push(format!("select({axis}, {index})"));
            }
            _ => {
                view = view.unsqueeze(axis);
                made.push(format!("unsqueeze({axis})"));
            }
        }
    }
    (view, made.join("."))
}

/// Exercise 1.1: every element of 200 random views, against the position
/// `Tensor::get` reads (each element of the buffer holds its position).
pub fn element_position(yours: fn(usize, &[usize], &[usize]) -> usize) -> CheckResult {
    let mut rng = cases_rng(11);
    let mut elements = 0;
    for _ in 0..200 {
        let (view, made) = random_view(&mut rng);
        for j in 0..view.numel() {
            let index = unravel(j, view.shape());
            let expected = view.get(&index) as usize;
            let got = yours(view.offset(), view.strides(), &index);
            if got != expected {
                return Err(format!(
                    "the view {made} (offset {}, strides {:?}): element {index:?} sits at {expected}, you said {got}",
                    view.offset(),
                    view.strides()
                ));
            }
            elements += 1;
        }
    }
    Ok(format!(
        "{elements} elements of 200 random views (transposed, narrowed, broadcast, selected)"
    ))
}

/// A shape `b` for `a`: often one that broadcasts with it, sometimes not.
fn partner(a: &[usize], rng: &mut StdRng) -> Vec<usize> {
    let dropped = rng.gen_range(0..=a.len());
    let mut b: Vec<usize> = a[dropped..].to_vec();
    for size in &mut b {
        match rng.gen_range(0..6) {
            0 => *size = 1,
            1 => *size += 1,
            _ => {}
        }
    }
    if rng.gen_bool(0.3) {
        b.insert(0, rng.gen_range(1..4));
    }
    b
}

/// Exercise 1.2: 500 pairs of shapes, against `tensor::shape::broadcast_shapes`.
pub fn broadcast_shapes(yours: fn(&[usize], &[usize]) -> Option<Vec<usize>>) -> CheckResult {
    let mut rng = cases_rng(12);
    let mut pairs: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![2, 3], vec![2, 3]),
        (vec![3, 1, 5], vec![4, 5]),
        (vec![3], vec![4]),
        (vec![], vec![2, 2]),
        (vec![1], vec![]),
    ];
    for _ in 0..500 {
        let a = random_shape(&mut rng, 4, 4);
        let b = partner(&a, &mut rng);
        pairs.push(if rng.gen_bool(0.5) { (a, b) } else { (b, a) });
    }
    let (mut compatible, mut incompatible) = (0, 0);
    for (a, b) in &pairs {
        let expected = tensor::shape::broadcast_shapes(a, b).map(|s| s.to_vec());
        let got = yours(a, b);
        if got != expected {
            return Err(format!(
                "{a:?} and {b:?}: expected {expected:?}, you said {got:?}"
            ));
        }
        match expected {
            Some(_) => compatible += 1,
            None => incompatible += 1,
        }
    }
    Ok(format!(
        "{} pairs of shapes ({compatible} that broadcast, {incompatible} that do not)",
        pairs.len()
    ))
}

/// Exercise 1.3: 200 random tensors and views, against `Tensor::transpose`:
/// the same layout, the same elements, and the buffer shared.
pub fn transpose_view(yours: fn(&Tensor<f64>, usize, usize) -> Tensor<f64>) -> CheckResult {
    let mut rng = cases_rng(13);
    for _ in 0..200 {
        let (view, made) = random_view(&mut rng);
        let (a, b) = (rng.gen_range(0..view.ndim()), rng.gen_range(0..view.ndim()));
        let expected = view.transpose(a, b);
        let got = yours(&view, a, b);
        let case = format!("{made}, axes {a} and {b}");
        if !got.shares_storage_with(&view) {
            return Err(format!(
                "{case}: the result is a copy; a view shares the buffer (Tensor::as_strided)"
            ));
        }
        if (got.shape(), got.strides(), got.offset())
            != (expected.shape(), expected.strides(), expected.offset())
        {
            return Err(format!(
                "{case}: shape {:?}, strides {:?}, offset {}; expected {:?}, {:?}, {}",
                got.shape(),
                got.strides(),
                got.offset(),
                expected.shape(),
                expected.strides(),
                expected.offset()
            ));
        }
    }
    Ok("200 random tensors and views: the layout of Tensor::transpose, no copy".to_string())
}

/// Exercise 1.4: 200 products of sizes 1 to 7, plain and through transposed
/// or narrowed views, against `Tensor::matmul_reference`.
pub fn matmul(yours: fn(&Tensor<f64>, &Tensor<f64>) -> Tensor<f64>) -> CheckResult {
    let mut rng = cases_rng(14);
    let mut worst: f64 = 0.0;
    for _ in 0..200 {
        let (m, k, n) = (
            rng.gen_range(1..8),
            rng.gen_range(1..8),
            rng.gen_range(1..8),
        );
        let a = if rng.gen_bool(0.3) {
            normal(&[k, m], &mut rng).t()
        } else {
            normal(&[m, k], &mut rng)
        };
        let b = if rng.gen_bool(0.3) {
            normal(&[k, n + 2], &mut rng).narrow(1, 1, n)
        } else {
            normal(&[k, n], &mut rng)
        };
        let case = format!(
            "[{m}, {k}] @ [{k}, {n}] (strides {:?} and {:?})",
            a.strides(),
            b.strides()
        );
        let difference = compare(&case, &yours(&a, &b), &a.matmul_reference(&b), 1e-12)?;
        worst = worst.max(difference);
    }
    Ok(format!(
        "200 products, strided operands among them: {}",
        closeness(worst)
    ))
}
