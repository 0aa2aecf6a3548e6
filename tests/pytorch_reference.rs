//! Golden tests against PyTorch: `nn.RNN`, `nn.LSTM` and `nn.GRU` (1 and 2
//! layers, bidirectional, packed variable lengths, initial states) and a
//! sentiment model, in f64. The fixtures were made by
//! `tests/fixtures/make_fixtures.py` (rerun it to regenerate them); each case
//! has the PyTorch `state_dict` (loaded here with `nn::checkpoint::load`,
//! under PyTorch's own names) and the inputs, outputs, final states and
//! gradients. Outputs and gradients must agree to 1e-10. The optimizers,
//! the gradient clips, the initializers and the learning-rate schedules are
//! checked at the end, against `tests/fixtures/make_optim_fixtures.py`'s
//! fixture.

use std::path::PathBuf;

use autograd::{Param, Reduction, Tape};
use nn::checkpoint;
use nn::{
    lengths_to_mask, Activation, CellKind, CellOptions, CellState, Init, Module, Recurrent,
    RecurrentCell, RecurrentConfig, SequenceOptions, Visitor, VisitorMut,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Indices, Tensor};
use train::models::{SentimentConfig, SentimentModel, SentimentPool};
use train::optim::{
    clip_grad_norm, clip_grad_value, Adagrad, Adam, LrSchedule, LrShape, Optimizer,
    ReduceOnPlateau, RmsProp, Sgd,
};

const TOLERANCE: f64 = 1e-10;
const INPUT: usize = 3;
const HIDDEN: usize = 2;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Rnn,
    Lstm,
    Gru,
}

/// One fixture: must match `CASES` in `make_fixtures.py`.
struct Case {
    name: &'static str,
    kind: Kind,
    layers: usize,
    bidirectional: bool,
    packed: bool,
    initial_state: bool,
    relu: bool,
}

const fn case(
    name: &'static str,
    kind: Kind,
    layers: usize,
    bidirectional: bool,
    packed: bool,
    initial_state: bool,
) -> Case {
    Case {
        name,
        kind,
        layers,
        bidirectional,
        packed,
        initial_state,
        relu: false,
    }
}

const CASES: [Case; 8] = [
    case(
        "rnn_tanh_1layer_initial_state",
        Kind::Rnn,
        1,
        false,
        false,
        true,
    ),
    Case {
        relu: true,
        ..case(
            "rnn_relu_2layer_bidirectional_packed",
            Kind::Rnn,
            2,
            true,
            true,
            false,
        )
    },
    case(
        "lstm_1layer_initial_state",
        Kind::Lstm,
        1,
        false,
        false,
        true,
    ),
    case(
        "lstm_2layer_bidirectional",
        Kind::Lstm,
        2,
        true,
        false,
        false,
    ),
    case(
        "lstm_2layer_bidirectional_packed",
        Kind::Lstm,
        2,
        true,
        true,
        true,
    ),
    case("gru_1layer_initial_state", Kind::Gru, 1, false, false, true),
    case(
        "gru_2layer_bidirectional_packed",
        Kind::Gru,
        2,
        true,
        true,
        false,
    ),
    case(
        "gru_1layer_bidirectional_packed",
        Kind::Gru,
        1,
        true,
        true,
        true,
    ),
];

fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

struct Data(std::collections::BTreeMap<String, Tensor<f64>>);

impl Data {
    fn load(file: &str) -> Data {
        Data(
            checkpoint::read(fixture(file))
                .unwrap_or_else(|e| {
                    panic!("{e}\n(regenerate with tests/fixtures/make_fixtures.py)")
                })
                .tensors,
        )
    }

    fn get(&self, name: &str) -> &Tensor<f64> {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("fixture has no tensor {name:?}"))
    }

    fn integers(&self, name: &str) -> Vec<usize> {
        self.get(name)
            .to_vec()
            .iter()
            .map(|&x| x as usize)
            .collect()
    }
}

fn assert_close(what: &str, got: &Tensor<f64>, expected: &Tensor<f64>) {
    assert_eq!(got.shape(), expected.shape(), "{what}: shapes differ");
    let worst = got
        .to_vec()
        .iter()
        .zip(expected.to_vec())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= TOLERANCE,
        "{what}: differs from PyTorch by {worst:e}\n got {got}\n expected {expected}"
    );
}

/// A layer held under a name, as PyTorch's wrapper module holds it, so its
/// parameters are `lstm.weight_ih_l0`, ... like the state dict's keys.
struct Named<M> {
    name: &'static str,
    layer: M,
}

impl<M: Module<f64>> Module<f64> for Named<M> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, f64>) {
        visitor.module(self.name, &self.layer);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, f64>) {
        visitor.module(self.name, &mut self.layer);
    }
}

