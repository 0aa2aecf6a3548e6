//! The checks of chapter 3: the reader's steps and loops against the
//! library's cells and layers on random weights (values and every
//! gradient), and against PyTorch's fixtures.

use autograd::{Tape, Var};
use nn::checkpoint;
use nn::{
    CellOptions, CellState, CellWeights, InitScheme, Lstm, LstmCell, LstmState, Module, Recurrent,
    RecurrentCell, RecurrentConfig, SequenceOptions, Visitor, VisitorMut,
};
use rand::rngs::StdRng;
use rand::Rng;
use tensor::Tensor;

use super::{cases_rng, closeness, compare, fixture, normal, CheckResult};

/// Tolerance of a comparison with the library (the same ops in `f64`).
const LIBRARY: f64 = 1e-10;
/// Tolerance of a comparison with PyTorch, as `tests/pytorch_reference.rs` has it.
const PYTORCH: f64 = 1e-10;

/// A reader's step of a cell whose state is `S`.
pub type Step<S> = fn(&CellWeights<f64>, &Var<f64>, &S) -> S;

/// A step as the checks run it: the reader's or the library's.
type AnyStep<'a, S> = &'a dyn Fn(&CellWeights<f64>, &Var<f64>, &S) -> S;

/// Named tensors: gradients by what they are the gradient of.
type Named = Vec<(String, Tensor<f64>)>;

/// The reader's bidirectional merge of exercise 3.5.
pub type Bidirectional = fn(&dyn Fn(bool) -> Vec<Var<f64>>) -> Vec<Var<f64>>;

/// A fresh cell with PyTorch's initialization (no bias is zero) and maybe no biases.
fn random_cell<C: RecurrentCell<f64>>(input: usize, hidden: usize, rng: &mut StdRng) -> C {
    let options = CellOptions {
        init: InitScheme::PyTorch,
        bias: rng.gen_bool(0.8),
        ..Default::default()
    };
    C::new(input, hidden, &options, rng)
}

/// What one step of a cell reads: the input, the state's parts, a
/// recurrent-dropout mask (or none), and the projections of the loss.
struct StepCase {
    x: Tensor<f64>,
    state: Vec<Tensor<f64>>,
    recurrent_mask: Option<Tensor<f64>>,
    projections: Vec<Tensor<f64>>,
}

/// One step of `step` on a tape of its own: the next state's parts and the
/// gradients of `sum(part * projection)` for the input, the state and each
/// of the cell's parameters, in that order.
fn step_and_gradients<C: RecurrentCell<f64>>(
    cell: &C,
    step: AnyStep<'_, C::State>,
    case: &StepCase,
) -> (Vec<Tensor<f64>>, Named) {
    let StepCase {
        x,
        state,
        recurrent_mask,
        projections,
    } = case;
    let tape = Tape::new();
    let mut w = cell.params().on_tape(&tape);
    w.recurrent_mask = recurrent_mask.clone();
    let x = tape.leaf(x.clone());
    let parts: Vec<Var<f64>> = state.iter().map(|s| tape.leaf(s.clone())).collect();
    let next = step(
        &w,
        &cell.project_input(&w, &x),
        &C::State::from_parts(parts.clone()),
    );
    let next = next.parts();
    let loss = next
        .iter()
        .zip(projections)
        .map(|(part, r)| (part * r).sum())
        .reduce(|a, b| a + b)
        .expect("a state has parts");
    let grads = tape
        .backward(&loss)
        .expect("the step depends on its inputs");
    let mut named = vec![("x".to_string(), grads[&x].clone())];
    for (i, part) in parts.iter().enumerate() {
        let name = ["h", "c"].get(i).copied().unwrap_or("state");
        let grad = grads
            .get(part)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(part.shape()));
        named.push((name.to_string(), grad));
    }
    for (name, param) in cell.named_params() {
        let grad = param
            .grad(&grads)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(param.shape()));
        named.push((name, grad));
    }
    (next.iter().map(|p| p.value().clone()).collect(), named)
}

