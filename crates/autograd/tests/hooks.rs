//! Gradient hooks (`Var::register_hook`): a hook sees a var's complete
//! gradient, can replace it on its way to the inputs, and runs in
//! registration order; misuse is named.
//!
//! `h = 3 x`, `L = sum(h^2)`: `dL/dh = 2h = 6x`, `dL/dx = 3 dL/dh = 18x`.

use std::cell::RefCell;
use std::rc::Rc;

use autograd::{Param, Tape};
use tensor::Tensor;

fn vector(values: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(values.to_vec(), &[values.len()])
}

/// A log the hooks write into, shared with the test.
type Log = Rc<RefCell<Vec<Vec<f64>>>>;

#[test]
fn a_hook_sees_the_complete_gradient_of_a_var_used_twice() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[1.0, 2.0]));
    let h = &x * 3.0;
    let log: Log = Rc::default();
    let seen = log.clone();
    h.register_hook(move |grad| {
        seen.borrow_mut().push(grad.to_vec());
        None
    });
    // h is used twice: L = sum(h^2) + sum(h), so dL/dh = 2h + 1.
    let loss = h.square().sum() + h.sum();
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(
        *log.borrow(),
        vec![vec![7.0, 13.0]],
        "called once, with both parts"
    );
    assert_eq!(
        grads[&x].to_vec(),
        vec![21.0, 39.0],
        "a hook returning None changes nothing"
    );
}

#[test]
fn a_hook_replaces_the_gradient_that_flows_on() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[1.0, -2.0]));
    let h = &x * 3.0;
    h.register_hook(|grad| Some(grad.map(|g| g.clamp(-5.0, 5.0)))); // clip by value
    let grads = tape.backward(&h.square().sum()).unwrap();
    // dL/dh = [6, -12] clipped to [5, -5]; dL/dx = 3 of that.
    assert_eq!(grads[&x].to_vec(), vec![15.0, -15.0]);
}

#[test]
fn hooks_run_in_order_and_a_leafs_hook_changes_its_returned_gradient() {
    let tape = Tape::<f64>::new();
    let weight = Param::new(vector(&[2.0]));
    let w = tape.param(&weight);
    let log: Log = Rc::default();
    let (first, second) = (log.clone(), log.clone());
    w.register_hook(move |grad| {
        first.borrow_mut().push(grad.to_vec());
        Some(grad.scale(10.0))
    });
    w.register_hook(move |grad| {
        second.borrow_mut().push(grad.to_vec());
        Some(grad + &Tensor::ones(&[1]))
    });
    let grads = tape.backward(&(&w * 4.0).sum()).unwrap();
    assert_eq!(*log.borrow(), vec![vec![4.0], vec![40.0]]);
    assert_eq!(weight.grad(&grads).unwrap().to_vec(), vec![41.0]);
}

#[test]
fn a_retained_gradient_is_the_hooked_one() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[1.0]));
    let h = &x * 3.0;
    h.retain_grad();
    h.register_hook(|grad| Some(grad.scale(2.0)));
    let grads = tape.backward(&h.sum()).unwrap();
    assert_eq!(grads[&h].to_vec(), vec![2.0]);
    assert_eq!(grads[&x].to_vec(), vec![6.0]);
}

#[test]
#[should_panic(expected = "register_hook: this var needs no gradient")]
fn a_hook_on_a_constant_is_refused() {
    let tape = Tape::<f64>::new();
    tape.constant(vector(&[1.0])).register_hook(|_| None);
}

#[test]
#[should_panic(expected = "a gradient hook on the output of mul_scalar returned shape [3]")]
fn a_hook_returning_another_shape_is_named() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[1.0, 2.0]));
    let h = &x * 3.0;
    h.register_hook(|_| Some(Tensor::zeros(&[3])));
    let _ = tape.backward(&h.sum());
}
