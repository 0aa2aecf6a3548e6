//! GEMM throughput: tapegrad's `gemm` against `matrixmultiply::sgemm`, in GFLOP/s.
//!
//! Shapes: square `n = 64 .. 2048`, and the products of an LSTM layer with
//! batch 64, input 128, hidden 128 (gates 4 x 128 = 512): one time step
//! `[64 x 128] @ [128 x 512]`, the whole-sequence input projection
//! `[12800 x 128] @ [128 x 512]` (200 steps), and the backward forms of each,
//! `dX = G Wᵀ` (`A Bᵀ`) and `dW = Xᵀ G` (`Aᵀ B`), where the transposes are
//! strided views, not copies. Each shape runs on our kernel with 1 thread and
//! with all threads, and on `matrixmultiply` (one thread) as a baseline in
//! the same run.
//!
//! Criterion reports throughput in "elements/s" where one element is one
//! flop (`2 m n k` per product). After criterion, a summary table prints
//! GFLOP/s and the ratios that matter, each shape's three contenders timed in
//! turns (best of many runs) so that load from other processes hits them alike.
//! A fourth figure in the same turns, the **ceiling**, is every core running
//! its own single-thread product at the same moment (nothing shared, nothing
//! waited for): the most one product split over the cores could hope for on
//! this machine, whose memory system the cores share.
//!
//! Run with `cargo bench --bench matmul` (about 3 minutes); add a filter,
//! e.g. `cargo bench --bench matmul -- lstm`, to run fewer shapes, and set
//! `MATMUL_SUMMARY_ONLY=1` to skip criterion and print only the table (~20 s).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tensor::fast::matmul::{gemm_with, GemmConfig, MatMut, MatRef};

/// One product: `C (m x n) = A (m x k) B (k x n)`, with A and/or B possibly
/// stored transposed (then read through swapped strides).
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_transposed: bool,
    b_transposed: bool,
}

impl Shape {
    const fn plain(name: &'static str, m: usize, k: usize, n: usize) -> Self {
        Shape {
            name,
            m,
            k,
            n,
            a_transposed: false,
            b_transposed: false,
        }
    }

    fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n) as f64
    }

    fn label(&self) -> String {
        let t = |yes: bool| if yes { "ᵀ" } else { "" };
        format!(
            "{} [{}x{}]{}@[{}x{}]{}",
            self.name,
            self.m,
            self.k,
            t(self.a_transposed),
            self.k,
            self.n,
            t(self.b_transposed)
        )
    }
}

fn shapes() -> Vec<Shape> {
    let mut out: Vec<Shape> = [64, 128, 256, 512, 1024, 2048]
        .iter()
        .map(|&n| Shape::plain("square", n, n, n))
        .collect();
    for (name, batch) in [("lstm-step", 64), ("lstm-seq", 12800)] {
        let (input, gates) = (128, 512);
        out.push(Shape::plain(name, batch, input, gates)); // X W
                                                           // X Wᵀ: the same product with W stored PyTorch-style, [gates x input].
        out.push(Shape {
            name,
            m: batch,
            k: input,
            n: gates,
            a_transposed: false,
            b_transposed: true,
        });
        // dX = G Wᵀ: [batch x gates] @ [gates x input], W stored [input x gates].
        out.push(Shape {
            name,
            m: batch,
            k: gates,
            n: input,
            a_transposed: false,
            b_transposed: true,
        });
        // dW = Xᵀ G: [input x batch] @ [batch x gates], X stored [batch x input].
        out.push(Shape {
            name,
            m: input,
            k: batch,
            n: gates,
            a_transposed: true,
            b_transposed: false,
        });
    }
    out
}

/// Operands in the layout the shape names, filled with small values.
struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    /// Row and column strides of A and B as stored.
    a_strides: (usize, usize),
    b_strides: (usize, usize),
}

impl Operands {
    fn new(s: &Shape) -> Self {
        let fill = |len: usize| {
            (0..len)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect::<Vec<f32>>()
        };
        // A row-major `m x k` has strides (k, 1); stored transposed (`k x m`
        // row-major) it is read with strides (1, m).
        let a_strides = if s.a_transposed { (1, s.m) } else { (s.k, 1) };
        let b_strides = if s.b_transposed { (1, s.k) } else { (s.n, 1) };
        Operands {
            a: fill(s.m * s.k),
            b: fill(s.k * s.n),
            c: vec![0.0; s.m * s.n],
            a_strides,
            b_strides,
        }
    }

    fn ours(&mut self, s: &Shape, config: &GemmConfig) {
        let a = MatRef::new(&self.a, 0, s.m, s.k, self.a_strides.0, self.a_strides.1);
        let b = MatRef::new(&self.b, 0, s.k, s.n, self.b_strides.0, self.b_strides.1);
        gemm_with(
            config,
            1.0,
            a,
            b,
            0.0,
            MatMut::from_slice(&mut self.c, s.m, s.n),
        );
        black_box(&self.c);
    }

    fn baseline(&mut self, s: &Shape) {
        // SAFETY: the pointers address m*k, k*n and m*n elements laid out with
        // the given strides, all within the three vectors, and C does not alias A or B.
        unsafe {
            matrixmultiply::sgemm(
                s.m,
                s.k,
                s.n,
                1.0,
                self.a.as_ptr(),
                self.a_strides.0 as isize,
                self.a_strides.1 as isize,
                self.b.as_ptr(),
                self.b_strides.0 as isize,
                self.b_strides.1 as isize,
                0.0,
                self.c.as_mut_ptr(),
                s.n as isize,
                1,
            );
        }
        black_box(&self.c);
    }
}