/// A cell step against the library's on 60 random cells, then over the
/// PyTorch fixture `fixture_case` (a 1-layer sequence with an initial state).
fn cell_step<C: RecurrentCell<f64>>(
    yours: Step<C::State>,
    prefix: &'static str,
    fixture_case: &str,
    seed: u64,
) -> CheckResult {
    let mut rng = cases_rng(seed);
    let mut worst: f64 = 0.0;
    for _ in 0..60 {
        let (batch, input, hidden) = (
            rng.gen_range(1..4),
            rng.gen_range(1..5),
            rng.gen_range(1..5),
        );
        let cell: C = random_cell(input, hidden, &mut rng);
        let parts = <C::State as CellState<f64>>::PARTS;
        let mut draw = |rows, columns| normal(&[rows, columns], &mut rng);
        let mut step_case = StepCase {
            x: draw(batch, input),
            state: (0..parts).map(|_| draw(batch, hidden)).collect(),
            recurrent_mask: None,
            projections: (0..parts).map(|_| draw(batch, hidden)).collect(),
        };
        // Keras' recurrent dropout in a third of the cases: 0 or 1/0.7 on each element of h.
        if rng.gen_bool(1.0 / 3.0) {
            let kept = Tensor::bernoulli(&[batch, hidden], 0.7, &mut rng);
            step_case.recurrent_mask = Some(kept.scale(1.0 / 0.7));
        }
        let biases = match cell.params().bias_ih {
            Some(_) => "",
            None => ", no biases",
        };
        let dropout = match step_case.recurrent_mask {
            Some(_) => ", a recurrent-dropout mask on h (w.recurrent(h) applies it)",
            None => "",
        };
        let case = format!("B = {batch}, E = {input}, H = {hidden}{biases}{dropout}");
        let (got, got_grads) = step_and_gradients(&cell, &yours, &step_case);
        let library = |w: &CellWeights<f64>, x: &Var<f64>, s: &C::State| cell.step(w, x, s);
        let (expected, expected_grads) = step_and_gradients(&cell, &library, &step_case);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            let name = ["h'", "c'"].get(i).copied().unwrap_or("state'");
            worst = worst.max(compare(&format!("{case}: {name}"), g, e, LIBRARY)?);
        }
        for ((name, g), (_, e)) in got_grads.iter().zip(&expected_grads) {
            worst = worst.max(compare(&format!("{case}: dL/d{name}"), g, e, LIBRARY)?);
        }
    }
    let pytorch = over_pytorch_fixture::<C>(yours, prefix, fixture_case)?;
    Ok(format!(
        "60 random cells (recurrent dropout in some), values and every gradient: the library's ({}); PyTorch's {fixture_case} fixture: {pytorch}",
        closeness(worst)
    ))
}

/// A layer held under a name, so its parameters are PyTorch's (`lstm.weight_ih_l0`).
struct UnderName<M> {
    name: &'static str,
    layer: M,
}

impl<M: Module<f64>> Module<f64> for UnderName<M> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, f64>) {
        visitor.module(self.name, &self.layer);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, f64>) {
        visitor.module(self.name, &mut self.layer);
    }
}

/// The reader's step over PyTorch's fixture: the sequence's output, final
/// states and every gradient, to 1e-10.
fn over_pytorch_fixture<C: RecurrentCell<f64>>(
    yours: Step<C::State>,
    prefix: &'static str,
    case: &str,
) -> Result<String, String> {
    let rng = &mut cases_rng(0);
    let mut named = UnderName {
        name: prefix,
        layer: Recurrent::<f64, C>::with_config(3, 2, RecurrentConfig::default(), rng),
    };
    let weights = fixture(&format!("{case}.weights.safetensors"));
    checkpoint::load(&mut named, &weights).map_err(|e| format!("{}: {e}", weights.display()))?;
    let data_file = fixture(&format!("{case}.safetensors"));
    let data = checkpoint::read::<f64>(&data_file)
        .map_err(|e| format!("{}: {e}", data_file.display()))?
        .tensors;
    let get = |name: &str| {
        data.get(name)
            .cloned()
            .ok_or(format!("the fixture has no {name}"))
    };
    let cell = &named.layer.cells()[0];
    let tape = Tape::new();
    let w = cell.params().on_tape(&tape);
    let x = tape.leaf(get("input")?);
    let parts = <C::State as CellState<f64>>::PARTS;
    let initial: Vec<Var<f64>> = ["h0", "c0"][..parts]
        .iter()
        .map(|n| get(n).map(|t| tape.leaf(t)))
        .collect::<Result<_, _>>()?;
    let mut state = C::State::from_parts(initial.iter().map(|s| s.select(0, 0)).collect());
    let mut outputs = vec![];
    for t in 0..x.dim(1) {
        state = yours(&w, &cell.project_input(&w, &x.select(1, t)), &state);
        outputs.push(state.h().clone());
    }
    let output = Var::stack(&outputs, 1);
    let finals: Vec<Var<f64>> = state.parts().iter().map(|p| p.unsqueeze(0)).collect();
    let mut worst = compare("PyTorch's output", output.value(), &get("output")?, PYTORCH)?;
    let mut loss = (&output * &get("proj.output")?).sum();
    for (part, name) in finals.iter().zip(["h_n", "c_n"]) {
        worst = worst.max(compare(
            &format!("PyTorch's {name}"),
            part.value(),
            &get(name)?,
            PYTORCH,
        )?);
        loss = loss + (part * &get(&format!("proj.{name}"))?).sum();
    }
    let grads = tape.backward(&loss).map_err(|e| e.to_string())?;
    worst = worst.max(compare(
        "PyTorch's dL/dinput",
        &grads[&x],
        &get("grad.input")?,
        PYTORCH,
    )?);
    for (leaf, name) in initial.iter().zip(["h0", "c0"]) {
        let expected = get(&format!("grad.{name}"))?;
        worst = worst.max(compare(
            &format!("PyTorch's dL/d{name}"),
            &grads[leaf],
            &expected,
            PYTORCH,
        )?);
    }
    for (name, param) in named.named_params() {
        let grad = param
            .grad(&grads)
            .ok_or(format!("no gradient for {name}"))?;
        let expected = get(&format!("grad.{name}"))?;
        worst = worst.max(compare(
            &format!("PyTorch's dL/d{name}"),
            grad,
            &expected,
            PYTORCH,
        )?);
    }
    Ok(closeness(worst))
}

