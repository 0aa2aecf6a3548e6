//! Checkpoints: round trips are exact, every problem of a bad file is listed,
//! a failed load changes nothing, and a save leaves no partial file.

mod common;

use autograd::Tape;
use common::Classifier;
use nn::checkpoint::{self, Problem};
use nn::{Metadata, Module};
use tensor::{Indices, Tensor};

fn sentiment(seed: u64) -> Classifier<f32> {
    Classifier::new(seed)
}

fn values<T: tensor::Element>(model: &impl Module<T>) -> Vec<Tensor<T>> {
    model.state_dict().into_iter().map(|(_, t)| t).collect()
}

#[test]
fn save_then_load_into_a_fresh_model_gives_the_same_outputs_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sentiment.safetensors");
    let trained = sentiment(1);
    checkpoint::save(&trained, &path).unwrap();
    let mut fresh = sentiment(2);
    assert_ne!(values(&fresh), values(&trained));
    checkpoint::load(&mut fresh, &path).unwrap();
    assert_eq!(values(&fresh), values(&trained));
    let ids = Indices::new(vec![0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0], &[3, 4]);
    let tape = Tape::no_grad();
    let (a, b) = (trained.forward(&tape, &ids), fresh.forward(&tape, &ids));
    assert_eq!(a.value().to_vec(), b.value().to_vec());
    let names: Vec<String> = checkpoint::read::<f32>(&path)
        .unwrap()
        .tensors
        .into_keys()
        .collect();
    assert!(
        names.contains(&"lstm.weight_hh_l1_reverse".to_string()),
        "{names:?}"
    );
}

#[test]
fn every_problem_is_listed_and_nothing_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let good = sentiment(1);
    let mut tensors: Vec<(String, Tensor<f32>)> = good.state_dict();
    tensors.retain(|(n, _)| n != "lstm.bias_hh_l1"); // missing
    tensors.push(("lstm.extra".into(), Tensor::zeros(&[3]))); // unexpected
    for (name, t) in &mut tensors {
        if name == "fc.weight" {
            *t = Tensor::zeros(&[1, 3]); // mis-shaped
        }
    }
    checkpoint::save_tensors(&tensors, &Metadata::new(), &path).unwrap();
    let mut model = sentiment(2);
    let before = values(&model);
    let error = checkpoint::load(&mut model, &path).unwrap_err();
    assert_eq!(
        values(&model),
        before,
        "a failed load must not change any parameter"
    );
    assert_eq!(error.problems.len(), 3, "{error}");
    assert!(error.problems.contains(&Problem::Missing {
        name: "lstm.bias_hh_l1".into(),
        shape: vec![20]
    }));
    assert!(error.problems.contains(&Problem::Unexpected {
        name: "lstm.extra".into(),
        shape: vec![3]
    }));
    assert!(error.problems.contains(&Problem::Shape {
        name: "fc.weight".into(),
        expected: vec![1, 10],
        found: vec![1, 3]
    }));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot load checkpoint {}: 3 problems (nothing was loaded)",
            path.display()
        )),
        "{message}"
    );
    assert!(
        message.contains("missing tensor \"lstm.bias_hh_l1\""),
        "{message}"
    );
}

/// As PyTorch's `load_state_dict` does, a float32 file loads into a float64
/// model (exactly) and back (rounded to the nearest float32).
#[test]
fn float32_and_float64_files_convert() {
    let dir = tempfile::tempdir().unwrap();
    let f32_path = dir.path().join("f32.safetensors");
    let good = sentiment(1);
    checkpoint::save(&good, &f32_path).unwrap();
    let mut f64_model = Classifier::<f64>::new(0);
    checkpoint::load(&mut f64_model, &f32_path).unwrap();
    let widened: Vec<Vec<f64>> = values(&good)
        .iter()
        .map(|t| t.to_vec().iter().map(|&x| f64::from(x)).collect())
        .collect();
    let loaded: Vec<Vec<f64>> = values(&f64_model).iter().map(Tensor::to_vec).collect();
    assert_eq!(loaded, widened);

    let f64_path = dir.path().join("f64.safetensors");
    checkpoint::save(&f64_model, &f64_path).unwrap();
    let mut back = sentiment(5);
    checkpoint::load(&mut back, &f64_path).unwrap();
    assert_eq!(values(&back), values(&good));
}

/// The metadata travels with the tensors.
#[test]
fn metadata_travels_with_the_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("described.safetensors");
    let model = sentiment(7);
    let mut metadata = Metadata::new();
    metadata.insert("hidden_size".into(), "5".into());
    metadata.insert("vocab".into(), "<pad>\n<unk>\nthe".into());
    checkpoint::save_with_metadata(&model, &metadata, &path).unwrap();
    let file = checkpoint::read::<f32>(&path).unwrap();
    assert_eq!(file.metadata["format"], "pt");
    assert_eq!(file.metadata["vocab"], "<pad>\n<unk>\nthe");
    assert_eq!(file.metadata["hidden_size"], "5");
    let mut rebuilt = sentiment(99);
    checkpoint::load(&mut rebuilt, &path).unwrap();
    assert_eq!(values(&rebuilt), values(&model));
}

