//! What the tape costs: recording and backpropagating, against the same tensor
//! work done by hand.
//!
//! 1. **Bookkeeping per op.** A chain of 100 elementwise ops on `[4]` tensors,
//!    so that the arithmetic is nothing and what remains is the cost of an op:
//!    plain tensor ops, the same on a `no_grad` tape, recorded on a tape, and
//!    recorded plus backward. `(recorded - plain) / 100` is what recording one
//!    op adds.
//! 2. **One LSTM step** with batch 64, input 128, hidden 128 (gates `4H = 512`):
//!    `z = x W + b`, the four gates cut out of `z`, `c' = σ(f) c + σ(i) tanh(g)`,
//!    `h' = σ(o) tanh(c')`, backpropagated from `dL/dh' = 1` to `x`, `W`, `b` and
//!    `c`. The baseline runs the same forward and a hand-written backward with
//!    tensor ops. Target: the tape adds under 10%.
//! 3. **Cutting time steps.** `T` slices `x[:, t, :]` of `x: [64, T, 512]`, each
//!    summed, then backward. Every slice adds its gradient into one buffer, so
//!    the cost per element stays flat as `T` grows (a full-size gradient per
//!    slice would make it grow with `T`). The baseline is the hand-written
//!    forward and backward.
//!
//! Run with `cargo bench --bench tape` (about 50 seconds). After criterion, a
//! summary measured the same way (best of several runs) prints the figures,
//! with the default thread count and with one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use autograd::{Tape, Var};
use criterion::Criterion;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

// ---------------------------------------------------------------------------
// 1. A chain of small ops
// ---------------------------------------------------------------------------

/// Rounds of four ops (mul, add, tanh, mul_scalar): 100 ops in all.
const ROUNDS: usize = 25;
const CHAIN_OPS: usize = 4 * ROUNDS;

fn small() -> [Tensor<f32>; 3] {
    let mut rng = StdRng::seed_from_u64(1);
    [0.0, 1.0, 2.0].map(|_| Tensor::rand_uniform(&[4], -1.0, 1.0, &mut rng))
}

fn chain_plain(x: &Tensor<f32>, w: &Tensor<f32>, b: &Tensor<f32>) -> Tensor<f32> {
    let mut y = x.clone();
    for _ in 0..ROUNDS {
        y = y.mul(w).add(b).tanh().scale(0.9);
    }
    y
}

fn chain_vars(x: &Var<f32>, w: &Var<f32>, b: &Var<f32>) -> Var<f32> {
    let mut y = x.clone();
    for _ in 0..ROUNDS {
        y = y.mul(w).add(b).tanh().mul_scalar(0.9);
    }
    y
}

/// The chain on a tape that records (`recording`) or not, with or without backward.
fn chain_on_tape(inputs: &[Tensor<f32>; 3], recording: bool, backward: bool) {
    let tape = if recording {
        Tape::new()
    } else {
        Tape::no_grad()
    };
    let [x, w, b] = inputs.clone().map(|t| tape.leaf(t));
    let y = chain_vars(&x, &w, &b);
    if backward {
        black_box(
            tape.backward_with(&y, Tensor::ones(&[4]))
                .expect("recorded"),
        );
    }
    black_box(y);
}

// ---------------------------------------------------------------------------
// 2. One LSTM step
// ---------------------------------------------------------------------------

const BATCH: usize = 64;
const INPUT: usize = 128;
const HIDDEN: usize = 128;

/// `x [B, I]`, `W [I, 4H]`, `b [4H]`, `c [B, H]`.
fn lstm_inputs() -> [Tensor<f32>; 4] {
    let mut rng = StdRng::seed_from_u64(2);
    let scale = 1.0 / (INPUT as f64).sqrt();
    [
        Tensor::rand_normal(&[BATCH, INPUT], 0.0, 1.0, &mut rng),
        Tensor::rand_normal(&[INPUT, 4 * HIDDEN], 0.0, scale, &mut rng),
        Tensor::rand_normal(&[4 * HIDDEN], 0.0, scale, &mut rng),
        Tensor::rand_normal(&[BATCH, HIDDEN], 0.0, 1.0, &mut rng),
    ]
}

/// The step recorded on a tape and backpropagated: returns `[dx, dW, db, dc]`.
fn lstm_step_tape(inputs: &[Tensor<f32>; 4]) -> [Tensor<f32>; 4] {
    let tape = Tape::new();
    let [x, w, b, c] = inputs.clone().map(|t| tape.leaf(t));
    let z = &x.matmul(&w) + &b;
    let gates = z.chunk(4, 1);
    let (i, f, g, o) = (
        gates[0].sigmoid(),
        gates[1].sigmoid(),
        gates[2].tanh(),
        gates[3].sigmoid(),
    );
    let c_next = &(&f * &c) + &(&i * &g);
    let h_next = &o * &c_next.tanh();
    let mut grads = tape
        .backward_with(&h_next, Tensor::ones(&[BATCH, HIDDEN]))
        .expect("recorded");
    [&x, &w, &b, &c].map(|v| grads.take(v).expect("reaches the output"))
}