/// Exercise 3.1.
pub fn rnn_step(yours: Step<Var<f64>>) -> CheckResult {
    cell_step::<nn::RnnCell<f64>>(yours, "rnn", "rnn_tanh_1layer_initial_state", 31)
}

/// Exercise 3.2.
pub fn lstm_step(yours: Step<LstmState<f64>>) -> CheckResult {
    cell_step::<LstmCell<f64>>(yours, "lstm", "lstm_1layer_initial_state", 32)
}

/// Exercise 3.3.
pub fn gru_step(yours: Step<Var<f64>>) -> CheckResult {
    cell_step::<nn::GruCell<f64>>(yours, "gru", "gru_1layer_initial_state", 33)
}

/// The reader's loop of exercise 3.4.
pub type RunLstm = fn(
    &LstmCell<f64>,
    &CellWeights<f64>,
    &[Var<f64>],
    LstmState<f64>,
    &[Option<Tensor<f64>>],
) -> (Vec<Var<f64>>, LstmState<f64>);

/// A random LSTM layer's figures for a batch: its output, final `h` and
/// `c`, and the gradients of a random projection of them for the input and
/// every parameter.
struct Figures {
    values: Named,
    gradients: Named,
}

/// The figures of `output` (`[B, T, F]`) and the final states, with the
/// loss `sum(output * r0) + sum(h * r1) + sum(c * r2)`.
fn figures(
    tape: &Tape<f64>,
    x: &Var<f64>,
    layer: &Lstm<f64>,
    output: &Var<f64>,
    finals: &[Var<f64>],
    rng: &mut StdRng,
) -> Figures {
    let mut values = vec![("output".to_string(), output.value().clone())];
    let mut loss = (output * &normal(output.shape(), rng)).sum();
    for (part, name) in finals.iter().zip(["final h", "final c"]) {
        values.push((name.to_string(), part.value().clone()));
        loss = loss + (part * &normal(part.shape(), rng)).sum();
    }
    let grads = tape
        .backward(&loss)
        .expect("the output depends on the input");
    let mut gradients = vec![("dL/dx".to_string(), grads[x].clone())];
    for (name, param) in layer.named_params() {
        let grad = param
            .grad(&grads)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(param.shape()));
        gradients.push((format!("dL/d{name}"), grad));
    }
    Figures { values, gradients }
}

/// Compares two sets of figures; returns the largest difference.
fn compare_figures(case: &str, got: &Figures, expected: &Figures) -> Result<f64, String> {
    let mut worst: f64 = 0.0;
    let pairs = got.values.iter().zip(&expected.values);
    for ((name, g), (_, e)) in pairs.chain(got.gradients.iter().zip(&expected.gradients)) {
        worst = worst.max(compare(&format!("{case}: {name}"), g, e, LIBRARY)?);
    }
    Ok(worst)
}

/// Each step's projected input `[B, G*H]` of `x: [B, T, E]`.
fn projected_steps<C: RecurrentCell<f64>>(
    cell: &C,
    w: &CellWeights<f64>,
    x: &Var<f64>,
) -> Vec<Var<f64>> {
    (0..x.dim(1))
        .map(|t| cell.project_input(w, &x.select(1, t)))
        .collect()
}

/// Random sizes, each from 1 to below its bound.
fn sizes<const N: usize>(rng: &mut StdRng, bounds: [usize; N]) -> [usize; N] {
    bounds.map(|bound| rng.gen_range(1..bound))
}

