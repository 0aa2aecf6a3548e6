//! The reward at the end of chapter 3: the IMDB sentiment model trained
//! with **your** LSTM step (exercise 3.2) in place of the library's.
//!
//! ```text
//! cargo run --release -p exercises --example your_lstm_on_imdb                      # the whole data set, 2 epochs
//! cargo run --release -p exercises --example your_lstm_on_imdb -- --limit 2000 --epochs 1   # a minute
//! ```
//!
//! The model: an embedding of 128, an LSTM of 128 (yours: the library's
//! sequence layer running [`YourLstmCell`], which steps with
//! `exercises::ch3_nn::lstm_step`), the max and the mean of its outputs
//! over each review's real tokens, and a logit. The same model is then
//! trained with the library's `nn::LstmCell` from the same seed (the same
//! initial weights, batches and shards; both through the sequence layer's
//! plain time loop), and the program prints both test accuracies and
//! whether the trained weights are equal bit for bit: they are when your
//! step computes in the library's order, and within rounding otherwise.
//!
//! It first runs exercise 3.2's check, and stops if your step does not
//! pass it yet. `--library-step` runs the library's step inside your cell
//! instead (what CI does on the skeleton).

use std::error::Error;
use std::path::PathBuf;

use autograd::{Reduction, Tape, Var};
use clap::Parser;
use exercises::check::{self, Outcome};
use exercises::your_cell::YourLstmCell;
use nn::{
    Embedding, Linear, LstmCell, Module, Recurrent, RecurrentCell, RecurrentConfig, SequenceOptions,
};
use rand::{rngs::StdRng, SeedableRng};
use tensor::Tensor;
use train::data::{Batch, DataLoader, ImdbOptions, LoaderConfig, Review};
use train::fast::{run_tuned, Shards};
use train::optim::Adam;
use train::trainer::{evaluate, load_best, StepOutput, Trainer, TrainerConfig};

/// Train the IMDB sentiment model with your LSTM step, then with the library's, and compare.
#[derive(Parser, Debug)]
#[command(name = "your_lstm_on_imdb")]
struct Options {
    #[command(flatten)]
    data: ImdbOptions,
    /// Passes over the training reviews
    #[arg(long, default_value = "2")]
    epochs: usize,
    /// Reviews per batch
    #[arg(long, default_value = "64")]
    batch_size: usize,
    /// Adam's learning rate
    #[arg(long, default_value = "0.001")]
    lr: f64,
    /// The seed of the weights, the batches' order and the validation split
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Where the two runs' checkpoints and histories go (`yours/`, `library/`)
    #[arg(long, default_value = "runs/your_lstm_on_imdb")]
    out: PathBuf,
    /// Run the library's step inside your cell (to try the program before exercise 3.2 is done)
    #[arg(long)]
    library_step: bool,
    /// Train only the model with your step
    #[arg(long)]
    skip_library: bool,
}

/// Embedding, LSTM with cell `C`, max and mean over time, logit.
#[derive(Clone, Debug)]
struct Classifier<C: RecurrentCell<f32>> {
    embedding: Embedding,
    lstm: Recurrent<f32, C>,
    fc: Linear,
}

impl<C: RecurrentCell<f32>> Module<f32> for Classifier<C> {
    fn visit<'m>(&'m self, visitor: &mut nn::Visitor<'m, '_, f32>) {
        visitor.module("embedding", &self.embedding);
        visitor.module("lstm", &self.lstm);
        visitor.module("fc", &self.fc);
    }

    fn visit_mut(&mut self, visitor: &mut nn::VisitorMut<'_, f32>) {
        visitor.module("embedding", &mut self.embedding);
        visitor.module("lstm", &mut self.lstm);
        visitor.module("fc", &mut self.fc);
    }
}

impl<C: RecurrentCell<f32>> Classifier<C> {
    fn new(vocab_size: usize, seed: u64) -> Self {
        let rng = &mut StdRng::seed_from_u64(seed);
        Classifier {
            embedding: Embedding::new(vocab_size, 128, rng),
            // The plain time loop of `LstmCell::step`'s graph (the library's
            // fused loop, its appendix, sums W_hh's gradient in another
            // order: the same model within rounding, not bit for bit).
            lstm: Recurrent::with_config(
                128,
                128,
                RecurrentConfig {
                    fused: false,
                    ..Default::default()
                },
                rng,
            ),
            fc: Linear::new(256, 1, rng),
        }
    }

    /// The logit of each review of `batch`.
    fn forward(&self, tape: &Tape<f32>, batch: &Batch) -> Var<f32> {
        let mask = batch.mask();
        let x = self.embedding.forward(tape, &batch.token_ids);
        let options = SequenceOptions::new().mask(&mask);
        let output = self.lstm.forward_options(tape, &x, &options).output; // zeros at padding
        let (rows, time) = (mask.dim(0), mask.dim(1));
        let lengths: Vec<f32> = batch.lengths.iter().map(|&n| n.max(1) as f32).collect();
        let mean = &output.sum_axis(1, false) / &Tensor::from_vec(lengths, &[rows, 1]);
        let padding_far_below = mask.map(|m| (m - 1.0) * 1e9).reshape(&[rows, time, 1]);
        let max = (&output + &padding_far_below).max_axis(1, false);
        let features = Var::concat(&[max, mean], 1);
        self.fc.forward(tape, &features).reshape(&[rows])
    }
}

