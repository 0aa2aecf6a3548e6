//! The list of exercises, in the order of the book, each with the check it
//! must pass and where the library's own solution is.

use crate::check::train::{Tiny, TinyBatch};
use crate::check::{self, CheckResult};
use crate::{ch1_tensor, ch2_autograd, ch3_nn, ch4_train, reference};

/// One exercise: a function of the skeleton the reader writes.
#[derive(Clone, Copy, Debug)]
pub struct Exercise {
    /// `"3.2"`: chapter and number.
    pub id: &'static str,
    /// The function to write.
    pub function: &'static str,
    /// The library's solution: the item and its file.
    pub solution: &'static str,
    /// The check run on the reader's function.
    pub yours: fn() -> CheckResult,
    /// The same check run on the library's solution.
    pub library: fn() -> CheckResult,
}

impl Exercise {
    /// The chapter (1 to 4).
    pub fn chapter(&self) -> usize {
        self.id[..1].parse().expect("ids start with the chapter")
    }
}

/// A chapter: its crate and the skeleton file of its exercises.
#[derive(Clone, Copy, Debug)]
pub struct Chapter {
    /// 1 to 4.
    pub number: usize,
    /// The crate it studies.
    pub crate_name: &'static str,
    /// Where the reader writes its exercises.
    pub file: &'static str,
}

/// The four chapters, in reading order.
pub const CHAPTERS: [Chapter; 4] = [
    Chapter {
        number: 1,
        crate_name: "tensor",
        file: "exercises/src/ch1_tensor.rs",
    },
    Chapter {
        number: 2,
        crate_name: "autograd",
        file: "exercises/src/ch2_autograd.rs",
    },
    Chapter {
        number: 3,
        crate_name: "nn",
        file: "exercises/src/ch3_nn.rs",
    },
    Chapter {
        number: 4,
        crate_name: "train",
        file: "exercises/src/ch4_train.rs",
    },
];

/// Every exercise, in the order of the book.
pub fn exercises() -> Vec<Exercise> {
    EXERCISES.to_vec()
}

