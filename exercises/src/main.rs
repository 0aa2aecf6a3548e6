//! The exercises' runner: each exercise's check on your function, and
//! what it found.
//!
//! ```text
//! cargo run -p exercises                  # every exercise
//! cargo run -p exercises -- 2. lstm       # chapter 2's, and those whose function names contain "lstm"
//! cargo run -p exercises -- --solutions   # the checks on the library's own solutions
//! ```
//!
//! Exits with 1 if an exercise is wrong (with `--solutions`: if any does
//! not pass), 0 otherwise.

use std::process::ExitCode;

use clap::Parser;
use exercises::book::{exercises, Exercise, CHAPTERS};
use exercises::check::{self, Outcome};

/// Check your solutions to the book's exercises with the project's own tests.
#[derive(Parser, Debug)]
#[command(name = "exercises")]
struct Options {
    /// Only these: an id or its start (`3.2`, `2.`), or part of a function's name (`lstm`)
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// Check the library's own solutions instead of yours (they all pass)
    #[arg(long)]
    solutions: bool,
}

fn selected(exercise: &Exercise, filters: &[String]) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| exercise.id.starts_with(f.as_str()) || exercise.function.contains(f.as_str()))
}

/// What the runner prints for one exercise.
fn line(exercise: &Exercise, file: &str, outcome: &Outcome) -> String {
    let head = format!("  {:<4} {:<24}", exercise.id, exercise.function);
    match outcome {
        Outcome::Passed(checked) => format!("{head} passed   {checked}"),
        Outcome::NotYet => format!(
            "{head} not yet  write it in {file} (it says todo!()); the library's: {}",
            exercise.solution
        ),
        Outcome::Wrong(case) => format!(
            "{head} WRONG    {case}\n{:31}(the library's: {})",
            "", exercise.solution
        ),
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    let whose = if options.solutions {
        "the library's solutions"
    } else {
        "your functions"
    };
    println!("tapegrad's exercises: {whose}, checked by the project's own tests\n");
    let (mut passed, mut wrong, mut not_yet) = (0, 0, 0);
    let mut lstm_passes = false;
    for chapter in CHAPTERS {
        let chosen: Vec<Exercise> = exercises()
            .into_iter()
            .filter(|e| e.chapter() == chapter.number && selected(e, &options.filters))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        println!(
            "Chapter {}, {} ({})",
            chapter.number, chapter.crate_name, chapter.file
        );
        for exercise in &chosen {
            let check = if options.solutions {
                exercise.library
            } else {
                exercise.yours
            };
            let outcome = check::run(check);
            println!("{}", line(exercise, chapter.file, &outcome));
            match outcome {
                Outcome::Passed(_) => {
                    passed += 1;
                    lstm_passes |= exercise.id == "3.2" && !options.solutions;
                }
                Outcome::NotYet => not_yet += 1,
                Outcome::Wrong(_) => wrong += 1,
            }
        }
        println!();
    }
    let total = passed + wrong + not_yet;
    println!("{passed} passed, {wrong} wrong, {not_yet} not yet, of {total}");
    if !options.solutions && passed == total && total > 0 {
        println!("Every one passes: the book is yours.");
    }
    if lstm_passes {
        println!(
            "Your LSTM step passes: `cargo run --release -p exercises --example your_lstm_on_imdb` trains the IMDB model with it."
        );
    }
    let failed = if options.solutions {
        passed != total
    } else {
        wrong > 0
    };
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