/// The loop's task: the mean binary cross-entropy, and the reviews classified right.
fn step<C: RecurrentCell<f32>>(
    model: &Classifier<C>,
    tape: &Tape<f32>,
    batch: &Batch,
) -> StepOutput {
    let logits = model.forward(tape, batch);
    let labels = batch.labels.to_vec();
    let correct = logits
        .value()
        .to_vec()
        .iter()
        .zip(&labels)
        .filter(|(z, y)| (**z > 0.0) == (**y > 0.5))
        .count();
    StepOutput {
        loss: logits.binary_cross_entropy_with_logits(&batch.labels, None, Reduction::Mean),
        examples: batch.len(),
        correct: Some(correct),
        tokens: batch.lengths.iter().sum(),
    }
}

/// The training, validation and test reviews.
struct Data {
    train: Vec<Review>,
    validation: Vec<Review>,
    test: Vec<Review>,
    vocab_size: usize,
}

/// Trains `model` and returns its test accuracy (of its best epoch).
fn train_and_test<C: RecurrentCell<f32>>(
    o: &Options,
    name: &str,
    model: &mut Classifier<C>,
    data: &Data,
) -> Result<f64, Box<dyn Error>> {
    println!("\n{name}:");
    let config = TrainerConfig {
        seed: o.seed,
        clip_norm: Some(5.0),
        ..TrainerConfig::new(o.epochs, o.out.join(name))
    };
    let mut trainer = Trainer::new(config)?.with_runner(Shards::default());
    let training = LoaderConfig {
        seed: o.seed,
        padding: o.data.padding,
        ..LoaderConfig::new(o.batch_size)
    };
    let evaluation = LoaderConfig {
        padding: o.data.padding,
        ..LoaderConfig::evaluation(128)
    };
    let task = &step::<C>;
    let report = trainer.fit(
        model,
        &mut Adam::new(o.lr),
        &DataLoader::new(&data.train, training)?,
        Some(&DataLoader::new(&data.validation, evaluation.clone())?),
        task,
    )?;
    load_best(model, &report)?;
    let tested = evaluate(
        &*model,
        &DataLoader::new(&data.test, evaluation)?,
        task,
        trainer.runner(),
    );
    let accuracy = tested.accuracy.unwrap_or(f64::NAN);
    println!("{name}: test accuracy {accuracy:.4}");
    Ok(accuracy)
}

fn run(o: &Options) -> Result<(), Box<dyn Error>> {
    if !o.library_step {
        let lstm = exercises::book::exercises()
            .into_iter()
            .find(|e| e.id == "3.2")
            .expect("exercise 3.2");
        match check::run(lstm.yours) {
            Outcome::Passed(checked) => println!("exercise 3.2, your lstm_step: passed ({checked})"),
            Outcome::NotYet => return Err("exercise 3.2 is not done yet: write lstm_step in exercises/src/ch3_nn.rs (or try the program with --library-step)".into()),
            Outcome::Wrong(case) => return Err(format!("exercise 3.2 does not pass yet: {case}\n(`cargo run -p exercises -- 3.2` checks it)").into()),
        }
    }
    let splits = o.data.load(o.seed)?;
    let data = Data {
        train: splits.train,
        validation: splits.validation,
        test: splits.test,
        vocab_size: splits.vocab.len(),
    };
    println!(
        "data: {} train / {} validation / {} test reviews",
        data.train.len(),
        data.validation.len(),
        data.test.len()
    );

    let mut yours = Classifier::<YourLstmCell>::new(data.vocab_size, o.seed);
    if o.library_step {
        for cell in yours.lstm.cells_mut() {
            cell.use_step(exercises::reference::lstm_step::<f32>);
        }
    }
    let your_accuracy = train_and_test(o, "yours", &mut yours, &data)?;
    if o.skip_library {
        return Ok(());
    }
    let mut library = Classifier::<LstmCell>::new(data.vocab_size, o.seed);
    let library_accuracy = train_and_test(o, "library", &mut library, &data)?;

    let (mut equal, mut worst) = (true, 0.0f32);
    for ((name, a), (_, b)) in yours.named_params().iter().zip(library.named_params()) {
        let (a, b) = (a.value().to_vec(), b.value().to_vec());
        equal &= a == b;
        let difference = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        if difference > worst {
            worst = difference;
            println!("largest difference so far: {name}, {difference:.2e}");
        }
    }
    println!(
        "\ntest accuracy: your step {your_accuracy:.4}, the library's {library_accuracy:.4}; trained weights {}",
        if equal { "equal bit for bit".to_string() } else { format!("differ by at most {worst:.2e}") }
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let options: Options = match train::cli::parse_options() {
        Ok(options) => options,
        Err(code) => return code,
    };
    train::cli::exit_code("your_lstm_on_imdb", run_tuned(|| run(&options)))
}