/// Exercise 3.4: 40 random batches with rows of random lengths, against
/// the library's LSTM layer given those lengths.
pub fn run_lstm(yours: RunLstm) -> CheckResult {
    let mut rng = cases_rng(34);
    let mut worst: f64 = 0.0;
    for _ in 0..40 {
        let [batch, time, input, hidden] = sizes(&mut rng, [5, 7, 4, 4]);
        let lengths: Vec<usize> = (0..batch).map(|_| rng.gen_range(1..=time)).collect();
        let config = RecurrentConfig {
            cell: CellOptions {
                init: InitScheme::PyTorch,
                ..Default::default()
            },
            ..Default::default()
        };
        let layer = Lstm::<f64>::with_config(input, hidden, config, &mut rng);
        let x = normal(&[batch, time, input], &mut rng);
        let seed = rng.gen();
        let case =
            format!("B = {batch}, T = {time}, E = {input}, H = {hidden}, lengths {lengths:?}");

        let tape = Tape::new();
        let x_var = tape.leaf(x.clone());
        let out = layer.forward_options(&tape, &x_var, &SequenceOptions::new().lengths(&lengths));
        let finals = [out.h_n.select(0, 0), out.c_n.expect("an LSTM").select(0, 0)];
        let expected = figures(
            &tape,
            &x_var,
            &layer,
            &out.output,
            &finals,
            &mut cases_rng(seed),
        );

        let tape = Tape::new();
        let x_var = tape.leaf(x);
        let cell = &layer.cells()[0];
        let w = cell.params().on_tape(&tape);
        let mask = nn::lengths_to_mask::<f64>(&lengths, time);
        let valid: Vec<Option<Tensor<f64>>> = (0..time)
            .map(|t| {
                let column = mask.select(1, t).contiguous().reshape(&[batch, 1]);
                column.to_vec().contains(&0.0).then_some(column)
            })
            .collect();
        let projected = projected_steps(cell, &w, &x_var);
        let (outputs, last) = yours(cell, &w, &projected, cell.zero_state(&tape, batch), &valid);
        if outputs.len() != time {
            return Err(format!(
                "{case}: {} outputs for {time} steps",
                outputs.len()
            ));
        }
        // The layer's output is zero at padded steps; the loop's is the kept state.
        let output = &Var::stack(&outputs, 1) * &mask.reshape(&[batch, time, 1]);
        let got = figures(
            &tape,
            &x_var,
            &layer,
            &output,
            &[last.h, last.c],
            &mut cases_rng(seed),
        );
        worst = worst.max(compare_figures(&case, &got, &expected)?);
    }
    Ok(format!(
        "40 random batches of rows of different lengths, outputs, final states and every gradient: the library's layer ({})",
        closeness(worst)
    ))
}

/// Exercise 3.5: 30 random bidirectional LSTM layers, against the library's.
pub fn bidirectional_outputs(yours: Bidirectional) -> CheckResult {
    let mut rng = cases_rng(35);
    let mut worst: f64 = 0.0;
    for _ in 0..30 {
        let [batch, time, input, hidden] = sizes(&mut rng, [4, 7, 4, 4]);
        let config = RecurrentConfig {
            bidirectional: true,
            cell: CellOptions {
                init: InitScheme::PyTorch,
                ..Default::default()
            },
            ..Default::default()
        };
        let layer = Lstm::<f64>::with_config(input, hidden, config, &mut rng);
        let x = normal(&[batch, time, input], &mut rng);
        let seed = rng.gen();
        let case = format!("B = {batch}, T = {time}, E = {input}, H = {hidden}");

        let tape = Tape::new();
        let x_var = tape.leaf(x.clone());
        let out = layer.forward(&tape, &x_var);
        let expected = figures(
            &tape,
            &x_var,
            &layer,
            &out.output,
            &[],
            &mut cases_rng(seed),
        );

        let tape = Tape::new();
        let x_var = tape.leaf(x);
        let run = |reverse: bool| {
            let cell = &layer.cells()[usize::from(reverse)];
            let w = cell.params().on_tape(&tape);
            let projected = projected_steps(cell, &w, &x_var);
            let valid = vec![None; time];
            let initial = cell.zero_state(&tape, batch);
            let (mut outputs, _) =
                nn::run_over_time(&projected, initial, &valid, reverse, |x, s| {
                    cell.step(&w, x, s)
                });
            if reverse {
                outputs.reverse(); // the order the reverse cell visited the steps
            }
            outputs
        };
        let outputs = yours(&run);
        if outputs.len() != time {
            return Err(format!(
                "{case}: {} outputs for {time} steps",
                outputs.len()
            ));
        }
        let output = Var::stack(&outputs, 1);
        let got = figures(&tape, &x_var, &layer, &output, &[], &mut cases_rng(seed));
        worst = worst.max(compare_figures(&case, &got, &expected)?);
    }
    Ok(format!(
        "30 random bidirectional layers, outputs and every gradient: the library's ({})",
        closeness(worst)
    ))
}
