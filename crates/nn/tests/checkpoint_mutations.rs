//! Mutation tests of the checkpoint reader: thousands of damaged safetensors
//! files (truncated, bit-flipped, length fields set to 2^60, bytes inserted,
//! deleted, copied), each of which must load as exactly the original, or be
//! refused with a clear error; never a panic, a hang or a huge allocation.
//!
//! Two starting points: a file as tapegrad writes it (with its content
//! checksum, so *any* change of content must be refused), and a file as
//! PyTorch writes it (no checksum; float64, float16, bfloat16 and integer
//! tensors), where a changed data byte cannot be detected and the rule is
//! weaker: whatever loads is finite and reads back as itself.
//!
//! The mutator and the harness are shared with the other parsers' mutation
//! tests: see `tests/support/mutation.rs` at the workspace root.

#[path = "../../../tests/support/mutation.rs"]
mod mutation;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use mutation::{decimal_fields, Field, Limits, Verdict};
use nn::checkpoint::{self, Checkpoint, Problem, CHECKSUM_KEY};
use nn::{Embedding, Linear, Lstm, Metadata, Module};
use rand::rngs::StdRng;
use rand::SeedableRng;
use safetensors::tensor::{Dtype, TensorView};

#[global_allocator]
static ALLOCATOR: mutation::Counting = mutation::Counting;

const MUTATIONS: usize = 10_000;

/// Embedding 6 x 3 -> LSTM of 2 -> one logit.
struct Model {
    embedding: Embedding,
    lstm: Lstm,
    fc: Linear,
}
nn::module!(Model {
    embedding,
    lstm,
    fc
});

fn model() -> Model {
    let rng = &mut StdRng::seed_from_u64(1);
    Model {
        embedding: Embedding::new(6, 3, rng),
        lstm: Lstm::new(3, 2, rng),
        fc: Linear::new(2, 1, rng),
    }
}

/// A model's description, as a program writes it beside the weights.
fn description() -> Metadata {
    [
        ("model", "Model"),
        ("embedding_dim", "3"),
        ("hidden_size", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The length field and every number in the JSON header.
fn fields_of(bytes: &[u8]) -> Vec<Field> {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut fields = vec![Field::LeU64(0)];
    fields.extend(decimal_fields(bytes, 8..8 + header_len));
    fields
}

fn rejected(problems: &[Problem]) -> Result<Verdict, String> {
    if problems.is_empty() || problems.iter().any(|p| p.to_string().trim().is_empty()) {
        return Err(format!("refused without a clear reason: {problems:?}"));
    }
    Ok(Verdict::Rejected)
}

#[test]
fn a_damaged_checkpoint_loads_unchanged_or_is_refused() {
    let model = model();
    let mut metadata = description();
    metadata.insert("vocab".into(), "tapegrad-vocabulary 1\ngood\nbad\n".into());
    let base = checkpoint::to_safetensors(&model.state_dict(), &metadata);
    let original: Checkpoint<f32> = checkpoint::from_safetensors(&base).unwrap();
    assert!(original.verified);

    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        match checkpoint::from_safetensors::<f32>(bytes) {
            Err(problems) => rejected(&problems),
            Ok(file) if file.verified => {
                if file.tensors == original.tensors
                    && file.metadata == original.metadata
                    && file.skipped.is_empty()
                {
                    Ok(Verdict::Same)
                } else {
                    Err("loaded as verified, with other content".to_string())
                }
            }
            // The one way in without the checksum: the damage hit the
            // checksum's own key (`tapegrad.crc32` -> `tapegrad.crc3w`), so the
            // file reads like one from another program, and says so
            // (`verified == false`). The trainer refuses such a file for its
            // own checkpoints (`train::trainer`), and a user loading it can see.
            Ok(file) if !file.metadata.contains_key(CHECKSUM_KEY) => Ok(Verdict::Changed),
            Ok(_) => Err("loaded unverified although the checksum key is there".to_string()),
        }
    };
    let report = mutation::run(
        "checkpoint",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &base,
        &fields_of(&base),
        MUTATIONS,
        12,
        &Limits::default(),
        &check,
    );
    eprintln!("checkpoint (tapegrad, with checksum): {report} (\"other valid content\": the checksum key itself was damaged, and the file read as unverified)");
    assert!(report.inputs >= MUTATIONS);
    // Damage to the 14-byte key is rare; anything more means the checksum is not doing its job.
    assert!(report.changed < MUTATIONS / 100, "{report}");
}

/// A file as PyTorch's `save_file` writes it: no checksum, and tensors of
/// every dtype the reader converts or skips.
fn foreign_file() -> Vec<u8> {
    let f32s: Vec<u8> = [0.5f32, -1.0, 2.0, 3.5, -0.25, 8.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [1.0f64, -2.0, 1e300]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    // f16 and bf16 for 1.0, -2.0, 0.5, 65504 (the largest f16).
    let f16s: Vec<u8> = [0x3c00u16, 0xc000, 0x3800, 0x7bff]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let bf16s: Vec<u8> = [0x3f80u16, 0xc000, 0x3f00, 0x4780]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let i64s: Vec<u8> = [7i64, -1].iter().flat_map(|x| x.to_le_bytes()).collect();
    let views: BTreeMap<String, TensorView<'_>> = [
        ("fc.weight", Dtype::F32, vec![2, 3], &f32s),
        ("fc.bias", Dtype::F64, vec![3], &f64s),
        ("lstm.weight", Dtype::F16, vec![2, 2], &f16s),
        ("lstm.bias", Dtype::BF16, vec![4], &bf16s),
        ("steps", Dtype::I64, vec![2], &i64s),
    ]
    .into_iter()
    .map(|(name, dtype, shape, data)| {
        (
            name.to_string(),
            TensorView::new(dtype, shape, data).unwrap(),
        )
    })
    .collect();
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize(views, &Some(metadata)).unwrap()
}

#[test]
fn a_damaged_file_without_checksum_loads_as_finite_self_consistent_content_or_is_refused() {
    let base = foreign_file();
    let original: Checkpoint<f64> = checkpoint::from_safetensors(&base).unwrap();
    assert!(!original.verified);
    assert_eq!(original.tensors.len(), 4);
    assert_eq!(original.skipped.len(), 1);
    // 1e300 is finite as float64 but not as float32: refused, naming the tensor.
    let problems = checkpoint::from_safetensors::<f32>(&base).unwrap_err();
    assert_eq!(
        problems,
        [Problem::NonFinite {
            name: "fc.bias".into(),
            count: 1,
            first: 2
        }]
    );

    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        let file = match checkpoint::from_safetensors::<f64>(bytes) {
            Err(problems) => return rejected(&problems),
            Ok(file) => file,
        };
        if file.tensors == original.tensors
            && file.metadata == original.metadata
            && file.skipped == original.skipped
        {
            return Ok(Verdict::Same);
        }
        // Without a checksum, another valid file is all the reader can see.
        // It must be one: finite values, and the same content once written back.
        if let Some((name, _)) = file
            .tensors
            .iter()
            .find(|(_, t)| t.to_vec().iter().any(|x| !x.is_finite()))
        {
            return Err(format!("tensor {name} loaded with a NaN or infinity"));
        }
        let tensors: Vec<_> = file.tensors.clone().into_iter().collect();
        let metadata: Metadata = file.metadata.clone();
        let again =
            checkpoint::from_safetensors::<f64>(&checkpoint::to_safetensors(&tensors, &metadata))
                .map_err(|e| format!("what loaded does not read back: {e:?}"))?;
        if again.tensors != file.tensors {
            return Err("what loaded reads back differently".to_string());
        }
        Ok(Verdict::Changed)
    };
    let report = mutation::run(
        "checkpoint-foreign",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &base,
        &fields_of(&base),
        MUTATIONS,
        34,
        &Limits::default(),
        &check,
    );
    eprintln!("checkpoint (foreign, no checksum): {report}");
    assert!(report.inputs >= MUTATIONS);
}

/// The same tensors and metadata always give the same bytes, so a mutation
/// test's seed reproduces its inputs and two runs' checkpoints compare as files.
#[test]
fn saving_is_deterministic() {
    let model = model();
    let metadata = description();
    let first = checkpoint::to_safetensors(&model.state_dict(), &metadata);
    let mut reversed = model.state_dict();
    reversed.reverse();
    assert_eq!(checkpoint::to_safetensors(&reversed, &metadata), first);
    let header_len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + header_len) % 8, 0, "the data starts 8-byte aligned");
    let header = std::str::from_utf8(&first[8..8 + header_len]).unwrap();
    assert!(
        header.starts_with("{\"__metadata__\":{\"embedding_dim\":\"3\","),
        "{header}"
    );
}

