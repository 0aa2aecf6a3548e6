//! What a run keeps on disk, and how a stopped run is taken up again.
//!
//! ```text
//! out_dir/
//!   .lock               held while a run writes here
//!   history.csv         one row per epoch; loss.svg, accuracy.svg beside it
//!   best.safetensors    the weights of the best epoch so far
//!   last.safetensors    the weights, optimizer state and loop state after the last epoch
//! ```
//!
//! Both checkpoints carry the run's metadata (the model's configuration and
//! vocabulary, as the program gives them) and a run id, so the best
//! checkpoint used for the test score is known to come from this run. The
//! loop state in `last.safetensors` (epochs done, best epoch, epochs without
//! improvement, the history) is metadata too: one file, written atomically,
//! always consistent with its weights.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nn::checkpoint;
use nn::{Metadata, Module};
use tensor::durable::{remove_stale_parts, DirectoryLock};
use tensor::Tensor;

use super::{TrainError, TrainerConfig};
use crate::history::History;
use crate::optim::Optimizer;

/// The best epoch's weights.
pub const BEST_CHECKPOINT: &str = "best.safetensors";
/// The state after the last finished epoch.
pub const LAST_CHECKPOINT: &str = "last.safetensors";
const LOCK_FILE: &str = ".lock";

/// The loop's state between epochs.
#[derive(Clone, Debug)]
pub(crate) struct RunState {
    /// Identifies the run across the processes of a resumed run.
    pub(crate) id: String,
    pub(crate) seed: u64,
    pub(crate) epochs_done: usize,
    pub(crate) best: Option<(usize, f64)>,
    pub(crate) stale_epochs: usize,
    pub(crate) history: History,
}

impl RunState {
    pub(crate) fn fresh(seed: u64) -> RunState {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        RunState {
            id: format!("{nanos:x}-{}", std::process::id()),
            seed,
            epochs_done: 0,
            best: None,
            stale_epochs: 0,
            history: History::new(),
        }
    }

    fn to_metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        m.insert("run.id".into(), self.id.clone());
        m.insert("run.seed".into(), self.seed.to_string());
        m.insert("run.epochs_done".into(), self.epochs_done.to_string());
        if let Some((epoch, value)) = self.best {
            m.insert("run.best_epoch".into(), epoch.to_string());
            m.insert("run.best_value".into(), value.to_string());
        }
        m.insert("run.stale_epochs".into(), self.stale_epochs.to_string());
        m.insert("run.history".into(), self.history.to_csv());
        m
    }

    fn from_metadata(m: &Metadata) -> Result<RunState, String> {
        fn get<V: std::str::FromStr>(m: &Metadata, key: &str) -> Result<V, String> {
            let text = m.get(key).ok_or_else(|| format!("{key} is missing"))?;
            text.parse()
                .map_err(|_| format!("{key} has the invalid value {text:?}"))
        }
        let best = match m.get("run.best_epoch") {
            Some(_) => Some((get(m, "run.best_epoch")?, get(m, "run.best_value")?)),
            None => None,
        };
        Ok(RunState {
            id: get(m, "run.id")?,
            seed: get(m, "run.seed")?,
            epochs_done: get(m, "run.epochs_done")?,
            best,
            stale_epochs: get(m, "run.stale_epochs")?,
            history: History::from_csv(m.get("run.history").map_or("", String::as_str))?,
        })
    }
}

/// A run's output directory, locked for the run's lifetime.
#[derive(Debug)]
pub struct RunDirectory {
    path: PathBuf,
    /// Holds the lock; released when dropped (or when the process dies).
    _lock: DirectoryLock,
}

