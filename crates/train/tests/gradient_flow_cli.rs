//! The `gradient_flow` program as a user runs it: bad flags are named and
//! exit with code 1; a tiny run prints its table and writes a CSV and an SVG
//! that hold the same measurements.

mod common;

use common::example::run_example;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_flags_are_named_and_exit_with_code_1() {
    for (args, expected) in [
        (&["--length", "0"][..], "--length"),
        (&["--hidden", "0"], "--hidden"),
        (&["--steps", "none"], "--steps"),
        (&["--lr", "-1"], "--lr"),
        (&["--init", "xavier"], "--init"),
        (&["--seed", "-3"], "--seed"),
        (&["--out", ""], "--out"),
    ] {
        let output = run_example("gradient_flow", args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?}: {message}");
        assert!(!message.contains("panicked"), "{args:?}: {message}");
    }
    let help = run_example("gradient_flow", &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--length", "--hidden", "--steps", "--seed", "--out", "--init",
    ] {
        assert!(text.contains(flag), "{text}");
    }
}

/// T = 12, three cells of 4 units, 3 training steps: 12 rows of 6 norms in
/// the CSV, 6 curves of 12 markers in the SVG, and the printed rows equal to
/// the CSV's.
#[test]
fn a_tiny_run_writes_the_table_the_csv_and_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flow");
    let args = ["--length", "12", "--hidden", "4", "--steps", "3"];
    let mut with_out = args.to_vec();
    with_out.extend(["--out", out.to_str().unwrap()]);
    let run = run_example("gradient_flow", &with_out);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{stdout}\n{}", stderr(&run));
    assert!(
        stdout.contains("accuracy on 512 new sequences: RNN"),
        "{stdout}"
    );

    let csv = std::fs::read_to_string(out.join("gradient_flow.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("t,rnn_init,lstm_init,gru_init,rnn_trained,lstm_trained,gru_trained")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|line| line.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 12, "{csv}");
    for (t, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (t + 1) as f64);
        assert!(
            row[1..].iter().all(|&n| n.is_finite() && n > 0.0),
            "{row:?}"
        );
    }
    // Each printed row shows the CSV's numbers (t = 1 and every step here, T / 10 < 2).
    for row in [&rows[0], &rows[11]] {
        let printed: Vec<String> = row[1..].iter().map(|n| format!("{n:.2e}")).collect();
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&format!("{}", row[0])))
            .unwrap_or_else(|| panic!("no row for t = {}: {stdout}", row[0]));
        assert_eq!(line.split_whitespace().skip(1).collect::<Vec<_>>(), printed);
    }
    // At initialization the gates shrink the GRU's and the LSTM's gradient at
    // every step back in time (by about 0.6 and 0.8 here): over 11 steps, a lot.
    for cell in [2, 3] {
        assert!(rows[0][cell] < 0.1 * rows[11][cell], "{csv}");
    }

    let svg = std::fs::read_to_string(out.join("gradient_flow.svg")).unwrap();
    for name in ["RNN at init", "LSTM at init", "GRU after 3 steps"] {
        assert!(svg.contains(name), "{name}");
    }
    assert_eq!(
        svg.matches("<circle").count(),
        6 * 12 + 6,
        "markers and legend keys"
    );
    assert!(svg.contains("mean ‖dL/dh_t‖") && svg.contains("time step t"));

    // The same seed measures the same numbers.
    let again = run_example("gradient_flow", &with_out);
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(out.join("gradient_flow.csv")).unwrap(),
        csv
    );
}
