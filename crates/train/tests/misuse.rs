//! Library misuse: every public constructor and settings type of `train`,
//! given a zero size, an out-of-range value or a non-finite hyperparameter,
//! returns an error (or, for a programming error such as mismatched shapes,
//! panics) with a message naming the thing, the argument and the value.

use autograd::Tape;
use nn::{Linear, Module};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Indices, Tensor};
use train::data::imdb::{Imdb, ImdbConfig, RawImdb};
use train::data::loader::split_validation;
use train::data::{DataLoader, LoaderConfig, Review, Sentiment, Vocabulary};
use train::metrics::{binary_accuracy, categorical_accuracy};
use train::optim::{clip_grad_norm, Adam, ClipError, Optimizer, RmsProp, Sgd};
use train::trainer::{Trainer, TrainerConfig};

/// One step of `optimizer` on a small layer, returning its error message.
fn step_error(optimizer: &mut dyn Optimizer<f32>) -> String {
    let mut layer = Linear::<f32>::new(2, 1, &mut StdRng::seed_from_u64(0));
    let before = layer.state_dict();
    let tape = Tape::new();
    let loss = layer
        .forward(&tape, &tape.constant(Tensor::ones(&[3, 2])))
        .sum();
    let grads = tape.backward(&loss).unwrap();
    let message = optimizer.step(&mut layer, &grads).unwrap_err().to_string();
    assert_eq!(layer.state_dict(), before, "a refused step changes nothing");
    message
}

#[test]
fn optimizers_refuse_non_finite_or_negative_hyperparameters_naming_them() {
    assert!(step_error(&mut Adam::new(f64::NAN))
        .contains("learning_rate must be a finite number >= 0, got NaN"));
    let mut adam = Adam::new(1e-3);
    adam.beta2 = 1.0;
    assert!(step_error(&mut adam).contains("beta2 must be in [0, 1), got 1"));
    assert!(step_error(&mut Adam::adamw(1e-3, f64::INFINITY))
        .contains("weight_decay must be a finite number >= 0, got inf"));
    assert!(step_error(&mut Sgd::new(0.1).with_momentum(-0.5))
        .contains("momentum must be a finite number >= 0, got -0.5"));
    assert!(step_error(&mut RmsProp::new(f64::NEG_INFINITY))
        .contains("learning_rate must be a finite number >= 0, got -inf"));
}

#[test]
fn clipping_refuses_a_bad_limit_and_a_nan_norm() {
    let tape = Tape::new();
    let x = autograd::Param::new(Tensor::from_vec(vec![3.0f32, 4.0], &[2]));
    let mut grads = tape.backward(&tape.param(&x).square().sum()).unwrap();
    for limit in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let error = clip_grad_norm(&mut grads, limit).unwrap_err();
        assert!(matches!(error, ClipError::InvalidMaxNorm(_)), "{limit}");
        assert!(
            error.to_string().contains(&format!("got {limit}")),
            "{error}"
        );
    }
    let tape = Tape::new();
    let y = autograd::Param::new(Tensor::from_vec(vec![f32::NAN], &[1]));
    let mut grads = tape.backward(&tape.param(&y).square().sum()).unwrap();
    let error = clip_grad_norm(&mut grads, 1.0).unwrap_err();
    assert!(
        matches!(error, ClipError::NonFiniteNorm(n) if n.is_nan()),
        "{error}"
    );
}

#[test]
fn trainer_settings_out_of_range_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (config, expected) in [
        (
            TrainerConfig::new(0, dir.path()),
            "epochs must be at least 1",
        ),
        (
            TrainerConfig {
                clip_norm: Some(f64::NAN),
                ..TrainerConfig::new(1, dir.path())
            },
            "clip_norm must be a positive number, got NaN",
        ),
        (
            TrainerConfig {
                patience: Some(0),
                ..TrainerConfig::new(1, dir.path())
            },
            "patience must be at least 1",
        ),
        (TrainerConfig::new(1, ""), "the output directory is empty"),
    ] {
        let message = Trainer::new(config).err().unwrap().to_string();
        assert!(message.contains(expected), "{message}");
    }
}

fn review() -> Review {
    Review {
        token_ids: vec![2, 3],
        sentiment: Sentiment::Positive,
        rating: 9,
    }
}

#[test]
fn data_settings_out_of_range_are_named() {
    let reviews = vec![review(); 4];
    let error = DataLoader::new(&reviews, LoaderConfig::new(0))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("batch_size"), "{error}");
    for fraction in [1.0, -0.1, f64::NAN] {
        let error = split_validation(reviews.clone(), fraction, 0)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!(
                "the validation fraction must be in [0, 1), got {fraction}"
            )),
            "{error}"
        );
    }
    let error = Vocabulary::build(["a b"], 0).unwrap_err().to_string();
    assert!(error.contains("vocab_size must be at least 1"), "{error}");
    let raw = RawImdb {
        source: "x".into(),
        train: Vec::new(),
        test: Vec::new(),
    };
    let config = ImdbConfig {
        max_len: 0,
        ..ImdbConfig::default()
    };
    let error = Imdb::encode(&raw, &config).err().unwrap().to_string();
    assert!(
        error.contains("vocab_size and max_len must be at least 1 (got 20000 and 0)"),
        "{error}"
    );
}

#[test]
#[should_panic(expected = "binary_accuracy: logits [3] and labels [2] differ")]
fn binary_accuracy_of_mismatched_shapes() {
    binary_accuracy(&Tensor::<f32>::zeros(&[3]), &Tensor::zeros(&[2]));
}

#[test]
#[should_panic(expected = "categorical_accuracy: logits [2, 3] need targets of shape [2], got [3]")]
fn categorical_accuracy_with_too_many_targets() {
    categorical_accuracy(
        &Tensor::<f32>::zeros(&[2, 3]),
        &Indices::from_slice(&[0, 1, 2]),
    );
}

/// A bare `Param` updated as the model has no name of its own: a shape error
/// calls it "the parameter", not an empty string.
#[test]
fn a_shape_error_on_a_bare_parameter_names_it() {
    let mut weight = autograd::Param::new(Tensor::<f32>::zeros(&[3]));
    let tape = Tape::new();
    let grads = tape.backward(&tape.param(&weight).sum()).unwrap();
    drop(tape);
    let mut adam = Adam::new(0.1);
    let state = train::optim::ParamState {
        step: 1,
        shape: vec![5],
        buffers: vec![vec![0.0; 5]; 2],
    };
    adam.state_mut().insert(weight.id(), state); // state made for another shape
    let error = adam.step(&mut weight, &grads).unwrap_err().to_string();
    assert!(
        error.contains("the state of the parameter was made for shape [5]"),
        "{error}"
    );
}
