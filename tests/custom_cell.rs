//! A cell of one's own, the one `examples/05_custom_cell` writes (a peephole
//! LSTM whose gates read the cell state through a parameter the built-in
//! cells do not have): inside the sequence layer, stacked and in both
//! directions, that parameter is named, counted, gradient-checked, trained,
//! saved and loaded like the others.

#[path = "../examples/05_custom_cell/peephole.rs"]
mod peephole;

use autograd::{GradcheckOptions, Tape, Var};
use nn::checkpoint;
use nn::{gradcheck_module_with, Module, Recurrent, RecurrentConfig, VisitorMut};
use peephole::PeepholeLstmCell;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Element, Tensor};

type PeepholeLstm<T> = Recurrent<T, PeepholeLstmCell<T>>;

fn peephole_layer<T: Element>(seed: u64) -> PeepholeLstm<T> {
    let config = RecurrentConfig {
        num_layers: 2,
        bidirectional: true,
        ..Default::default()
    };
    PeepholeLstm::with_config(3, 4, config, &mut StdRng::seed_from_u64(seed))
}

fn normal(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
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

/// Every scalar of every parameter, stacked and in both directions.
#[test]
fn a_custom_cell_is_gradient_checked_through_the_layer() {
    let layer = peephole_layer::<f64>(1);
    let x = normal(&[2, 3, 3], 2);
    let every_scalar = GradcheckOptions {
        max_elements: usize::MAX,
        ..Default::default()
    };
    let report = gradcheck_module_with(
        &layer,
        |tape, layer| {
            let out = layer.forward(tape, &tape.constant(x.clone()));
            Var::concat(&[out.output.reshape(&[48]), out.h_n.reshape(&[32])], 0)
        },
        &every_scalar,
    )
    .unwrap();
    assert_eq!(report.checked, layer.num_params());
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