/// Every exercise, in the order of the book: a table.
const EXERCISES: [Exercise; 20] = {
    use check::{autograd as a, nn as n, tensor as t, train as r};
    [
        Exercise {
            id: "1.1",
            function: "element_position",
            solution: "tensor::shape::element_position, crates/tensor/src/shape.rs",
            yours: || t::element_position(ch1_tensor::element_position),
            library: || t::element_position(reference::element_position),
        },
        Exercise {
            id: "1.2",
            function: "broadcast_shapes",
            solution: "tensor::shape::broadcast_shapes, crates/tensor/src/shape.rs",
            yours: || t::broadcast_shapes(ch1_tensor::broadcast_shapes),
            library: || t::broadcast_shapes(reference::broadcast_shapes),
        },
        Exercise {
            id: "1.3",
            function: "transpose_view",
            solution: "Tensor::transpose, crates/tensor/src/view.rs",
            yours: || t::transpose_view(ch1_tensor::transpose_view),
            library: || t::transpose_view(reference::transpose_view),
        },
        Exercise {
            id: "1.4",
            function: "matmul",
            solution: "Tensor::matmul_reference, crates/tensor/src/matmul.rs",
            yours: || t::matmul(ch1_tensor::matmul),
            library: || t::matmul(reference::matmul),
        },
        Exercise {
            id: "2.1",
            function: "mul_backward",
            solution: "Var::mul, crates/autograd/src/ops/arith.rs",
            yours: || a::mul_backward(ch2_autograd::mul_backward),
            library: || a::mul_backward(reference::mul_backward),
        },
        Exercise {
            id: "2.2",
            function: "tanh_backward",
            solution: "Var::tanh, crates/autograd/src/ops/unary.rs",
            yours: || a::tanh_backward(ch2_autograd::tanh_backward),
            library: || a::tanh_backward(reference::tanh_backward),
        },
        Exercise {
            id: "2.3",
            function: "sigmoid_backward",
            solution: "Var::sigmoid, crates/autograd/src/ops/unary.rs",
            yours: || a::sigmoid_backward(ch2_autograd::sigmoid_backward),
            library: || a::sigmoid_backward(reference::sigmoid_backward),
        },
        Exercise {
            id: "2.4",
            function: "matmul_backward",
            solution: "Var::matmul, crates/autograd/src/ops/matmul.rs",
            yours: || a::matmul_backward(ch2_autograd::matmul_backward),
            library: || a::matmul_backward(reference::matmul_backward),
        },
        Exercise {
            id: "2.5",
            function: "cross_entropy_backward",
            solution: "Var::cross_entropy, crates/autograd/src/ops/loss.rs",
            yours: || a::cross_entropy_backward(ch2_autograd::cross_entropy_backward),
            library: || a::cross_entropy_backward(reference::cross_entropy_backward),
        },
        Exercise {
            id: "2.6",
            function: "backward",
            solution: "Tape::backward_with, crates/autograd/src/backward.rs",
            yours: || a::backward(ch2_autograd::backward),
            library: || a::backward(reference::backward),
        },
        Exercise {
            id: "2.7",
            function: "numeric_gradient",
            solution: "autograd::gradcheck::numeric_gradient, crates/autograd/src/gradcheck.rs",
            yours: || a::numeric_gradient(ch2_autograd::numeric_gradient),
            library: || a::numeric_gradient(reference::numeric_gradient),
        },
        Exercise {
            id: "3.1",
            function: "rnn_step",
            solution: "RnnCell::step, crates/nn/src/cell/rnn.rs",
            yours: || n::rnn_step(ch3_nn::rnn_step::<f64>),
            library: || n::rnn_step(reference::rnn_step),
        },
        Exercise {
            id: "3.2",
            function: "lstm_step",
            solution: "LstmCell::step, crates/nn/src/cell/lstm.rs",
            yours: || n::lstm_step(ch3_nn::lstm_step::<f64>),
            library: || n::lstm_step(reference::lstm_step::<f64>),
        },
        Exercise {
            id: "3.3",
            function: "gru_step",
            solution: "GruCell::step, crates/nn/src/cell/gru.rs",
            yours: || n::gru_step(ch3_nn::gru_step::<f64>),
            library: || n::gru_step(reference::gru_step),
        },
        Exercise {
            id: "3.4",
            function: "run_lstm",
            solution: "nn::run_over_time, crates/nn/src/recurrent/time_loop.rs",
            yours: || n::run_lstm(ch3_nn::run_lstm),
            library: || n::run_lstm(reference::run_lstm),
        },
        Exercise {
            id: "3.5",
            function: "bidirectional_outputs",
            solution: "MergeMode::merge in Recurrent::run_layer, crates/nn/src/recurrent/",
            yours: || n::bidirectional_outputs(ch3_nn::bidirectional_outputs),
            library: || n::bidirectional_outputs(reference::bidirectional_outputs),
        },
        Exercise {
            id: "4.1",
            function: "sgd_step",
            solution: "Sgd::update, crates/train/src/optim/sgd.rs",
            yours: || r::sgd_step(ch4_train::sgd_step),
            library: || r::sgd_step(reference::sgd_step),
        },
        Exercise {
            id: "4.2",
            function: "adam_step",
            solution: "Adam::update, crates/train/src/optim/adam.rs",
            yours: || r::adam_step(ch4_train::adam_step),
            library: || r::adam_step(reference::adam_step),
        },
        Exercise {
            id: "4.3",
            function: "clip_grad_norm",
            solution: "train::optim::clip_grad_norm, crates/train/src/optim/clip.rs",
            yours: || r::clip_grad_norm(ch4_train::clip_grad_norm),
            library: || r::clip_grad_norm(reference::clip_grad_norm),
        },
        Exercise {
            id: "4.4",
            function: "train_epoch",
            solution: "Trainer::fit's train_epoch, crates/train/src/trainer/mod.rs",
            yours: || r::train_epoch(ch4_train::train_epoch::<Tiny, TinyBatch>),
            library: || r::train_epoch(reference::train_epoch::<Tiny, TinyBatch>),
        },
    ]
};
