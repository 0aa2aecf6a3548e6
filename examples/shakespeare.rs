//! Character-level text generation: an LSTM (or GRU) learns to write like Shakespeare.
//!
//! ```text
//! cargo run -p train --example shakespeare                       # train (the default run)
//! cargo run -p train --example shakespeare -- --generate --prompt "ROMEO: " --temperature 0.8
//! cargo run -p train --example shakespeare -- --preset tutorial  # the tutorials' size: LSTM 1024, 10 epochs
//! cargo run -p train --example shakespeare -- --help
//! ```
//!
//! As in the TensorFlow and PyTorch text-generation tutorials: tiny
//! Shakespeare (1.1 million characters, 65 distinct) cut into sequences of
//! 100 characters, each target the input shifted by one, batches of 64;
//! `Embedding(65, 256) -> LSTM -> Linear(65)`, cross-entropy per character,
//! Adam. After each epoch it prints a sample, and writes `last.safetensors`
//! (with the model's configuration and alphabet in its metadata) and
//! `best.safetensors`. `--generate` loads the latest checkpoint in a new
//! process and writes text from `--prompt`, carrying the state from one
//! character to the next; `--temperature 0` always takes the most likely
//! character.
//!
//! By default the windows are shuffled and the state starts from zero in
//! each (the tutorials' way, and the batch's rows train in parallel);
//! `--stateful` reads the text as 64 streams instead, each batch continuing
//! the last, the state carried over (truncated backpropagation through time).
//!
//! What to expect (the default run, LSTM 512 for 5 epochs, measured on this
//! project's 2-vCPU Intel Xeon): 65-97 s per epoch, about 7.5 minutes in
//! all, peak memory 216 MB; validation loss 2.04, 1.79, 1.68, 1.61 and
//! **1.57** nats per character after epochs 1 to 5. The sample after the
//! last epoch (temperature 0.8, the same text `--generate` prints):
//!
//! ```text
//! ROMEO: To play you as live, the loves with our censue
//! Coulder than for death and unnature this father
//! And in plaget, to death poison with me, and
//! The and the resalf of the sun of mine is bad
//! That is afe and thee to your foes.
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use nn::CellKind;
use rand::rngs::StdRng;
use rand::SeedableRng;
use train::cli::{self, at_least_one, non_empty_path, non_negative, positive, probability};
use train::data::text::{CharBatch, CharLoader, CharOrder, CharVocabulary};
use train::data::{CharCorpus, DataPaths};
use train::fast::{run_tuned, Shards};
use train::models::{CharRnn, CharRnnConfig, ModelConfig};
use train::optim::{Adam, Optimizer};
use train::tasks::char_step;
use train::trainer::{load_weights, StepOutput, Task, Trainer, TrainerConfig, LAST_CHECKPOINT};

/// Sizes of a run; `--help` describes each from [`Preset::sizes`] itself.
#[derive(Clone, Copy, Debug)]
enum Preset {
    /// Sized for about ten minutes on two cores.
    Default,
    /// The tutorials' size (hours on two cores).
    Tutorial,
}

impl Preset {
    /// The hidden size and the epochs of the preset.
    fn sizes(self) -> (usize, usize) {
        match self {
            Preset::Default => (512, 5),
            Preset::Tutorial => (1024, 10),
        }
    }
}

/// The choice on the command line, its help written from the sizes it sets.
impl ValueEnum for Preset {
    fn value_variants<'a>() -> &'a [Self] {
        &[Preset::Default, Preset::Tutorial]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let (name, about) = match self {
            Preset::Default => ("default", "sized for about ten minutes on two cores"),
            Preset::Tutorial => ("tutorial", "the tutorials' size, hours on two cores"),
        };
        let (hidden, epochs) = self.sizes();
        let help = format!("{about}: LSTM {hidden}, {epochs} epochs");
        Some(clap::builder::PossibleValue::new(name).help(help))
    }
}

