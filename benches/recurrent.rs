//! Recurrent layers, forward + backward, in tokens per second.
//!
//! The workload of the IMDB tutorial: a batch of 64 sequences of 200 tokens,
//! embedding width E = 128, hidden size H = 128, f32. One iteration records
//! the layer on a fresh tape, reduces its output to a scalar and runs
//! `backward`, i.e. one training step of the layer without the optimizer:
//!
//! - `LSTM`: one direction, `[64 x 200] @ [128 -> 4*128]` input projection once,
//!   then 200 recurrent steps, each step's elementwise part one fused op;
//! - `LSTM, composed`: the same with the cell's composed graph of ops
//!   (`RecurrentConfig::fused` off), the reference the fused step is proven equal to;
//! - `LSTM, 4 shards in parallel`: the batch cut into 4 shards of 16 rows,
//!   each recorded on its own tape by its own thread (`tensor::parallel_map`),
//!   the gradients added: what the training loop does;
//! - `LSTM, 1 thread`: `LSTM` with `tensor::set_num_threads(1)`;
//! - `GRU`, `GRU, composed`: the same with three gates;
//! - `BiLSTM`: two directions (twice the work of `LSTM`);
//! - baseline, `LSTM, projection per step`: the same LSTM written the naive
//!   way, multiplying each step's input inside the time loop (200 small
//!   `[64 x 128] @ [128 x 512]` products instead of one large one), to show
//!   what hoisting the input projection out of the loop buys.
//!
//! Tokens/s = 64 * 200 / (seconds per iteration). After criterion, a summary
//! table (best of a few runs per contender, taken in turns) prints tokens/s,
//! milliseconds per batch and the forward-only figure.
//!
//! Run with `cargo bench --bench recurrent` (about a minute). PyTorch's
//! figures for the same step come from `benches/peers/imdb_pytorch.py step`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use autograd::{Tape, Var};
use criterion::{BenchmarkId, Criterion, Throughput};
use nn::{Gru, Lstm, Module, RecurrentConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

const BATCH: usize = 64;
const TIME: usize = 200;
const EMBED: usize = 128;
const HIDDEN: usize = 128;
const TOKENS: usize = BATCH * TIME;

/// The layers under test and their input.
struct Setup {
    lstm: Lstm<f32>,
    lstm_composed: Lstm<f32>,
    gru: Gru<f32>,
    gru_composed: Gru<f32>,
    bilstm: Lstm<f32>,
    x: Tensor<f32>,
}

impl Setup {
    fn new() -> Setup {
        let mut rng = StdRng::seed_from_u64(0);
        let bi = RecurrentConfig {
            bidirectional: true,
            ..Default::default()
        };
        let composed = RecurrentConfig {
            fused: false,
            ..Default::default()
        };
        Setup {
            lstm: Lstm::new(EMBED, HIDDEN, &mut rng),
            lstm_composed: Lstm::with_config(EMBED, HIDDEN, composed, &mut rng),
            gru: Gru::new(EMBED, HIDDEN, &mut rng),
            gru_composed: Gru::with_config(EMBED, HIDDEN, composed, &mut rng),
            bilstm: Lstm::with_config(EMBED, HIDDEN, bi, &mut rng),
            x: Tensor::rand_normal(&[BATCH, TIME, EMBED], 0.0, 1.0, &mut rng),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Who {
    Lstm,
    LstmComposed,
    LstmSharded,
    LstmOneThread,
    Gru,
    GruComposed,
    BiLstm,
    NaiveLstm,
}

const WHO: [Who; 8] = [
    Who::Lstm,
    Who::LstmComposed,
    Who::LstmSharded,
    Who::LstmOneThread,
    Who::Gru,
    Who::GruComposed,
    Who::BiLstm,
    Who::NaiveLstm,
];

/// Rows per shard for `LstmSharded`, as the training loop cuts a batch.
const SHARD: usize = 16;

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Lstm => "LSTM (fused step)",
            Who::LstmComposed => "LSTM, composed cell",
            Who::LstmSharded => "LSTM, 4 shards in parallel",
            Who::LstmOneThread => "LSTM, 1 thread (set_num_threads(1))",
            Who::Gru => "GRU (fused step)",
            Who::GruComposed => "GRU, composed cell",
            Who::BiLstm => "BiLSTM (fused step)",
            Who::NaiveLstm => "LSTM, projection per step (baseline)",
        }
    }

    /// The layer's output `[B, T, F]` for input rows `rows` on `tape`.
    fn forward_rows(
        self,
        setup: &Setup,
        tape: &Tape<f32>,
        rows: std::ops::Range<usize>,
    ) -> Var<f32> {
        let x = tape.leaf(setup.x.narrow(0, rows.start, rows.len()));
        match self {
            Who::Lstm | Who::LstmOneThread | Who::LstmSharded => {
                setup.lstm.forward(tape, &x).output
            }
            Who::LstmComposed => setup.lstm_composed.forward(tape, &x).output,
            Who::Gru => setup.gru.forward(tape, &x).output,
            Who::GruComposed => setup.gru_composed.forward(tape, &x).output,
            Who::BiLstm => setup.bilstm.forward(tape, &x).output,
            Who::NaiveLstm => naive_lstm(&setup.lstm, tape, &x),
        }
    }

    /// The layer's output `[B, T, F]` on `tape`.
    fn forward(self, setup: &mut Setup, tape: &Tape<f32>) -> Var<f32> {
        self.forward_rows(setup, tape, 0..BATCH)
    }

    /// Runs `f` with this contender's thread setting (all cores but for
    /// `LstmOneThread`), restoring the default afterwards.
    fn with_threads(self, f: impl FnOnce()) {
        if let Who::LstmOneThread = self {
            tensor::set_num_threads(1);
        }
        f();
        tensor::set_num_threads(0);
    }

    /// One forward + backward pass.
    fn step(self, setup: &mut Setup) {
        if self == Who::LstmSharded {
            let setup = &*setup;
            let mut grads = tensor::parallel_map(BATCH / SHARD, |shard| {
                let tape = Tape::new();
                let rows = shard * SHARD..(shard + 1) * SHARD;
                let loss = self.forward_rows(setup, &tape, rows).mean();
                tape.backward(&loss).unwrap()
            })
            .into_iter();
            let mut total = grads.next().unwrap();
            for other in grads {
                total.add_params(&other);
            }
            black_box(total);
            return;
        }
        self.with_threads(|| {
            let tape = Tape::new();
            let loss = self.forward(setup, &tape).mean();
            black_box(tape.backward(&loss).unwrap());
        });
    }

    /// Forward only, recording nothing (inference).
    fn infer(self, setup: &mut Setup) {
        if self == Who::LstmSharded {
            let setup = &*setup;
            black_box(tensor::parallel_map(BATCH / SHARD, |shard| {
                let tape = Tape::no_grad();
                let rows = shard * SHARD..(shard + 1) * SHARD;
                self.forward_rows(setup, &tape, rows).value().clone()
            }));
            return;
        }
        self.with_threads(|| {
            let tape = Tape::no_grad();
            black_box(self.forward(setup, &tape));
        });
    }
}

/// The pitfall: the input projection inside the loop, one small product per step.
fn naive_lstm(layer: &Lstm<f32>, tape: &Tape<f32>, x: &Var<f32>) -> Var<f32> {
    let p: Vec<Var<f32>> = layer
        .named_params()
        .into_iter()
        .map(|(_, param)| tape.param(param))
        .collect();
    let (w_ih_t, w_hh_t, bias) = (p[0].t(), p[1].t(), &p[2] + &p[3]);
    let mut h = tape.constant(Tensor::zeros(&[BATCH, HIDDEN]));
    let mut c = h.clone();
    let mut outputs = Vec::with_capacity(TIME);
    for x_t in x.unbind(1) {
        let gates = &(&x_t.matmul(&w_ih_t) + &h.matmul(&w_hh_t)) + &bias;
        let g = gates.chunk(4, 1);
        c = &(&g[1].sigmoid() * &c) + &(&g[0].sigmoid() * &g[2].tanh());
        h = &g[3].sigmoid() * &c.tanh();
        outputs.push(h.clone());
    }
    Var::stack(&outputs, 1)
}

fn bench(c: &mut Criterion, setup: &mut Setup) {
    let mut group = c.benchmark_group(format!("recurrent fwd+bwd [{BATCH} x {TIME}] E=H={HIDDEN}"));
    group.throughput(Throughput::Elements(TOKENS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));
    for who in WHO {
        group.bench_function(BenchmarkId::from_parameter(who.name()), |b| {
            b.iter(|| who.step(setup))
        });
    }
    group.finish();
}

/// Best seconds per call of `f` for each contender, taken in turns for about `budget`.
fn best_in_turns(setup: &mut Setup, budget: Duration, f: fn(Who, &mut Setup)) -> [f64; 8] {
    let mut best = [f64::INFINITY; 8];
    for who in WHO {
        f(who, setup); // warm up
    }
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || start.elapsed() < budget {
        for (slot, who) in best.iter_mut().zip(WHO) {
            let t = Instant::now();
            f(who, setup);
            *slot = slot.min(t.elapsed().as_secs_f64());
        }
        rounds += 1;
    }
    best
}

fn summary(setup: &mut Setup) {
    let train = best_in_turns(setup, Duration::from_secs(8), Who::step);
    let infer = best_in_turns(setup, Duration::from_secs(3), Who::infer);
    println!();
    println!(
        "Recurrent layers on [{BATCH} x {TIME}] tokens, E = H = {HIDDEN}, f32, {} threads; best of >= 3 runs in turns",
        tensor::num_threads()
    );
    println!(
        "| {:<38} | {:>14} | {:>12} | {:>16} |",
        "layer", "fwd+bwd tok/s", "ms / batch", "forward tok/s"
    );
    println!("|{:-<40}|{:->16}|{:->14}|{:->18}|", "", "", "", "");
    for ((who, t), f) in WHO.iter().zip(train).zip(infer) {
        println!(
            "| {:<38} | {:>14.0} | {:>12.1} | {:>16.0} |",
            who.name(),
            TOKENS as f64 / t,
            t * 1e3,
            TOKENS as f64 / f
        );
    }
    let tape = Tape::new();
    let out = Who::Lstm.forward(setup, &tape);
    println!(
        "LSTM tape: {} nodes, {:.1} MB saved for backward ({} parameters)",
        tape.len(),
        tape.memory_bytes() as f64 / 1e6,
        setup.lstm.num_params()
    );
    drop(out);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut setup = Setup::new();
    if std::env::var_os("RECURRENT_SUMMARY_ONLY").is_none() {
        let mut criterion = Criterion::default().configure_from_args();
        bench(&mut criterion, &mut setup);
        criterion.final_summary();
    }
    // Only under `cargo bench` (which passes `--bench`), not `cargo test --benches`.
    if args.iter().any(|a| a == "--bench") {
        summary(&mut setup);
    }
}