/// The three kinds of damage of issue 12, one by one, as a user meets them.
#[test]
fn nan_weights_and_flipped_bytes_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let good = model();
    let mut tensors = good.state_dict();
    let poisoned = tensors
        .iter_mut()
        .find(|(name, _)| name == "fc.weight")
        .unwrap();
    poisoned.1.data_mut()[1] = f32::NAN;
    // `save_tensors` refuses to write it: the bytes come from the serializer,
    // as a file written elsewhere would.
    let error = checkpoint::save_tensors(&tensors, &Metadata::new(), &path).unwrap_err();
    assert!(
        matches!(&error.problems[..], [Problem::NonFinite { .. }]),
        "{error}"
    );
    assert!(!path.exists(), "nothing was written");
    std::fs::write(
        &path,
        checkpoint::to_safetensors(&tensors, &Metadata::new()),
    )
    .unwrap();
    let mut target = model();
    let error = checkpoint::load(&mut target, &path).unwrap_err();
    assert_eq!(
        error.problems,
        [Problem::NonFinite {
            name: "fc.weight".into(),
            count: 1,
            first: 1
        }]
    );
    let message = error.to_string();
    assert!(
        message.contains(
            "tensor \"fc.weight\" holds 1 NaN or infinite value (the first at position 1)"
        ),
        "{message}"
    );
    assert!(message.contains("nothing was loaded"), "{message}");

    // A flipped bit in the last weight's bytes: a finite, wrong number, caught by the checksum.
    checkpoint::save(&good, &path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let error = checkpoint::load(&mut target, &path).unwrap_err();
    assert!(
        matches!(&error.problems[..], [Problem::Checksum { .. }]),
        "{error}"
    );
    assert!(error.to_string().contains("damaged after it was written"));

    // The checksum is not the metadata's business: it does not show up there.
    checkpoint::save(&good, &path).unwrap();
    let file = checkpoint::read::<f32>(&path).unwrap();
    assert!(file.verified);
    assert!(!file.metadata.contains_key(CHECKSUM_KEY));
}

/// Safetensors accepts a tensor of shape `[0, 2^40, 2^40]` (it has no bytes);
/// no tensor can have that shape (its strides overflow), so it is refused
/// rather than passed on to panic in the tensor constructor.
#[test]
fn an_empty_tensor_whose_shape_overflows_is_refused() {
    let header =
        r#"{"x":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let problems = checkpoint::from_safetensors::<f32>(&bytes).unwrap_err();
    assert_eq!(
        problems,
        [Problem::Corrupt(
            "tensor \"x\" has shape [0, 1099511627776, 1099511627776], whose sizes overflow".into()
        )]
    );
}
