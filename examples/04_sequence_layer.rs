//! Walk 4 of 5, the `nn` crate's sequence layer: `nn::Lstm` (like `Gru` and
//! `Rnn`, one time loop over a cell) runs a padded batch, both directions,
//! and hands back the output at every step and the final states.
//!
//! ```text
//! cargo run --example 04_sequence_layer
//! ```
//!
//! Two sequences of lengths 5 and 3 in one `[2, 5, 3]` batch. It prints the
//! shapes, then checks and prints what the layer promises: padded steps
//! output zeros; the forward direction's final state is its output at each
//! sequence's own last step, the reverse direction's at its first step; a
//! `[B, T]` mask gives the same as lengths; and the short sequence run alone,
//! without padding, gives the same numbers.

use autograd::Tape;
use nn::{lengths_to_mask, Lstm, RecurrentConfig, SequenceOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

fn main() {
    let (input, hidden) = (3, 4);
    let rng = &mut StdRng::seed_from_u64(0);
    let config = RecurrentConfig {
        bidirectional: true,
        ..RecurrentConfig::default()
    };
    let lstm = Lstm::<f64>::with_config(input, hidden, config, rng);
    let x = Tensor::rand_uniform(&[2, 5, input], -1.0, 1.0, rng);
    let lengths = [5, 3]; // the second sequence's steps 3 and 4 are padding

    let tape = Tape::new();
    let run = lstm.forward_options(
        &tape,
        &tape.constant(x.clone()),
        &SequenceOptions::new().lengths(&lengths),
    );
    let (output, h_n) = (run.output.value(), run.h_n.value());
    println!(
        "input  {:?} = [batch, time, features], lengths {lengths:?}",
        x.shape()
    );
    println!(
        "output {:?} = [batch, time, 2 * hidden]: forward ++ reverse at every step",
        output.shape()
    );
    println!(
        "h_n    {:?} = [layers * directions, batch, hidden]; c_n the same",
        h_n.shape()
    );
    println!(
        "final_hidden() {:?}: what a classifier reads",
        run.final_hidden().shape()
    );

    // 1. Padding never leaks: the short sequence outputs zeros after its end.
    let short = output.select(0, 1);
    println!("\nsequence 1, step 2 (its last): {}", short.select(0, 2));
    println!("sequence 1, step 3 (padding):  {}", short.select(0, 3));
    assert!(short.narrow(0, 3, 2).to_vec().iter().all(|&v| v == 0.0));

    // 2. Final states: forward at each sequence's last valid step, reverse at step 0.
    for (b, &length) in lengths.iter().enumerate() {
        let row = output.select(0, b);
        let forward_last = row.select(0, length - 1).narrow(0, 0, hidden);
        let reverse_first = row.select(0, 0).narrow(0, hidden, hidden);
        assert!(h_n.select(0, 0).select(0, b).all_close(&forward_last, 0.0));
        assert!(h_n.select(0, 1).select(0, b).all_close(&reverse_first, 0.0));
    }
    println!(
        "h_n[forward] = output at each sequence's last valid step; h_n[reverse] = output at step 0"
    );

    // 3. A mask of valid steps is the same instruction as the lengths.
    let mask = lengths_to_mask::<f64>(&lengths, 5);
    println!("\nmask from lengths {lengths:?}: {mask}");
    let masked = lstm.forward_options(
        &tape,
        &tape.constant(x.clone()),
        &SequenceOptions::new().mask(&mask),
    );
    assert!(masked.output.value().all_close(output, 0.0));
    println!("the masked run's output equals the run with lengths");

    // 4. The short sequence alone, 3 steps and no padding: the same numbers.
    let alone = lstm.forward(
        &tape,
        &tape.constant(x.narrow(0, 1, 1).narrow(1, 0, 3).contiguous()),
    );
    let difference = alone
        .output
        .value()
        .select(0, 0)
        .to_vec()
        .iter()
        .zip(short.narrow(0, 0, 3).to_vec())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("sequence 1 run alone: largest difference from the padded batch {difference:.1e}");
    assert!(difference < 1e-12);
    assert!(alone
        .h_n
        .value()
        .select(1, 0)
        .all_close(&h_n.select(1, 1), 1e-12));
}