fn io<'p>(path: &'p Path, action: &'static str) -> impl FnOnce(std::io::Error) -> TrainError + 'p {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

impl RunDirectory {
    /// Creates `path` if needed, locks it, and removes the temporary files of
    /// writes a killed run left unfinished.
    ///
    /// # Errors
    /// If the directory cannot be created or another process holds its lock.
    pub fn open(path: &Path) -> Result<RunDirectory, TrainError> {
        fs::create_dir_all(path).map_err(io(path, "cannot create"))?;
        let lock = DirectoryLock::acquire(path, LOCK_FILE)?;
        remove_stale_parts(path);
        Ok(RunDirectory {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn metadata(config: &TrainerConfig, run: &RunState) -> Metadata {
        let mut metadata = config.run_metadata();
        metadata.extend(run.to_metadata());
        metadata
    }

    pub(crate) fn save_best<M: Module<f32>>(
        &self,
        config: &TrainerConfig,
        run: &RunState,
        model: &M,
    ) -> Result<(), TrainError> {
        checkpoint::save_with_metadata(
            model,
            &Self::metadata(config, run),
            self.path.join(BEST_CHECKPOINT),
        )?;
        Ok(())
    }

    /// The weights after epoch `epoch` (from 1), as `epoch_<epoch>.safetensors`.
    pub(crate) fn save_epoch<M: Module<f32>>(
        &self,
        config: &TrainerConfig,
        run: &RunState,
        model: &M,
        epoch: usize,
    ) -> Result<(), TrainError> {
        let path = self.path.join(format!("epoch_{epoch}.safetensors"));
        checkpoint::save_with_metadata(model, &Self::metadata(config, run), path)?;
        Ok(())
    }

    pub(crate) fn save_last<M: Module<f32>>(
        &self,
        config: &TrainerConfig,
        run: &RunState,
        model: &M,
        optimizer: &dyn Optimizer<f32>,
    ) -> Result<(), TrainError> {
        let mut tensors = model.state_dict();
        let (optimizer_tensors, optimizer_metadata) = optimizer.state_dict(model);
        tensors.extend(optimizer_tensors);
        let mut metadata = Self::metadata(config, run);
        metadata.extend(optimizer_metadata);
        checkpoint::save_tensors(&tensors, &metadata, self.path.join(LAST_CHECKPOINT))?;
        Ok(())
    }

    pub(crate) fn save_history(&self, history: &History) -> Result<(), TrainError> {
        history
            .save(&self.path)
            .map_err(io(&self.path, "cannot write the history into"))
    }

    /// Reads `last.safetensors` back into the model and optimizer.
    pub(crate) fn resume<M: Module<f32>>(
        &self,
        config: &TrainerConfig,
        model: &mut M,
        optimizer: &mut dyn Optimizer<f32>,
    ) -> Result<RunState, TrainError> {
        let (file, run) = check_resume(config)?;
        let path = self.path.join(LAST_CHECKPOINT);
        let (optimizer_tensors, model_tensors): (BTreeMap<String, Tensor<f32>>, _) = file
            .tensors
            .into_iter()
            .partition(|(name, _)| name.starts_with("optimizer."));
        model
            .load_state_dict(&model_tensors, true)
            .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
        optimizer
            .load_state_dict(model, &optimizer_tensors, &file.metadata)
            .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
        Ok(run)
    }
}

/// Checks that the run in `config.out_dir` can be resumed with `config`:
/// its last checkpoint exists, is whole, and was made with the same
/// settings (every one that differs is named, with both values). Reads, and
/// writes nothing.
pub(crate) fn check_resume(
    config: &TrainerConfig,
) -> Result<(checkpoint::Checkpoint<f32>, RunState), TrainError> {
    let (dir, path) = (&config.out_dir, config.out_dir.join(LAST_CHECKPOINT));
    if !path.exists() {
        return Err(TrainError::Resume(format!(
            "{} does not exist: there is no run to continue in {} (start one without --resume)",
            path.display(),
            dir.display()
        )));
    }
    let file = checkpoint::read::<f32>(&path)?;
    require_checksum(&path, file.verified)?;
    let run = RunState::from_metadata(&file.metadata)
        .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
    let expected = config.run_metadata();
    if let (Some(ours), Some(theirs)) = (expected.get("model"), file.metadata.get("model")) {
        if ours != theirs {
            return Err(TrainError::Resume(format!(
                "the run in {} trains a {theirs}, not a {ours}; choose another output directory",
                dir.display()
            )));
        }
    }
    let differences = differences(&expected, &file.metadata);
    if !differences.is_empty() {
        return Err(TrainError::Resume(format!(
            "the run in {} was made with other settings (only the number of epochs may change; \
             use the same settings, or another output directory):{differences}",
            dir.display()
        )));
    }
    if run.seed != config.seed {
        return Err(TrainError::Resume(format!(
            "the run in {} was started with seed {}, this one has seed {}: \
             its batches and dropout masks would differ",
            dir.display(),
            run.seed,
            config.seed
        )));
    }
    Ok((file, run))
}

/// One line per key whose value in `ours` differs from `theirs`: the
/// checkpoint's value, then this run's (long values summarised).
fn differences(ours: &Metadata, theirs: &Metadata) -> String {
    let mut lines = String::new();
    for (key, value) in ours {
        let old = theirs.get(key).map(String::as_str);
        if old != Some(value.as_str()) {
            let old = old.map_or_else(|| "(not set)".to_string(), summary);
            lines.push_str(&format!(
                "\n  {key}: {old} in the checkpoint, {} now",
                summary(value)
            ));
        }
    }
    // A loop feature the run had and this one lacks (a warm-up, say).
    for (key, value) in theirs {
        if key.starts_with("loop.") && !ours.contains_key(key) {
            lines.push_str(&format!(
                "\n  {key}: {} in the checkpoint, (not set) now",
                summary(value)
            ));
        }
    }
    lines
}

/// A metadata value for a message: itself if short, else its size and first line.
fn summary(value: &str) -> String {
    if value.len() <= 60 && !value.contains('\n') {
        return format!("{value:?}");
    }
    let first = value.lines().next().unwrap_or("");
    let first: String = first.chars().take(40).collect();
    format!(
        "{} lines, {} bytes, starting {first:?}",
        value.lines().count(),
        value.len()
    )
}

/// Every checkpoint this loop writes carries a content checksum; one without
/// it was damaged exactly there (or is not this loop's file), and its
/// content cannot be trusted.
fn require_checksum(path: &Path, verified: bool) -> Result<(), TrainError> {
    if verified {
        return Ok(());
    }
    Err(TrainError::Resume(format!(
        "{} has no content checksum ({}): it was not written by the training loop, \
         or its header is damaged",
        path.display(),
        checkpoint::CHECKSUM_KEY
    )))
}

/// Loads the weights of a checkpoint this loop wrote (`best.safetensors`, or
/// `last.safetensors`, whose optimizer state is left aside) into `model`,
/// strictly: every parameter present, no other tensor.
///
/// # Errors
/// If the file cannot be read, or its tensors do not fit the model (every
/// missing, unexpected or mis-shaped tensor is named).
pub fn load_weights<M: Module<f32>>(model: &mut M, path: &Path) -> Result<(), TrainError> {
    let file = checkpoint::read::<f32>(path)?;
    let weights: BTreeMap<String, Tensor<f32>> = file
        .tensors
        .into_iter()
        .filter(|(name, _)| !name.starts_with("optimizer."))
        .collect();
    model
        .load_state_dict(&weights, true)
        .map_err(|e| TrainError::Load(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// Loads `best` into `model` after checking that it was written by the run
/// whose last checkpoint is `last`.
pub(crate) fn load_checkpoint_of_run<M: Module<f32>>(
    model: &mut M,
    best: &Path,
    last: &Path,
) -> Result<(), TrainError> {
    let run_id = |path: &Path| -> Result<String, TrainError> {
        let file = checkpoint::read::<f32>(path)?;
        require_checksum(path, file.verified)?;
        file.metadata
            .get("run.id")
            .cloned()
            .ok_or_else(|| TrainError::Resume(format!("{} has no run id", path.display())))
    };
    let (ours, theirs) = (run_id(last)?, run_id(best)?);
    if ours != theirs {
        return Err(TrainError::Resume(format!(
            "{} belongs to another run ({theirs}, not {ours})",
            best.display()
        )));
    }
    checkpoint::load(model, best)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A setting that changed, one the run did not have, and a loop feature
    /// the run had that this one lacks (a warm-up dropped on resuming) are
    /// all named; the model's keys only where this run has them.
    #[test]
    fn differences_name_changed_added_and_dropped_settings() {
        let metadata = |pairs: &[(&str, &str)]| -> Metadata {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let theirs = metadata(&[
            ("loop.seed", "1"),
            ("loop.warmup_steps", "100"),
            ("model.extra", "x"),
        ]);
        let ours = metadata(&[("loop.seed", "2"), ("loop.gamma", "0.5")]);
        let lines = differences(&ours, &theirs);
        assert!(
            lines.contains("loop.seed: \"1\" in the checkpoint, \"2\" now"),
            "{lines}"
        );
        assert!(
            lines.contains("loop.gamma: (not set) in the checkpoint"),
            "{lines}"
        );
        assert!(
            lines.contains("loop.warmup_steps: \"100\" in the checkpoint, (not set) now"),
            "{lines}"
        );
        assert!(!lines.contains("model.extra"), "{lines}");
        assert_eq!(differences(&theirs, &theirs), "");
    }
}
