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

use super::{differing_keys, TrainError, TrainerConfig};
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
        let mut metadata = config.metadata.clone();
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
        let path = self.path.join(LAST_CHECKPOINT);
        if !path.exists() {
            return Err(TrainError::Resume(format!(
                "{} does not exist: there is no run to continue in {} (start one without --resume)",
                path.display(),
                self.path.display()
            )));
        }
        let file = checkpoint::read::<f32>(&path)?;
        require_checksum(&path, file.verified)?;
        let run = RunState::from_metadata(&file.metadata)
            .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
        let changed = differing_keys(&config.metadata, &file.metadata);
        if let Some(key) = changed.first() {
            return Err(TrainError::Resume(format!(
                "the run in {} was made with {key} = {:?}, this one has {:?}; \
                 use the same settings, or another --out",
                self.path.display(),
                file.metadata.get(key).map_or("(nothing)", String::as_str),
                config.metadata[key]
            )));
        }
        if run.seed != config.seed {
            return Err(TrainError::Resume(format!(
                "the run in {} was started with seed {}, this one has seed {}: \
                 its batches and dropout masks would differ",
                self.path.display(),
                run.seed,
                config.seed
            )));
        }
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
