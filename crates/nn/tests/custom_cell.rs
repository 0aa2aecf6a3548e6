//! A cell of one's own: a peephole LSTM (Gers & Schmidhuber, 2000), whose
//! gates also read the cell state through a parameter the built-in cells do
//! not have. Inside the sequence layer that parameter is named, trained,
//! saved, loaded and gradient-checked like the others.

mod common;

use autograd::{gradcheck, GradcheckOptions, Param, Tape, Var};
use common::{flatten_all, normal};
use nn::checkpoint;
use nn::{
    CellOptions, CellParams, CellWeights, LstmState, Module, Recurrent, RecurrentCell,
    RecurrentConfig, Visitor, VisitorMut,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::{Element, Tensor};

/// ```text
/// i  = sigmoid(a_i + p_i * c)      f = sigmoid(a_f + p_f * c)      g = tanh(a_g)
/// c' = f * c + i * g
/// o  = sigmoid(a_o + p_o * c')     h' = o * tanh(c')
/// ```
/// with `a = x W_ih^T + b_ih + h W_hh^T + b_hh` as in the LSTM, and the
/// peephole weights `p = [p_i, p_f, p_o]` in `weight_peephole: [3H]`.
#[derive(Clone, Debug)]
struct PeepholeLstmCell<T: Element> {
    params: CellParams<T>,
    weight_peephole: Param<T>,
}

impl<T: Element> Module<T> for PeepholeLstmCell<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        self.params.visit(visitor);
        visitor.param("weight_peephole", &self.weight_peephole);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        self.params.visit_mut(visitor);
        visitor.param("weight_peephole", &mut self.weight_peephole);
    }
}

impl<T: Element> RecurrentCell<T> for PeepholeLstmCell<T> {
    const GATES: usize = 4;
    const NAME: &'static str = "PeepholeLSTM";
    type State = LstmState<T>;

    fn new(input: usize, hidden: usize, options: &CellOptions, rng: &mut impl Rng) -> Self {
        let params = CellParams::new(4, input, hidden, options, rng);
        let weight_peephole = Param::new(Tensor::rand_uniform(&[3 * hidden], -0.5, 0.5, rng));
        PeepholeLstmCell {
            params,
            weight_peephole,
        }
    }

    fn params(&self) -> &CellParams<T> {
        &self.params
    }

    fn step(&self, w: &CellWeights<T>, x: &Var<T>, state: &LstmState<T>) -> LstmState<T> {
        let peephole = x.tape().param(&self.weight_peephole).chunk(3, 0);
        let (p_i, p_f, p_o) = (&peephole[0], &peephole[1], &peephole[2]);
        let gates = (x + &w.recurrent(&state.h)).chunk(4, 1);
        let i = (&gates[0] + &(&state.c * p_i)).sigmoid();
        let f = (&gates[1] + &(&state.c * p_f)).sigmoid();
        let g = gates[2].tanh();
        let c = &(&f * &state.c) + &(&i * &g);
        let o = (&gates[3] + &(&c * p_o)).sigmoid();
        let h = &o * &c.tanh();
        LstmState { h, c }
    }
}

type PeepholeLstm<T> = Recurrent<T, PeepholeLstmCell<T>>;

fn peephole_layer<T: Element>(seed: u64) -> PeepholeLstm<T> {
    let config = RecurrentConfig {
        num_layers: 2,
        bidirectional: true,
        ..Default::default()
    };
    PeepholeLstm::with_config(3, 4, config, &mut StdRng::seed_from_u64(seed))
}

#[test]
fn a_custom_cells_own_parameter_is_named_and_counted() {
    let layer = peephole_layer::<f32>(0);
    let names: Vec<String> = layer.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names[..5],
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "weight_peephole_l0"
        ]
    );
    for name in [
        "weight_peephole_l0_reverse",
        "weight_peephole_l1",
        "weight_peephole_l1_reverse",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    // 4 cells, each its LSTM weights plus 3H peephole weights.
    let lstm = nn::Lstm::<f32>::with_config(3, 4, *layer.config(), &mut StdRng::seed_from_u64(0));
    assert_eq!(layer.num_params(), lstm.num_params() + 4 * 3 * 4);
}

#[test]
fn a_custom_cell_is_gradient_checked_through_the_layer() {
    let layer = peephole_layer::<f64>(1);
    let mut inputs = vec![normal(&[2, 3, 3], 2)];
    inputs.extend(layer.state_dict().into_iter().map(|(_, value)| value));
    let run = |tape: &Tape<f64>, v: &[Var<f64>]| {
        layer.use_vars_as_params(tape, &v[1..]);
        flatten_all(&layer.forward(tape, &v[0]))
    };
    let report = gradcheck(run, &inputs, &GradcheckOptions::default()).unwrap();
    assert!(report.checked >= inputs.iter().map(Tensor::numel).sum::<usize>());
}

#[test]
fn a_custom_cells_own_parameter_is_trained_saved_and_loaded() {
    let mut layer = peephole_layer::<f32>(3);
    let x = normal(&[4, 5, 3], 4).cast::<f32>();
    let target = normal(&[4, 5, 8], 5).cast::<f32>();
    let loss_of = |layer: &PeepholeLstm<f32>, tape: &Tape<f32>| {
        let y = layer.forward(tape, &tape.constant(x.clone())).output;
        (&y - &tape.constant(target.clone())).square().mean()
    };
    let peephole = |layer: &PeepholeLstm<f32>| layer.state_dict()[4].1.clone();
    let (first_peephole, first_loss) = (peephole(&layer), loss_of(&layer, &Tape::no_grad()).item());
    for _ in 0..20 {
        let tape = Tape::new();
        let grads = tape.backward(&loss_of(&layer, &tape)).unwrap();
        drop(tape);
        layer.visit_mut(&mut VisitorMut::new(&mut |name, param| {
            let grad = grads
                .param(param)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            param.set(param.value() - &grad.scale(0.5));
        }));
    }
    assert_ne!(
        peephole(&layer),
        first_peephole,
        "the peephole weights learned"
    );
    assert!(loss_of(&layer, &Tape::no_grad()).item() < first_loss);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peephole.safetensors");
    checkpoint::save(&layer, &path).unwrap();
    let file = checkpoint::read::<f32>(&path).unwrap();
    assert_eq!(
        file.tensors["weight_peephole_l1_reverse"],
        layer.state_dict()[19].1
    );
    let mut loaded = peephole_layer::<f32>(4);
    checkpoint::load(&mut loaded, &path).unwrap();
    assert_eq!(loaded.state_dict(), layer.state_dict());
    let tape = Tape::no_grad();
    assert_eq!(
        loss_of(&loaded, &tape).item(),
        loss_of(&layer, &tape).item()
    );
}
