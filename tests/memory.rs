//! Live heap memory stays flat over training steps: nothing a step makes
//! outlives it but the updated weights and the optimizer's state.
//!
//! A counting global allocator (this test binary's own) tracks the bytes
//! currently allocated. A tape that survived its step (the reference cycle
//! of a tape that holds vars pointing back to it, say) would keep its whole
//! recording and, through copy-on-write, a copy of every weight alive: the
//! count would grow by megabytes per step.
//!
//! The count is of the whole process, so nothing else may allocate while it
//! runs: this file has no test harness (`harness = false` in `Cargo.toml`),
//! whose own thread would otherwise book-keep the running test at moments
//! that vary from run to run (it once added 900 bytes mid-count). `main`
//! runs the check on the main thread, alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use autograd::Tape;
use nn::CellKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::{Indices, Tensor};
use train::models::{SentimentConfig, SentimentModel, SentimentPool};
use train::optim::{clip_grad_norm, Adam, Optimizer};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::SeqCst);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::SeqCst)
}

fn main() {
    let name = "live_memory_after_many_training_steps_equals_live_memory_after_one";
    live_memory_after_many_training_steps_equals_live_memory_after_one();
    println!("test {name} ... ok");
}

fn live_memory_after_many_training_steps_equals_live_memory_after_one() {
    let config = SentimentConfig {
        embedding_dim: 16,
        hidden_size: 24,
        cell: CellKind::Lstm,
        bidirectional: true,
        dropout: 0.2,
        recurrent_dropout: 0.1,
        pool: SentimentPool::Last,
        ..SentimentConfig::new(100)
    };
    let mut model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(1e-3);
    let mut data_rng = StdRng::seed_from_u64(1);
    let batches: Vec<(Indices, Tensor<f32>)> = (0..8)
        .map(|_| {
            let ids = (0..8 * 30).map(|_| data_rng.gen_range(1..100)).collect();
            let labels = (0..8).map(|_| data_rng.gen_range(0..2) as f32).collect();
            (Indices::new(ids, &[8, 30]), Tensor::from_vec(labels, &[8]))
        })
        .collect();
    let mut step = |model: &mut SentimentModel, n: usize| {
        let (ids, labels) = &batches[n % batches.len()];
        let tape = Tape::training(n as u64);
        let logits = model.forward(&tape, ids, None);
        let loss = model.loss(&logits, labels);
        let mut grads = tape.backward(&loss).unwrap();
        drop((loss, logits, tape));
        clip_grad_norm(&mut grads, 5.0).unwrap();
        adam.step(model, &grads).unwrap();
    };
    // Two warm-up steps: the optimizer's state and the worker threads appear on the first.
    step(&mut model, 0);
    step(&mut model, 1);
    let after_warm_up = live_bytes();
    for n in 2..40 {
        step(&mut model, n);
    }
    let after_many = live_bytes();
    assert_eq!(
        after_many - after_warm_up,
        0,
        "live heap bytes grew by {} over 38 training steps ({after_warm_up} -> {after_many})",
        after_many - after_warm_up
    );
}
