//! # exercises: write tapegrad yourself, one piece at a time
//!
//! The way to understand a framework is to write its pieces. Each chapter
//! of the book (`tensor`, `autograd`, `nn`, `train`) has a skeleton file
//! here whose functions say `todo!()`: the strided index of an element, a
//! backward rule, the reverse sweep, an LSTM step, Adam. Write one, run
//!
//! ```text
//! cargo run -p exercises                 # every exercise: passed, not yet, or wrong and why
//! cargo run -p exercises -- 2.           # chapter 2's
//! cargo run -p exercises -- lstm         # the exercises whose function names contain "lstm"
//! ```
//!
//! and the project's own checks say whether it is right: the same checks
//! the library passes (finite differences, PyTorch's numbers from
//! `tests/fixtures/`, the library's own results on random cases, bit for
//! bit where the computation is the same). A wrong function is shown its
//! first failing case: the element, your value, the expected one.
//!
//! Each exercise's doc comment states its formula and names the library's
//! solution, the function and file of the chapter that does the same
//! thing: read it after your own attempt (or before, to copy the idea, not
//! the code). `cargo run -p exercises -- --solutions` runs every check on
//! the library's solutions (`reference.rs`, which only calls the chapters'
//! code): all pass, which is what CI proves.
//!
//! ## The files
//! - [`ch1_tensor`], [`ch2_autograd`], [`ch3_nn`], [`ch4_train`]: the
//!   skeletons, where you write (in the order of the book's reading path);
//! - [`recording`]: what exercise 2.6's reverse sweep walks;
//! - [`check`]: the checks, one file per chapter; [`book`]: the list of
//!   exercises; [`reference`](mod@reference): the library's solutions in the exercises' signatures.
//!
//! The reward, at the end of chapter 3: once your LSTM step (3.2) passes,
//! `cargo run --release -p exercises --example your_lstm_on_imdb` trains
//! the IMDB sentiment model with your step in place of the library's and
//! reaches the same accuracy, the same weights bit for bit when your step
//! computes in the library's order.
//!
//! This crate is a workspace member outside the default build: the main
//! `cargo test` never compiles your half-written code.

#![warn(missing_docs)]

pub mod book;
pub mod ch1_tensor;
pub mod ch2_autograd;
pub mod ch3_nn;
pub mod ch4_train;
pub mod check;
pub mod recording;
pub mod reference;
pub mod your_cell;