#[test]
fn corrupt_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = sentiment(1);
    let before = values(&model);

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a checkpoint").unwrap();
    let error = checkpoint::load(&mut model, &garbage).unwrap_err();
    assert!(
        matches!(error.problems[..], [Problem::Corrupt(_)]),
        "{error}"
    );

    let truncated = dir.path().join("truncated.safetensors");
    checkpoint::save(&model, &truncated).unwrap();
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let error = checkpoint::load(&mut model, &truncated).unwrap_err();
    assert!(
        matches!(error.problems[..], [Problem::Corrupt(_)]),
        "{error}"
    );
    assert!(error.to_string().contains("truncated.safetensors"));

    let error = checkpoint::load(&mut model, dir.path().join("absent.safetensors")).unwrap_err();
    assert!(matches!(error.problems[..], [Problem::Io(_)]), "{error}");
    assert_eq!(values(&model), before);
}

#[test]
fn saving_is_atomic_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    checkpoint::save(&sentiment(1), &path).unwrap();
    checkpoint::save(&sentiment(2), &path).unwrap(); // replaces the old file
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["model.safetensors"]);
    let mut loaded = sentiment(3);
    checkpoint::load(&mut loaded, &path).unwrap();
    assert_eq!(values(&loaded), values(&sentiment(2)));

    let error = checkpoint::save(
        &sentiment(1),
        dir.path().join("no/such/dir/model.safetensors"),
    )
    .unwrap_err();
    assert_eq!(error.operation, "save");
    assert!(matches!(error.problems[..], [Problem::Io(_)]));
}

/// A model holding NaN or an infinity is not saved: the error names the
/// tensor, and the good file already there stays as it was.
#[test]
fn non_finite_weights_are_refused_at_write_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let good = sentiment(1);
    checkpoint::save(&good, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut ruined = sentiment(2);
    let mut tensors: std::collections::BTreeMap<String, Tensor<f32>> =
        ruined.state_dict().into_iter().collect();
    let weight = tensors.get_mut("fc.weight").unwrap();
    let mut values = weight.to_vec();
    values[1] = f32::NAN;
    values[2] = f32::INFINITY;
    *weight = Tensor::from_vec(values, weight.shape());
    ruined.load_state_dict(&tensors, true).unwrap();
    let error = checkpoint::save(&ruined, &path).unwrap_err();
    assert!(
        matches!(&error.problems[..], [Problem::NonFinite { name, count: 2, first: 1 }] if name == "fc.weight"),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the good file stays");
    assert_eq!(common::file_names(dir.path()), ["model.safetensors"]);
}

/// A file saved from inside a wrapper (`model.` before every name) fails to
/// load, and the error says which prefix differs; stripping it loads the
/// file. A part of a model's file loads into that part alone once its
/// prefix is stripped, and the part's own file into the whole model once
/// the prefix is added.
#[test]
fn a_prefix_on_every_name_is_pointed_out_and_renamed_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrapped.safetensors");
    let trained = sentiment(1);
    let wrapped = checkpoint::add_prefix(trained.state_dict().into_iter().collect(), "model.");
    let wrapped: Vec<(String, Tensor<f32>)> = wrapped.into_iter().collect();
    checkpoint::save_tensors(&wrapped, &Metadata::new(), &path).unwrap();
    let mut model = sentiment(2);
    let message = checkpoint::load(&mut model, &path).unwrap_err().to_string();
    assert!(
        message.contains("every name differs by the prefix \"model.\"")
            && message.contains("strip_prefix"),
        "{message}"
    );
    let file = checkpoint::read::<f32>(&path).unwrap();
    let error = model.load_state_dict(&file.tensors, true).unwrap_err();
    assert!(error.to_string().contains("\"model.\""), "{error}");
    model
        .load_state_dict(&checkpoint::strip_prefix(file.tensors, "model."), true)
        .unwrap();
    assert_eq!(values(&model), values(&trained));

    // The LSTM of the file, alone.
    let mut lstm = sentiment(3).lstm;
    let part: std::collections::BTreeMap<String, Tensor<f32>> = trained
        .state_dict()
        .into_iter()
        .filter(|(name, _)| name.starts_with("lstm."))
        .collect();
    let error = lstm.load_state_dict(&part, true).unwrap_err().to_string();
    assert!(error.contains("\"lstm.\""), "{error}");
    lstm.load_state_dict(&checkpoint::strip_prefix(part, "lstm."), true)
        .unwrap();
    assert_eq!(values(&lstm), values(&trained.lstm));
}