/// The options that only training reads (refused with `--generate`).
const TRAINING_OPTIONS: [&str; 21] = [
    "data",
    "preset",
    "epochs",
    "hidden",
    "embedding",
    "layers",
    "cell",
    "reset_after",
    "dropout",
    "output_dropout",
    "recurrent_init",
    "seq_len",
    "batch_size",
    "lr",
    "clip",
    "stateful",
    "validation",
    "resume",
    "save_every_epoch",
    "show_batch",
    "shard_rows",
];

/// Train a character-level language model on tiny Shakespeare, or generate text with one.
#[derive(Parser, Debug)]
#[command(name = "shakespeare", allow_negative_numbers = true)]
struct Options {
    /// tinyshakespeare.txt, or a directory holding it [default: $TAPEGRAD_DATA, the cache, then a download]
    #[arg(long, value_name = "PATH", value_parser = non_empty_path)]
    data: Option<PathBuf>,
    /// Run sizes: hidden size and epochs (flags given explicitly win)
    #[arg(long, value_enum, default_value = "default")]
    preset: Preset,
    /// Passes over the training text [default: the --preset's]
    #[arg(long, value_parser = at_least_one)]
    epochs: Option<usize>,
    /// Hidden size of the recurrent layers [default: the --preset's]
    #[arg(long, value_parser = at_least_one)]
    hidden: Option<usize>,
    /// Embedding width
    #[arg(long, default_value = "256", value_parser = at_least_one)]
    embedding: usize,
    /// Stacked recurrent layers
    #[arg(long, default_value = "1", value_parser = at_least_one)]
    layers: usize,
    /// The recurrent cell
    #[arg(long, value_enum, ignore_case = true, default_value = "lstm")]
    cell: CellKind,
    /// The GRU's form: its reset gate after the recurrent product (true,
    /// PyTorch's) or before it (false, `h~ = tanh(W [r*h, x] + b)`)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    reset_after: bool,
    /// Dropout between stacked layers
    #[arg(long, default_value = "0", value_parser = probability)]
    dropout: f64,
    /// Dropout before the output layer (the TensorFlow tutorial's Dropout(0.2))
    #[arg(long, default_value = "0", value_parser = probability)]
    output_dropout: f64,
    /// The recurrent kernel's initializer: glorot_uniform (the TensorFlow tutorial's) or orthogonal
    #[arg(long, default_value = "orthogonal")]
    recurrent_init: nn::Init,
    /// Characters per training sequence
    #[arg(long, default_value = "100", value_parser = at_least_one)]
    seq_len: usize,
    /// Sequences per batch
    #[arg(long, default_value = "64", value_parser = at_least_one)]
    batch_size: usize,
    /// Adam's learning rate
    #[arg(long, default_value = "0.002", value_parser = positive)]
    lr: f64,
    /// Clip gradients to this global norm (0 = off)
    #[arg(long, default_value = "5", value_parser = non_negative)]
    clip: f64,
    /// Read the text as batch-size streams, carrying the state from batch to batch
    #[arg(long)]
    stateful: bool,
    /// Share of the text (its end) held out for validation
    #[arg(long, default_value = "0.1", value_parser = probability)]
    validation: f64,
    /// Seed of initialization, shuffles and sampling
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Where the history, curves and checkpoints go
    #[arg(long, default_value = "runs/shakespeare", value_parser = non_empty_path)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint
    #[arg(long)]
    resume: bool,
    /// Also keep each epoch's weights, as epoch_N.safetensors in --out (N the epoch)
    #[arg(long)]
    save_every_epoch: bool,
    /// Rows per shard: each batch is cut into shards of this many rows,
    /// recorded at the same time on the cores (not with --stateful). The
    /// results depend on it, not on the number of threads (benches/README.md,
    /// "More cores")
    #[arg(
        long,
        value_name = "ROWS",
        default_value_t = cli::SHARD_ROWS,
        value_parser = at_least_one,
        conflicts_with = "stateful"
    )]
    shard_rows: usize,
    /// Before training, print one input/target pair of the data and the
    /// shape of a batch's predictions, as the tutorials do
    #[arg(long)]
    show_batch: bool,
    /// Generate text with the latest checkpoint in --out instead of training
    /// (the model and its alphabet come from the checkpoint: no training option applies)
    #[arg(long, conflicts_with_all = TRAINING_OPTIONS)]
    generate: bool,
    /// The text the samples start from
    #[arg(long, default_value = "ROMEO: ")]
    prompt: String,
    /// Sampling temperature: 0 takes the most likely character, 1 samples the model's distribution
    #[arg(long, default_value = "0.8", value_parser = non_negative)]
    temperature: f64,
    /// Characters to generate after the prompt (at most a million)
    #[arg(long, default_value = "400", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    length: u32,
}

