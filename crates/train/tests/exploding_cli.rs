//! The `exploding` program as a user runs it: the measured growth of the
//! gradient per step back matches the scale of `W_hh` for the linear RNN,
//! the unclipped ReLU RNN blows up while the clipped one stays finite, and
//! both charts are drawn.

mod common;

use common::example::{run_example, stdout_of_success};

/// The number printed right after `label` in `line`.
fn figure_after(line: &str, label: &str) -> f64 {
    let rest = line
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("{label} in {line}"));
    rest.trim_start()
        .split([',', ';', ' '])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{label} in {line}: {e}"))
}

#[test]
fn growth_follows_the_scale_and_clipping_keeps_training_finite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = [
        "--scales",
        "0.5,1.5",
        "--length",
        "12",
        "--steps",
        "12",
        "--out",
        out.to_str().unwrap(),
    ];
    let stdout = stdout_of_success(&run_example("exploding", &args));
    for (scale, label) in [(0.5, "scale 0.5:"), (1.5, "scale 1.5:")] {
        let line = stdout.lines().find(|l| l.contains(label)).expect(label);
        let linear = figure_after(line, "linear");
        assert!((linear - scale).abs() < 1e-3, "{line}");
        let tanh = figure_after(line, "tanh");
        assert!(
            tanh <= scale + 1e-3,
            "tanh grows no faster than linear: {line}"
        );
    }
    let unclipped = stdout
        .lines()
        .find(|l| l.contains("without clipping"))
        .unwrap();
    let largest = figure_after(unclipped, "largest loss");
    assert!(largest > 1e6 && unclipped.ends_with("NaN"), "{unclipped}");
    let clipped = stdout.lines().find(|l| l.contains("clipped to")).unwrap();
    assert!(figure_after(clipped, "last").is_finite(), "{clipped}");
    for file in [
        "exploding_growth.svg",
        "exploding_training.svg",
        "exploding.csv",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
}

#[test]
fn a_zero_scale_is_refused_naming_the_option() {
    let output = run_example("exploding", &["--scales", "0"]);
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("--scales"), "{message}");
}