/// Seconds for `threads` single-thread products run at the same moment, one
/// per thread, each into its own C (the slowest thread's time): what the
/// cores deliver on this shape when they do not cooperate at all, the ceiling
/// for one product split between them. Each thread runs its product once
/// before the clock starts, so that its packing buffers and C are in memory.
fn independent_products(ops: &Operands, s: &Shape, threads: usize) -> f64 {
    const ONE: GemmConfig = GemmConfig {
        kernel: None,
        threads: 1,
    };
    let barrier = Barrier::new(threads);
    let run = || {
        let mut c = vec![0.0f32; s.m * s.n];
        let product = |c: &mut [f32]| {
            let a = MatRef::new(&ops.a, 0, s.m, s.k, ops.a_strides.0, ops.a_strides.1);
            let b = MatRef::new(&ops.b, 0, s.k, s.n, ops.b_strides.0, ops.b_strides.1);
            gemm_with(&ONE, 1.0, a, b, 0.0, MatMut::from_slice(c, s.m, s.n));
        };
        product(&mut c); // warm up
        barrier.wait();
        let start = Instant::now();
        product(&mut c);
        black_box(&c);
        start.elapsed().as_secs_f64()
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(run)).collect();
        let mine = run();
        others
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .fold(mine, f64::max)
    })
}

/// The three contenders of every shape.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Ours1,
    OursAll,
    MatrixMultiply,
}

impl Who {
    fn name(self, threads: usize) -> String {
        match self {
            Who::Ours1 => "tapegrad 1 thread".into(),
            Who::OursAll => format!("tapegrad {threads} threads"),
            Who::MatrixMultiply => "matrixmultiply 1 thread".into(),
        }
    }

    fn run(self, ops: &mut Operands, s: &Shape, all: &GemmConfig) {
        const ONE: GemmConfig = GemmConfig {
            kernel: None,
            threads: 1,
        };
        match self {
            Who::Ours1 => ops.ours(s, &ONE),
            Who::OursAll => ops.ours(s, all),
            Who::MatrixMultiply => ops.baseline(s),
        }
    }
}

const WHO: [Who; 3] = [Who::Ours1, Who::OursAll, Who::MatrixMultiply];

fn bench(c: &mut Criterion) {
    let all = GemmConfig::default();
    for s in shapes() {
        let mut group = c.benchmark_group(s.label());
        group.throughput(Throughput::Elements(s.flops() as u64));
        let big = s.flops() > 4e9;
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(if big { 500 } else { 300 }));
        group.measurement_time(Duration::from_millis(if big { 2500 } else { 1000 }));
        let mut ops = Operands::new(&s);
        for who in WHO {
            group.bench_function(
                BenchmarkId::from_parameter(who.name(all.threads)),
                |bench| bench.iter(|| who.run(&mut ops, &s, &all)),
            );
        }
        group.finish();
    }
}

/// GFLOP/s of each contender on one shape: the best of many runs, taken in
/// turns (one run of each, then again) for about a second (`MATMUL_BUDGET_MS`
/// to change it), so that a burst of load from other processes hits all of
/// them alike and the ratios stay fair.
fn gflops_in_turns(s: &Shape, ops: &mut Operands, all: &GemmConfig) -> [f64; 4] {
    let millis = std::env::var("MATMUL_BUDGET_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    let budget = Duration::from_millis(millis.unwrap_or(1200));
    let mut best = [f64::INFINITY; 4];
    for who in WHO {
        who.run(ops, s, all); // warm up caches and the packing buffers
    }
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || start.elapsed() < budget {
        for (slot, who) in best.iter_mut().zip(WHO) {
            let t = Instant::now();
            who.run(ops, s, all);
            *slot = slot.min(t.elapsed().as_secs_f64());
        }
        best[3] = best[3].min(independent_products(ops, s, all.threads) / all.threads as f64);
        rounds += 1;
    }
    best.map(|seconds| s.flops() / seconds / 1e9)
}

/// The table for `benches/README.md`: GFLOP/s per contender and the ratios.
fn summary(filter: Option<&str>) {
    let all = GemmConfig::default();
    println!();
    println!(
        "GFLOP/s, f32, best of >= 3 runs taken in turns ({} threads = all cores)",
        all.threads
    );
    println!(
        "ceiling nT: {} independent 1-thread products at the same moment, one per core",
        all.threads
    );
    println!(
        "| {:<34} | {:>9} | {:>9} | {:>9} | {:>10} | {:>7} | {:>12} | {:>14} |",
        "shape",
        "ours 1T",
        format!("ours {}T", all.threads),
        "mm 1T",
        "ours/mm 1T",
        "nT/1T",
        "ceiling nT",
        "ours nT / ceil"
    );
    println!(
        "|{:-<36}|{:->11}|{:->11}|{:->11}|{:->12}|{:->9}|{:->14}|{:->16}|",
        "", "", "", "", "", "", "", ""
    );
    for s in shapes() {
        if filter.is_some_and(|f| !s.label().contains(f)) {
            continue;
        }
        let mut ops = Operands::new(&s);
        let [one, many, mm, ceiling] = gflops_in_turns(&s, &mut ops, &all);
        println!(
            "| {:<34} | {one:>9.1} | {many:>9.1} | {mm:>9.1} | {:>9.2}x | {:>6.2}x | {ceiling:>12.1} | {:>13.2}x |",
            s.label(),
            one / mm,
            many / one,
            many / ceiling
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os("MATMUL_SUMMARY_ONLY").is_none() {
        let mut criterion = Criterion::default().configure_from_args();
        bench(&mut criterion);
        criterion.final_summary();
    }
    // Only under `cargo bench` (which passes `--bench`), not `cargo test --benches`.
    if args.iter().any(|a| a == "--bench") {
        let filter = args
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .map(String::as_str);
        summary(filter);
    }
}