/// The training task, plus a sample of text after every epoch.
struct Shakespeare<'a> {
    vocab: &'a CharVocabulary,
    options: &'a Options,
}

impl Task<CharRnn, CharBatch> for Shakespeare<'_> {
    fn step(&self, model: &CharRnn, tape: &autograd::Tape, batch: &CharBatch) -> StepOutput {
        char_step(model, tape, batch)
    }

    fn reset(&self, model: &CharRnn) {
        model.reset_states();
    }

    fn after_epoch(&self, model: &CharRnn, epoch: usize) {
        match sample(model, self.vocab, self.options) {
            Ok(text) => println!("--- sample after epoch {epoch} ---\n{text}\n---"),
            Err(message) => eprintln!("shakespeare: no sample: {message}"),
        }
    }
}

/// `--length` characters after `--prompt`, drawn with `--temperature` and `--seed`.
fn sample(model: &CharRnn, vocab: &CharVocabulary, o: &Options) -> Result<String, String> {
    let prompt = vocab
        .encode(&o.prompt)
        .map_err(|e| format!("--prompt: {e}"))?;
    if prompt.is_empty() {
        return Err("--prompt must not be empty".into());
    }
    let ids = model.generate(
        &prompt,
        o.length as usize,
        o.temperature,
        &mut StdRng::seed_from_u64(o.seed),
    );
    let text = vocab.decode(&ids).map_err(|e| e.to_string())?;
    Ok(format!("{}{text}", o.prompt))
}

/// `--show-batch`: the first window of the first batch as text, its target
/// (the same text one character later), and the shape of the model's output.
fn show_batch(model: &CharRnn, vocab: &CharVocabulary, batches: &CharLoader) -> Result<(), String> {
    let batch = batches
        .batches(0)
        .next()
        .ok_or("the training set has no batch")?;
    let time = batch.inputs.shape()[1];
    let text = |ids: &[usize]| vocab.decode(&ids[..time]).map_err(|e| e.to_string());
    println!("input:  {:?}", text(batch.inputs.values())?);
    println!("target: {:?}", text(batch.targets.values())?);
    let logits = model.forward(&autograd::Tape::no_grad(), &batch.inputs);
    model.reset_states();
    println!(
        "predictions: {:?} (batch, time, characters)",
        logits.shape()
    );
    Ok(())
}

/// `--generate`: the model and alphabet from the checkpoint alone, then a sample.
fn generate(o: &Options) -> Result<(), String> {
    let path = o.out.join(LAST_CHECKPOINT);
    let file = nn::checkpoint::read::<f32>(&path).map_err(|e| e.to_string())?;
    let config = CharRnnConfig::from_metadata(&file.metadata)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let alphabet = file
        .metadata
        .get("chars")
        .ok_or_else(|| format!("{}: no alphabet in the metadata", path.display()))?;
    let vocab = CharVocabulary::from_text(alphabet);
    let mut model = CharRnn::new(config, &mut StdRng::seed_from_u64(0));
    load_weights(&mut model, &path).map_err(|e| e.to_string())?;
    println!("{}", sample(&model, &vocab, o)?);
    Ok(())
}

