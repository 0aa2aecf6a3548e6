//! The checks of chapter 2. A backward rule is recorded on a tape as an op
//! of its own, then compared with the library's rule on the same numbers
//! and with central finite differences (`autograd::gradcheck`).

use std::rc::Rc;

use autograd::gradients::full;
use autograd::{gradcheck, GradcheckOptions, Tape, Var};
use rand::rngs::StdRng;
use rand::Rng;
use smallvec::smallvec;
use tensor::Tensor;

use super::{cases_rng, closeness, compare, normal, random_shape, CheckResult};
use crate::recording::{Node, Rule};
use crate::reference::library_gradients;

/// A backward rule of two operands: `(a, b, dL/dy)` to `(dL/da, dL/db)`.
pub type BinaryRule = fn(&Tensor<f64>, &Tensor<f64>, &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>);

/// The reverse sweep: a recording, its output and the seed to every node's gradient.
pub type Sweep = fn(&[Node], usize, Tensor<f64>) -> Vec<Option<Tensor<f64>>>;

/// A loss function of one tensor.
pub type Loss<'a> = &'a dyn Fn(&Tensor<f64>) -> f64;

/// Central differences: a loss, the point and the step to the gradient.
pub type NumericGradient = fn(Loss<'_>, &Tensor<f64>, f64) -> Tensor<f64>;

/// A function of two vars, to differentiate.
type TwoInputs = fn(&Var<f64>, &Var<f64>) -> Var<f64>;

/// What the library's `gradcheck` runs: `f` on a tape and one var per input.
type Recorded<'a> = &'a dyn Fn(&Tape<f64>, &[Var<f64>]) -> Var<f64>;

/// Compares the gradients `op` gives on a tape with finite differences.
fn finite_differences(case: &str, op: Recorded<'_>, inputs: &[Tensor<f64>]) -> Result<f64, String> {
    let options = GradcheckOptions::default();
    match gradcheck(op, inputs, &options) {
        Ok(report) => Ok(report.worst.map_or(0.0, |w| w.abs_error)),
        Err(report) => Err(format!("{case}: against finite differences, {report}")),
    }
}

/// The summary of a rule's check.
fn summary(cases: usize, what: &str, worst_library: f64, worst_numeric: f64) -> String {
    format!(
        "{cases} cases{what}: the library's gradients ({}), finite differences (worst {worst_numeric:.1e})",
        closeness(worst_library)
    )
}

/// Two shapes that broadcast together.
fn broadcasting_pair(rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    loop {
        let a = random_shape(rng, 3, 3);
        let dropped = rng.gen_range(0..=a.len());
        let b: Vec<usize> = a[dropped..]
            .iter()
            .map(|&n| if rng.gen_bool(0.4) { 1 } else { n })
            .collect();
        if tensor::shape::broadcast_shapes(&a, &b).is_some() {
            return if rng.gen_bool(0.5) { (a, b) } else { (b, a) };
        }
    }
}

/// The library's op of a two-operand rule: its name and its forward pass.
struct BinaryOp {
    name: &'static str,
    forward: fn(&Tensor<f64>, &Tensor<f64>) -> Tensor<f64>,
    library: fn(&[Var<f64>]) -> Var<f64>,
}

/// One case of a two-operand rule: its description, `a`, `b` and `dL/dy`.
type BinaryCase = (String, [Tensor<f64>; 3]);

/// A two-operand rule on `cases`, against the library's op (`1e-12`) and
/// finite differences; returns the largest difference from each.
fn binary_rule(
    yours: BinaryRule,
    op: &BinaryOp,
    cases: Vec<BinaryCase>,
) -> Result<(f64, f64), String> {
    let (mut worst_library, mut worst_numeric) = (0.0f64, 0.0f64);
    for (case, [a, b, g]) in cases {
        let expected = library_gradients(&[&a, &b], op.library, &g);
        let (da, db) = yours(&a, &b, &g);
        for (name, got, expected) in [("a", &da, &expected[0]), ("b", &db, &expected[1])] {
            let what = format!("{case}: dL/d{name}");
            worst_library = worst_library.max(compare(&what, got, expected, 1e-12)?);
        }
        let (name, forward) = (op.name, op.forward);
        let recorded = |tape: &Tape<f64>, v: &[Var<f64>]| {
            let (a, b) = (v[0].value().clone(), v[1].value().clone());
            let y = forward(&a, &b);
            tape.record(name, y, &[&v[0], &v[1]], vec![a, b], move |input| {
                let ([a, b], g) = (input.saved_tensors(), &input.grad_output);
                let (da, db) = yours(a, b, g);
                smallvec![full(da), full(db)]
            })
        };
        worst_numeric = worst_numeric.max(finite_differences(&case, &recorded, &[a, b])?);
    }
    Ok((worst_library, worst_numeric))
}

/// Exercise 2.1: 60 products, broadcasting among them.
pub fn mul_backward(yours: BinaryRule) -> CheckResult {
    let mut rng = cases_rng(21);
    let cases = (0..60)
        .map(|_| {
            let (shape_a, shape_b) = broadcasting_pair(&mut rng);
            let out_shape = tensor::shape::broadcast_shapes(&shape_a, &shape_b).expect("a pair");
            let case = format!("a {shape_a:?} * b {shape_b:?}");
            let tensors = [&shape_a[..], &shape_b, &out_shape].map(|shape| normal(shape, &mut rng));
            (case, tensors)
        })
        .collect();
    let op = BinaryOp {
        name: "your_mul",
        forward: |a, b| a.mul(b),
        library: |v| &v[0] * &v[1],
    };
    let (library, numeric) = binary_rule(yours, &op, cases)?;
    Ok(summary(60, ", broadcasting among them", library, numeric))
}

/// Exercises 2.2 and 2.3: a rule from the output `y`, on 40 random tensors.
fn elementwise_rule(
    yours: fn(&Tensor<f64>, &Tensor<f64>) -> Tensor<f64>,
    name: &'static str,
    forward: fn(&Tensor<f64>) -> Tensor<f64>,
    library: fn(&Var<f64>) -> Var<f64>,
    seed: u64,
) -> CheckResult {
    let mut rng = cases_rng(seed);
    let (mut worst_library, mut worst_numeric) = (0.0f64, 0.0f64);
    for _ in 0..40 {
        let shape = random_shape(&mut rng, 3, 4);
        let x = normal(&shape, &mut rng).scale(2.0);
        let g = normal(&shape, &mut rng);
        let case = format!("{name} of shape {shape:?}");
        let expected = library_gradients(&[&x], |v| library(&v[0]), &g);
        let got = yours(&forward(&x), &g);
        worst_library = worst_library.max(compare(
            &format!("{case}: dL/dx"),
            &got,
            &expected[0],
            1e-12,
        )?);
        let op = |tape: &Tape<f64>, v: &[Var<f64>]| {
            let y = forward(v[0].value());
            tape.record(name, y.clone(), &[&v[0]], vec![y], move |input| {
                let [y] = input.saved_tensors();
                smallvec![full(yours(y, &input.grad_output))]
            })
        };
        worst_numeric = worst_numeric.max(finite_differences(&case, &op, &[x])?);
    }
    Ok(summary(40, "", worst_library, worst_numeric))
}

/// Exercise 2.2.
pub fn tanh_backward(yours: fn(&Tensor<f64>, &Tensor<f64>) -> Tensor<f64>) -> CheckResult {
    elementwise_rule(yours, "tanh", |x| x.tanh(), |x| x.tanh(), 22)
}

/// Exercise 2.3.
pub fn sigmoid_backward(yours: fn(&Tensor<f64>, &Tensor<f64>) -> Tensor<f64>) -> CheckResult {
    elementwise_rule(yours, "sigmoid", |x| x.sigmoid(), |x| x.sigmoid(), 23)
}

/// Exercise 2.4: 60 products of sizes 1 to 6.
pub fn matmul_backward(yours: BinaryRule) -> CheckResult {
    let mut rng = cases_rng(24);
    let cases = (0..60)
        .map(|_| {
            let [m, k, n] = [(); 3].map(|_| rng.gen_range(1..7));
            let tensors = [[m, k], [k, n], [m, n]].map(|shape| normal(&shape, &mut rng));
            (format!("[{m}, {k}] @ [{k}, {n}]"), tensors)
        })
        .collect();
    let op = BinaryOp {
        name: "your_matmul",
        forward: |a, b| a.matmul(b),
        library: |v| v[0].matmul(&v[1]),
    };
    let (library, numeric) = binary_rule(yours, &op, cases)?;
    Ok(summary(60, "", library, numeric))
}

/// The mean cross-entropy of `logits` against `targets`, as a number.
fn mean_cross_entropy(logits: &Tensor<f64>, targets: &[usize]) -> f64 {
    let log_probs = logits.log_softmax(1);
    let total: f64 = targets
        .iter()
        .enumerate()
        .map(|(i, &t)| -log_probs.get(&[i, t]))
        .sum();
    total / targets.len() as f64
}

/// Exercise 2.5: 60 batches of 1 to 6 rows over 2 to 7 classes.
pub fn cross_entropy_backward(
    yours: fn(&Tensor<f64>, &[usize], f64) -> Tensor<f64>,
) -> CheckResult {
    let mut rng = cases_rng(25);
    let (mut worst_library, mut worst_numeric) = (0.0f64, 0.0f64);
    for _ in 0..60 {
        let (rows, classes) = (rng.gen_range(1..7), rng.gen_range(2..8));
        let logits = normal(&[rows, classes], &mut rng).scale(2.0);
        let targets: Vec<usize> = (0..rows).map(|_| rng.gen_range(0..classes)).collect();
        let g: f64 = rng.gen_range(-2.0..2.0);
        let case = format!("logits [{rows}, {classes}], targets {targets:?}, dL/dloss {g:.3}");
        let expected = crate::reference::cross_entropy_backward(&logits, &targets, g);
        let got = yours(&logits, &targets, g);
        worst_library = worst_library.max(compare(
            &format!("{case}: dL/dlogits"),
            &got,
            &expected,
            1e-12,
        )?);
        let targets = Rc::new(targets);
        let op = |tape: &Tape<f64>, v: &[Var<f64>]| {
            let (x, targets) = (v[0].value().clone(), targets.clone());
            let value = Tensor::scalar(mean_cross_entropy(&x, &targets));
            tape.record(
                "your_cross_entropy",
                value,
                &[&v[0]],
                vec![x],
                move |input| {
                    let [x] = input.saved_tensors();
                    smallvec![full(yours(x, &targets, input.grad_output.item()))]
                },
            )
        };
        worst_numeric = worst_numeric.max(finite_differences(&case, &op, &[logits])?);
    }
    Ok(summary(60, "", worst_library, worst_numeric))
}

/// A recording built op by op, and the same computation on a real tape.
struct Recorder {
    nodes: Vec<Node>,
    tape: Tape<f64>,
    vars: Vec<Var<f64>>,
}

/// An op of a random recording: its name and how it computes.
type Op = (&'static str, fn(&[Var<f64>]) -> Var<f64>);

impl Recorder {
    fn leaf(&mut self, value: Tensor<f64>) -> usize {
        self.vars.push(self.tape.leaf(value.clone()));
        self.nodes.push(Node {
            op: "leaf",
            value,
            parents: vec![],
            backward: None,
        });
        self.nodes.len() - 1
    }

    /// Node `op` of `parents`: its value and the library's rule for it.
    fn op(&mut self, (name, f): Op, parents: Vec<usize>) -> usize {
        let inputs: Vec<Var<f64>> = parents.iter().map(|&p| self.vars[p].clone()).collect();
        let var = f(&inputs);
        var.retain_grad();
        let values: Vec<Tensor<f64>> = parents
            .iter()
            .map(|&p| self.nodes[p].value.clone())
            .collect();
        let rule: Rule = Rc::new(move |g: &Tensor<f64>| {
            let inputs: Vec<&Tensor<f64>> = values.iter().collect();
            library_gradients(&inputs, f, g)
        });
        self.nodes.push(Node {
            op: name,
            value: var.value().clone(),
            parents,
            backward: Some(rule),
        });
        self.vars.push(var);
        self.nodes.len() - 1
    }
}

/// A random recording on `[2, 3]` values: sums, products (a value times
/// itself among them), `tanh`, `sigmoid`, a broadcast bias and a matrix
/// product; the output is its second-to-last node.
fn random_recording(rng: &mut StdRng) -> (Recorder, usize) {
    let mut recorder = Recorder {
        nodes: vec![],
        tape: Tape::new(),
        vars: vec![],
    };
    let mut values: Vec<usize> = (0..3)
        .map(|_| recorder.leaf(normal(&[2, 3], rng)))
        .collect();
    let bias = recorder.leaf(normal(&[3], rng));
    let matrix = recorder.leaf(normal(&[3, 3], rng).scale(0.5));
    let ops: [Op; 6] = [
        ("add", |v| &v[0] + &v[1]),
        ("mul", |v| &v[0] * &v[1]),
        ("tanh", |v| v[0].tanh()),
        ("sigmoid", |v| v[0].sigmoid()),
        ("add_bias", |v| &v[0] + &v[1]),
        ("matmul", |v| v[0].matmul(&v[1])),
    ];
    for _ in 0..rng.gen_range(3..12) {
        let pick = |rng: &mut StdRng| values[rng.gen_range(0..values.len())];
        let choice = rng.gen_range(0..ops.len());
        let first = pick(rng);
        let parents = match choice {
            0 | 1 => vec![first, if rng.gen_bool(0.3) { first } else { pick(rng) }],
            4 => vec![first, bias],
            5 => vec![first, matrix],
            _ => vec![first],
        };
        values.push(recorder.op(ops[choice], parents));
    }
    let output = *values.last().expect("ops were recorded");
    let after = recorder.op(ops[2], vec![output]);
    values.push(after);
    (recorder, output)
}

/// Exercise 2.6: 100 random recordings, against `Tape::backward_with` on
/// the same computation.
pub fn backward(yours: Sweep) -> CheckResult {
    let mut rng = cases_rng(26);
    let mut worst: f64 = 0.0;
    for case in 0..100 {
        let (recorder, output) = random_recording(&mut rng);
        let seed = normal(&[2, 3], &mut rng);
        let grads = recorder
            .tape
            .backward_with(&recorder.vars[output], seed.clone())
            .expect("the output depends on the leaves");
        let got = yours(&recorder.nodes, output, seed);
        let listing: Vec<String> = recorder
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i}: {n:?}"))
            .collect();
        let described = format!("recording {case} (output {output}; {})", listing.join(", "));
        if got.len() != recorder.nodes.len() {
            return Err(format!(
                "{described}: {} gradients for {} nodes",
                got.len(),
                recorder.nodes.len()
            ));
        }
        for (id, (var, got)) in recorder.vars.iter().zip(&got).enumerate() {
            let expected = if id <= output { grads.get(var) } else { None };
            let what = format!("{described}: dL/d(node {id})");
            match (expected, got) {
                (Some(e), Some(g)) => worst = worst.max(compare(&what, g, e, 1e-12)?),
                (Some(_), None) => return Err(format!("{what} is missing")),
                (None, Some(g)) if g.to_vec().iter().any(|&x| x != 0.0) => {
                    return Err(format!(
                        "{what} should be None (the output does not depend on it, or it comes after the output), got {g}"
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(format!(
        "100 random recordings (values used twice, nodes off the output's path and after it): {}",
        closeness(worst)
    ))
}

/// Exercise 2.7: three functions at 30 random points, against the
/// library's central differences and the tape's exact gradient.
pub fn numeric_gradient(yours: NumericGradient) -> CheckResult {
    let mut rng = cases_rng(27);
    let epsilon = 1e-3;
    let mut worst: f64 = 0.0;
    for case in 0..30 {
        let shape = random_shape(&mut rng, 2, 4);
        let x = normal(&shape, &mut rng);
        let w = normal(&shape, &mut rng);
        let functions: [(&str, TwoInputs); 3] = [
            ("sum(tanh(x) * w)", |x, w| (x.tanh() * w).sum()),
            ("sum(x³ * w)", |x, w| (x.powf(3.0) * w).sum()),
            ("sum(sigmoid(x * w))²", |x, w| {
                (x * w).sigmoid().sum().square()
            }),
        ];
        let (name, f) = functions[case % 3];
        let loss = |x: &Tensor<f64>| {
            let tape = Tape::no_grad();
            f(&tape.constant(x.clone()), &tape.constant(w.clone())).item()
        };
        let what = format!("the gradient of {name} at x of shape {shape:?}, ε = {epsilon}");
        let got = yours(&loss, &x, epsilon);
        let central = autograd::gradcheck::numeric_gradient(loss, &x, epsilon);
        worst = worst.max(compare(
            &format!("{what}, against the library's central differences"),
            &got,
            &central,
            1e-9,
        )?);
        let exact = library_gradients(&[&x, &w], |v| f(&v[0], &v[1]), &Tensor::scalar(1.0));
        compare(
            &format!("{what}, against the exact one"),
            &got,
            &exact[0],
            1e-4,
        )?;
    }
    Ok(format!(
        "3 functions at 30 points: the library's central differences ({}), within O(ε²) of the exact gradient",
        closeness(worst)
    ))
}