/// The same step with tensor ops, and its backward written out by hand.
fn lstm_step_by_hand(inputs: &[Tensor<f32>; 4]) -> [Tensor<f32>; 4] {
    let [x, w, b, c] = inputs;
    // Forward.
    let z = x.matmul(w).add(b);
    let gates = z.chunk(4, 1);
    let (i, f, g, o) = (
        gates[0].sigmoid(),
        gates[1].sigmoid(),
        gates[2].tanh(),
        gates[3].sigmoid(),
    );
    let c_next = f.mul(c).add(&i.mul(&g));
    let tanh_c = c_next.tanh();
    let h_next = o.mul(&tanh_c);
    black_box(&h_next);
    // Backward from dh = 1.
    let dh = Tensor::ones(&[BATCH, HIDDEN]);
    let d_o = dh.mul(&tanh_c);
    let dc_next = dh
        .mul(&o)
        .zip_with(&tanh_c, "tanh'", |g, y| g * (1.0 - y * y));
    let (d_f, dc) = (dc_next.mul(c), dc_next.mul(&f));
    let (d_i, d_g) = (dc_next.mul(&g), dc_next.mul(&i));
    let sigmoid_grad = |grad: &Tensor<f32>, y: &Tensor<f32>| {
        grad.zip_with(y, "sigmoid'", |g, y| g * y * (1.0 - y))
    };
    let dz = Tensor::concat(
        &[
            sigmoid_grad(&d_i, &i),
            sigmoid_grad(&d_f, &f),
            d_g.zip_with(&g, "tanh'", |g, y| g * (1.0 - y * y)),
            sigmoid_grad(&d_o, &o),
        ],
        1,
    );
    [
        dz.matmul(&w.t()),
        x.t().matmul(&dz),
        dz.sum_axis(0, false),
        dc,
    ]
}

// ---------------------------------------------------------------------------
// 3. Cutting T time steps
// ---------------------------------------------------------------------------

const SLICE_BATCH: usize = 64;
const SLICE_WIDTH: usize = 512;
const STEP_COUNTS: [usize; 3] = [50, 100, 200];

fn sequence(steps: usize) -> Tensor<f32> {
    Tensor::rand_uniform(
        &[SLICE_BATCH, steps, SLICE_WIDTH],
        -1.0,
        1.0,
        &mut StdRng::seed_from_u64(3),
    )
}

/// `L = sum_t sum(x[:, t, :])` on a tape, and `dL/dx`.
fn slices_tape(x: &Tensor<f32>) -> Tensor<f32> {
    let tape = Tape::new();
    let x = tape.leaf(x.clone());
    let sums: Vec<Var<f32>> = (0..x.dim(1)).map(|t| x.narrow(1, t, 1).sum()).collect();
    let loss = Var::stack(&sums, 0).sum();
    tape.backward(&loss)
        .expect("recorded")
        .take(&x)
        .expect("reaches the loss")
}