fn train(o: &Options) -> Result<(), String> {
    let corpus =
        CharCorpus::load(&DataPaths::from_env(o.data.clone())).map_err(|e| e.to_string())?;
    let splits = corpus
        .sequences(o.seq_len, o.validation)
        .map_err(|e| e.to_string())?;
    let (preset_hidden, preset_epochs) = o.preset.sizes();
    let (hidden, epochs) = (
        o.hidden.unwrap_or(preset_hidden),
        o.epochs.unwrap_or(preset_epochs),
    );
    println!(
        "data: {} characters, {} distinct; {} training and {} validation sequences of {}",
        corpus.ids.len(),
        corpus.vocab.len(),
        splits.train.len(),
        splits.validation.len(),
        o.seq_len
    );
    let config = CharRnnConfig {
        embedding_dim: o.embedding,
        hidden_size: hidden,
        num_layers: o.layers,
        cell: o.cell,
        reset_after: o.reset_after,
        dropout: o.dropout,
        output_dropout: o.output_dropout,
        stateful: o.stateful,
        recurrent_init: Some(o.recurrent_init),
        ..CharRnnConfig::new(corpus.vocab.len())
    };
    train::memory::check_model_fits("the model", config.num_params())?;
    let mut model = CharRnn::<f32>::new(config, &mut StdRng::seed_from_u64(o.seed));
    println!("{}", model.summary(o.batch_size, o.seq_len));

    // What rebuilds the model, and the settings a resumed run must keep.
    let mut metadata = config.to_metadata();
    metadata.insert("chars".into(), corpus.vocab.chars().iter().collect());
    for (key, value) in [
        ("loop.lr", o.lr.to_string()),
        ("loop.batch_size", o.batch_size.to_string()),
        ("data.seq_len", o.seq_len.to_string()),
        ("data.validation", o.validation.to_string()),
    ] {
        metadata.insert(key.into(), value);
    }
    cli::shard_rows_metadata(&mut metadata, o.shard_rows);
    let mut adam = Adam::new(o.lr);
    adam.validate().map_err(|e| e.to_string())?; // before anything is written
    let mut trainer = Trainer::new(TrainerConfig {
        seed: o.seed,
        clip_norm: (o.clip > 0.0).then_some(o.clip),
        resume: o.resume,
        save_every_epoch: o.save_every_epoch,
        metadata,
        ..TrainerConfig::new(epochs, &o.out)
    })
    .map_err(|e| e.to_string())?
    // A batch on every core; a stateful batch's rows carry state, so it is recorded whole.
    .with_runner(Shards::new((!o.stateful).then_some(o.shard_rows)));
    let (train_order, validation_order) = if o.stateful {
        (CharOrder::Streams, CharOrder::Streams)
    } else {
        (CharOrder::Shuffled { seed: o.seed }, CharOrder::InOrder)
    };
    let train_batches =
        CharLoader::new(&splits.train, o.batch_size, train_order).map_err(|e| e.to_string())?;
    // With --validation 0 there is no validation set.
    let validation_batches = (!splits.validation.is_empty())
        .then(|| CharLoader::new(&splits.validation, o.batch_size, validation_order))
        .transpose()
        .map_err(|e| e.to_string())?;
    if o.show_batch {
        show_batch(&model, &corpus.vocab, &train_batches)?;
    }
    let task = Shakespeare {
        vocab: &corpus.vocab,
        options: o,
    };
    let report = trainer
        .fit(
            &mut model,
            &mut adam,
            &train_batches,
            validation_batches.as_ref(),
            &task,
        )
        .map_err(|e| e.to_string())?;
    if let Some((epoch, loss)) = report.best {
        println!("best validation loss {loss:.4} nats per character (epoch {epoch})");
    }
    println!(
        "wrote {}/{{history.csv, loss.svg, accuracy.svg, best.safetensors, last.safetensors}}",
        o.out.display()
    );
    println!("peak memory: {}", train::memory::peak_rss_text());
    Ok(())
}

fn main() -> ExitCode {
    let options: Options = match cli::parse_options() {
        Ok(options) => options,
        Err(code) => return code,
    };
    // Tuned for training throughout (denormals flushed), so a sample drawn
    // here equals the one drawn after an epoch of training.
    let result = run_tuned(|| {
        if options.generate {
            generate(&options)
        } else {
            train(&options)
        }
    });
    cli::exit_code("shakespeare", result)
}
