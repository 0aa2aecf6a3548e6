//! The `sine` program as a user runs it: a short forecasting run in each
//! mode trains, reports its test error beside the naive forecast's, and
//! draws the forecast.

mod common;

use common::example::{run_example, stdout_of_success};

#[test]
fn a_short_forecasting_run_reports_and_draws_in_each_mode() {
    let dir = tempfile::tempdir().unwrap();
    for mode in ["one", "many"] {
        let out = dir.path().join(mode);
        let args = [
            "--mode",
            mode,
            "--points",
            "400",
            "--window",
            "20",
            "--hidden",
            "8",
            "--epochs",
            "3",
            "--out",
            out.to_str().unwrap(),
        ];
        let stdout = stdout_of_success(&run_example("sine", &args));
        let line = stdout
            .lines()
            .find(|l| l.starts_with("test MSE"))
            .expect("a test line");
        let figure = |after: &str| -> f64 {
            let rest = line.split(after).nth(1).expect(after);
            rest.trim_start()
                .split([',', ' '])
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (test, naive) = (figure("test MSE"), figure("naive forecast"));
        assert!(test.is_finite() && test > 0.0 && naive > 0.0, "{line}");
        for file in ["forecast.svg", "history.csv", "best.safetensors"] {
            assert!(out.join(file).exists(), "{mode}: {file}");
        }
    }
    let refused = run_example("sine", &["--points", "10", "--window", "20"]);
    let message = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{message}");
    assert!(
        message.contains("too short for a window of 20"),
        "{message}"
    );
}