/// The same by hand: the forward sums, then each slice's gradient (ones) added into one buffer.
fn slices_by_hand(x: &Tensor<f32>) -> Tensor<f32> {
    let steps = x.dim(1);
    let sums: Vec<Tensor<f32>> = (0..steps).map(|t| x.narrow(1, t, 1).sum()).collect();
    black_box(Tensor::stack(&sums, 0).sum());
    let mut grad = Tensor::zeros(x.shape());
    let ones = Tensor::ones(&[]).broadcast_to(&[SLICE_BATCH, 1, SLICE_WIDTH]);
    for t in 0..steps {
        grad.narrow_add_assign(1, t, &ones);
    }
    grad
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

fn bench(c: &mut Criterion) {
    let short = |group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>| {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    };

    let inputs = small();
    let mut group = c.benchmark_group(format!("chain of {CHAIN_OPS} ops on [4]"));
    short(&mut group);
    group.bench_function("plain tensors", |b| {
        b.iter(|| chain_plain(&inputs[0], &inputs[1], &inputs[2]))
    });
    group.bench_function("no_grad tape", |b| {
        b.iter(|| chain_on_tape(&inputs, false, false))
    });
    group.bench_function("recorded", |b| {
        b.iter(|| chain_on_tape(&inputs, true, false))
    });
    group.bench_function("recorded + backward", |b| {
        b.iter(|| chain_on_tape(&inputs, true, true))
    });
    group.finish();

    let inputs = lstm_inputs();
    let mut group = c.benchmark_group("LSTM step B=64 I=128 H=128, forward + backward");
    short(&mut group);
    group.bench_function("by hand", |b| b.iter(|| lstm_step_by_hand(&inputs)));
    group.bench_function("tape", |b| b.iter(|| lstm_step_tape(&inputs)));
    group.finish();

    for steps in STEP_COUNTS {
        let x = sequence(steps);
        let mut group = c.benchmark_group(format!(
            "{steps} slices of [64, {steps}, 512], forward + backward"
        ));
        short(&mut group);
        group.bench_function("by hand", |b| b.iter(|| slices_by_hand(&x)));
        group.bench_function("tape", |b| b.iter(|| slices_tape(&x)));
        group.finish();
    }
}

/// Best wall time of each contender, in seconds, over about 600 ms. The
/// contenders take turns, so a change in the machine's load (others compile
/// and benchmark here too) hits all of them alike.
fn best_times<const N: usize>(mut contenders: [&mut dyn FnMut(); N]) -> [f64; N] {
    for run in contenders.iter_mut() {
        run(); // warm up caches and the allocator
    }
    let start = Instant::now();
    let mut best = [f64::INFINITY; N];
    let mut rounds = 0;
    while rounds < 5 || start.elapsed() < Duration::from_millis(600) {
        for (run, best) in contenders.iter_mut().zip(&mut best) {
            let t = Instant::now();
            run();
            *best = best.min(t.elapsed().as_secs_f64());
        }
        rounds += 1;
    }
    best
}

/// Checks that the tape and the hand-written backward agree before timing them.
fn check_agreement() {
    let inputs = lstm_inputs();
    let (tape, by_hand) = (lstm_step_tape(&inputs), lstm_step_by_hand(&inputs));
    for (name, (a, b)) in ["dx", "dW", "db", "dc"]
        .iter()
        .zip(tape.iter().zip(&by_hand))
    {
        assert!(
            a.all_close(b, 1e-4),
            "LSTM step: tape and hand-written {name} differ"
        );
    }
    let x = sequence(STEP_COUNTS[0]);
    assert!(
        slices_tape(&x).all_close(&slices_by_hand(&x), 0.0),
        "slices: gradients differ"
    );
}

/// The figures, with `threads` threads (0: the default, all cores).
fn summary(threads: usize) {
    tensor::set_num_threads(threads);
    let setting = if threads == 0 { "default" } else { "set" };
    println!();
    println!(
        "tape cost, f32, best of >= 5 alternating runs, {} threads ({setting})",
        tensor::num_threads()
    );

    let inputs = small();
    let [plain, no_grad, recorded, with_backward] = best_times([
        &mut || {
            black_box(chain_plain(&inputs[0], &inputs[1], &inputs[2]));
        },
        &mut || chain_on_tape(&inputs, false, false),
        &mut || chain_on_tape(&inputs, true, false),
        &mut || chain_on_tape(&inputs, true, true),
    ]);
    let per_op = |seconds: f64| seconds / CHAIN_OPS as f64 * 1e9;
    println!();
    println!("1. chain of {CHAIN_OPS} elementwise ops on [4] tensors, ns per op");
    println!("| {:<22} | {:>10} |", "", "ns / op");
    println!("|{:-<24}|{:->12}|", "", "");
    for (name, seconds) in [
        ("plain tensors", plain),
        ("no_grad tape", no_grad),
        ("recorded", recorded),
        ("recorded + backward", with_backward),
    ] {
        println!("| {name:<22} | {:>10.0} |", per_op(seconds));
    }
    println!(
        "recording adds {:.0} ns per op; backward {:.0} ns per op",
        per_op(recorded - plain),
        per_op(with_backward - recorded)
    );

    let inputs = lstm_inputs();
    let [by_hand, tape] = best_times([
        &mut || {
            black_box(lstm_step_by_hand(&inputs));
        },
        &mut || {
            black_box(lstm_step_tape(&inputs));
        },
    ]);
    println!();
    println!("2. LSTM step, batch {BATCH}, input {INPUT}, hidden {HIDDEN}: forward + backward");
    println!(
        "by hand {:.1} µs, tape {:.1} µs: the tape adds {:+.1}%",
        by_hand * 1e6,
        tape * 1e6,
        (tape / by_hand - 1.0) * 100.0
    );

    println!();
    println!("3. T slices of [64, T, 512] summed, forward + backward, ns per element of x");
    println!(
        "| {:>4} | {:>10} | {:>10} | {:>10} |",
        "T", "by hand", "tape", "tape/hand"
    );
    println!("|{:->6}|{:->12}|{:->12}|{:->12}|", "", "", "", "");
    for steps in STEP_COUNTS {
        let x = sequence(steps);
        let elements = x.numel() as f64;
        let [hand, tape] = best_times([
            &mut || {
                black_box(slices_by_hand(&x));
            },
            &mut || {
                black_box(slices_tape(&x));
            },
        ]);
        println!(
            "| {steps:>4} | {:>10.3} | {:>10.3} | {:>9.2}x |",
            hand / elements * 1e9,
            tape / elements * 1e9,
            tape / hand
        );
    }
}

fn main() {
    check_agreement();
    let args: Vec<String> = std::env::args().collect();
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    // Only under `cargo bench` (which passes `--bench`), not `cargo test --benches`.
    if args.iter().any(|a| a == "--bench") {
        // Once with the default thread count, once with it set explicitly: the
        // default is looked up per op, which small ops feel.
        summary(0);
        summary(1);
        tensor::set_num_threads(0);
    }
}