fn check_case<C: RecurrentCell<f64>>(case: &Case) {
    let prefix = match case.kind {
        Kind::Rnn => "rnn",
        Kind::Lstm => "lstm",
        Kind::Gru => "gru",
    };
    let config = RecurrentConfig {
        num_layers: case.layers,
        bidirectional: case.bidirectional,
        cell: CellOptions {
            nonlinearity: if case.relu {
                Activation::Relu
            } else {
                Activation::Tanh
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let mut model = Named {
        name: prefix,
        layer: Recurrent::<f64, C>::with_config(
            INPUT,
            HIDDEN,
            config,
            &mut StdRng::seed_from_u64(0),
        ),
    };
    checkpoint::load(
        &mut model,
        fixture(&format!("{}.weights.safetensors", case.name)),
    )
    .unwrap();
    let data = Data::load(&format!("{}.safetensors", case.name));

    let tape = Tape::new();
    let x = tape.leaf(data.get("input").clone());
    let initial: Vec<_> = if case.initial_state {
        ["h0", "c0"]
            .iter()
            .take(<C::State as CellState<f64>>::PARTS)
            .map(|n| tape.leaf(data.get(n).clone()))
            .collect()
    } else {
        vec![]
    };
    let lengths = data.integers("lengths");
    let mut options = SequenceOptions::new();
    if case.packed {
        options = options.lengths(&lengths);
    }
    if case.initial_state {
        options = options.initial_state(&initial);
    }
    let out = model.layer.forward_options(&tape, &x, &options);

    assert_close(
        &format!("{}: output", case.name),
        out.output.value(),
        data.get("output"),
    );
    assert_close(
        &format!("{}: h_n", case.name),
        out.h_n.value(),
        data.get("h_n"),
    );
    let mut loss =
        (&out.output * data.get("proj.output")).sum() + (&out.h_n * data.get("proj.h_n")).sum();
    if let Some(c_n) = &out.c_n {
        assert_close(&format!("{}: c_n", case.name), c_n.value(), data.get("c_n"));
        loss = loss + (c_n * data.get("proj.c_n")).sum();
    }
    let grads = tape.backward(&loss).unwrap();
    assert_close(
        &format!("{}: dL/dinput", case.name),
        &grads[&x],
        data.get("grad.input"),
    );
    for (var, name) in initial.iter().zip(["h0", "c0"]) {
        assert_close(
            &format!("{}: dL/d{name}", case.name),
            &grads[var],
            data.get(&format!("grad.{name}")),
        );
    }
    for (name, param) in model.named_params() {
        let grad = param
            .grad(&grads)
            .unwrap_or_else(|| panic!("{}: no gradient for {name}", case.name));
        assert_close(
            &format!("{}: dL/d{name}", case.name),
            grad,
            data.get(&format!("grad.{name}")),
        );
    }
}

#[test]
fn rnn_lstm_and_gru_match_pytorch_outputs_states_and_gradients() {
    for case in &CASES {
        match case.kind {
            Kind::Rnn => check_case::<nn::RnnCell<f64>>(case),
            Kind::Lstm => check_case::<nn::LstmCell<f64>>(case),
            Kind::Gru => check_case::<nn::GruCell<f64>>(case),
        }
    }
}

/// The IMDB model: a PyTorch `state_dict` loads into `SentimentModel` and gives
/// the same logits, loss and gradients.
#[test]
fn sentiment_lstm_matches_its_pytorch_twin() {
    let config = SentimentConfig {
        embedding_dim: 3,
        hidden_size: 2,
        num_layers: 2,
        bidirectional: true,
        pool: SentimentPool::Last,
        ..SentimentConfig::new(12)
    };
    let mut model = SentimentModel::<f64>::new(config, &mut StdRng::seed_from_u64(0));
    checkpoint::load(&mut model, fixture("sentiment_lstm.weights.safetensors")).unwrap();
    let data = Data::load("sentiment_lstm.safetensors");
    let ids_shape = data.get("ids").shape().to_vec();
    let ids = Indices::new(data.integers("ids"), &ids_shape);
    let mask = lengths_to_mask(&data.integers("lengths"), ids_shape[1]);

    let tape = Tape::new();
    let logits = model.forward(&tape, &ids, Some(&mask));
    assert_close("logits", logits.value(), data.get("logits"));
    let loss = logits.binary_cross_entropy_with_logits(data.get("labels"), None, Reduction::Mean);
    assert_close("loss", &loss.value().reshape(&[1]), data.get("loss"));
    let grads = tape.backward(&loss).unwrap();
    for (name, param) in model.named_params() {
        assert_close(
            &format!("dL/d{name}"),
            param.grad(&grads).unwrap(),
            data.get(&format!("grad.{name}")),
        );
    }
}

/// A state dict exactly as PyTorch writes it (`save_file(model.state_dict())`
/// of a float32 GRU classifier with a batch norm and an int64 buffer the
/// model here lacks): strict loading lists every extra entry and changes
/// nothing; non-strict loading reports them, converts float32, and gives
/// PyTorch's logits.
#[test]
fn a_pytorch_state_dict_with_extra_and_integer_entries_loads_when_not_strict() {
    let config = SentimentConfig {
        embedding_dim: 4,
        hidden_size: 3,
        cell: CellKind::Gru,
        init: nn::InitScheme::PyTorch,
        pool: SentimentPool::Last,
        ..SentimentConfig::new(10)
    };
    let mut model = SentimentModel::<f64>::new(config, &mut StdRng::seed_from_u64(0));
    let before = model.state_dict();
    let weights = fixture("sentiment_gru_pytorch.weights.safetensors");
    let error = checkpoint::load(&mut model, &weights).unwrap_err();
    let message = error.to_string();
    for extra in ["norm.num_batches_tracked", "norm.running_mean", "steps"] {
        assert!(message.contains(extra), "{message}");
    }
    assert_eq!(model.state_dict(), before, "a refused load changes nothing");

    let report = checkpoint::load_with(&mut model, &weights, false).unwrap();
    assert_eq!(report.loaded, 7);
    assert!(report.missing.is_empty());
    assert_eq!(
        report.unexpected,
        [
            "norm.bias",
            "norm.num_batches_tracked",
            "norm.running_mean",
            "norm.running_var",
            "norm.weight",
            "steps"
        ]
    );
    let data = Data::load("sentiment_gru_pytorch.safetensors");
    let ids_shape = data.get("ids").shape().to_vec();
    let ids = Indices::new(data.integers("ids"), &ids_shape);
    let mask = lengths_to_mask(&data.integers("lengths"), ids_shape[1]);
    let logits = model.forward(&Tape::no_grad(), &ids, Some(&mask));
    assert_close("logits", logits.value(), data.get("logits"));
}

// ---------------------------------------------------------------------------
// Optimizers, gradient clipping and initializers, against
// `tests/fixtures/make_optim_fixtures.py`.

/// One optimizer case: its name in the fixture, and the same optimizer here.
type OptimizerCase = (&'static str, Box<dyn Fn() -> Box<dyn Optimizer<f64>>>);

fn optimizer_cases() -> Vec<OptimizerCase> {
    vec![
        (
            "sgd_momentum",
            Box::new(|| {
                let mut sgd = Sgd::new(0.1).with_momentum(0.9);
                sgd.weight_decay = 0.01;
                Box::new(sgd)
            }),
        ),
        (
            "sgd_nesterov",
            Box::new(|| {
                let mut sgd = Sgd::new(0.1).with_nesterov(0.9);
                sgd.weight_decay = 0.01;
                Box::new(sgd)
            }),
        ),
        (
            "adam_l2",
            Box::new(|| {
                let mut adam = Adam::new(0.01);
                adam.weight_decay = 0.1;
                Box::new(adam)
            }),
        ),
        (
            "adam_amsgrad",
            Box::new(|| {
                let mut adam = Adam::new(0.01);
                (adam.amsgrad, adam.weight_decay) = (true, 0.01);
                Box::new(adam)
            }),
        ),
        ("adamw", Box::new(|| Box::new(Adam::adamw(0.01, 0.1)))),
        (
            "adagrad",
            Box::new(|| {
                let mut adagrad = Adagrad::new(0.1);
                (adagrad.lr_decay, adagrad.weight_decay) = (0.01, 0.01);
                Box::new(adagrad)
            }),
        ),
        ("rmsprop", Box::new(|| Box::new(RmsProp::new(0.01)))),
    ]
}

/// Gradients equal to `grad` for `param`: the gradient of `sum(param * grad)`.
fn gradients_of(param: &Param<f64>, grad: &Tensor<f64>) -> autograd::Gradients<f64> {
    let tape = Tape::new();
    let loss = (tape.param(param) * tape.constant(grad.clone())).sum();
    tape.backward(&loss).unwrap()
}

/// Six steps of each optimizer from PyTorch's starting point and with its
/// gradients land where PyTorch's did, step by step.
#[test]
fn optimizers_match_pytorch_step_by_step() {
    let data = Data::load("optimizers.safetensors");
    for (name, make) in optimizer_cases() {
        let mut optimizer = make();
        let mut param = Param::new(data.get(&format!("{name}.theta0")).clone());
        let (grads, thetas) = (
            data.get(&format!("{name}.grads")),
            data.get(&format!("{name}.thetas")),
        );
        for step in 0..grads.dim(0) {
            let grad = gradients_of(&param, &grads.select(0, step));
            optimizer.step(&mut param, &grad).unwrap();
            assert_close(
                &format!("{name}, step {}", step + 1),
                param.value(),
                &thetas.select(0, step),
            );
        }
    }
}

#[test]
fn gradient_clipping_matches_pytorch() {
    let data = Data::load("optimizers.safetensors");
    let (a, b) = (
        Param::new(Tensor::<f64>::zeros(&[3])),
        Param::new(Tensor::<f64>::zeros(&[2])),
    );
    let gradients = || {
        let tape = Tape::new();
        let loss = (tape.param(&a) * tape.constant(data.get("clip.a").clone())).sum()
            + (tape.param(&b) * tape.constant(data.get("clip.b").clone())).sum();
        tape.backward(&loss).unwrap()
    };
    let mut grads = gradients();
    let total = clip_grad_norm(&mut grads, 1.0).unwrap();
    assert_close(
        "clip_grad_norm's norm",
        &Tensor::from_vec(vec![total], &[1]),
        data.get("clip_norm.total"),
    );
    assert_close(
        "clip_grad_norm a",
        grads.param(&a).unwrap(),
        data.get("clip_norm.a"),
    );
    assert_close(
        "clip_grad_norm b",
        grads.param(&b).unwrap(),
        data.get("clip_norm.b"),
    );
    let mut grads = gradients();
    clip_grad_value(&mut grads, 0.5).unwrap();
    assert_close(
        "clip_grad_value a",
        grads.param(&a).unwrap(),
        data.get("clip_value.a"),
    );
    assert_close(
        "clip_grad_value b",
        grads.param(&b).unwrap(),
        data.get("clip_value.b"),
    );
}

/// The generators differ, so the values cannot match; the spread can: each
/// initializer's standard deviation on a [400, 250] weight within 2% of
/// PyTorch's, and a uniform one's largest magnitude within 1% of PyTorch's.
#[test]
fn initializers_have_pytorchs_spread() {
    let data = Data::load("optimizers.safetensors");
    for init in [
        Init::GlorotNormal,
        Init::HeUniform,
        Init::HeNormal,
        Init::LecunUniform,
        Init::LecunNormal,
        Init::GlorotUniform,
    ] {
        let name = init.name().unwrap();
        let values = init
            .tensor::<f64>(&[400, 250], &mut StdRng::seed_from_u64(9))
            .to_vec();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let theirs = data.get(&format!("init.{name}.std")).item();
        assert!(
            (std / theirs - 1.0).abs() < 0.02,
            "{name}: std {std}, PyTorch's {theirs}"
        );
        if name.ends_with("uniform") {
            let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let theirs = data.get(&format!("init.{name}.max")).item();
            assert!(
                (largest / theirs - 1.0).abs() < 0.01,
                "{name}: max {largest}, PyTorch's {theirs}"
            );
        }
    }
}

/// The learning rate before each update (warm-up then cosine, per update),
/// each epoch (step decay), and after each epoch's validation loss (reduce on
/// plateau), as PyTorch's schedulers set it.
#[test]
fn schedules_match_pytorchs_schedulers() {
    let data = Data::load("optimizers.safetensors");
    let as_tensor = |rates: Vec<f64>| Tensor::from_vec(rates.clone(), &[rates.len()]);
    let warmup_cosine = LrSchedule {
        warmup_steps: 5,
        warmup_start: 0.1,
        ..LrSchedule::new(LrShape::Cosine, 0.1)
    };
    let rates = (0..20).map(|k| warmup_cosine.factor(k, 20, 0)).collect();
    assert_close(
        "warm-up then cosine",
        &as_tensor(rates),
        data.get("schedule.warmup_cosine"),
    );
    let step = LrSchedule {
        step_epochs: 2,
        gamma: 0.5,
        ..LrSchedule::new(LrShape::Step, 0.0)
    };
    let rates = (0..7).map(|epoch| step.factor(0, 7, epoch)).collect();
    assert_close("step decay", &as_tensor(rates), data.get("schedule.step"));
    let losses = data.get("schedule.plateau_losses").to_vec();
    let plateau = ReduceOnPlateau::new(0.5, 1);
    let rates = (1..=losses.len())
        .map(|epochs| plateau.factor(&losses[..epochs], true))
        .collect();
    assert_close(
        "reduce on plateau",
        &as_tensor(rates),
        data.get("schedule.plateau"),
    );
}
