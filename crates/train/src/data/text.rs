//! Character-level corpora: a text file as a long list of character ids, cut
//! into (input, target) sequences for a language model (char-rnn).
//!
//! - The vocabulary is the sorted set of characters in the text, so ids are
//!   stable for a given text ([`CharVocabulary`]).
//! - A model learns to predict the next character: a target sequence is its
//!   input shifted by one. From `"hello"` with length 4: input `"hell"`,
//!   target `"ello"`.
//! - The text is split by position, the first part for training and the last
//!   part for validation (as char-rnn does): random windows of one text would
//!   put overlapping sentences on both sides.
//! - Windows start every `L` characters, so each character is an input once.
//! - Batches come two ways. [`CharSequences::batches`] deals windows into
//!   batches in any (shuffled) order, each window on its own (the TensorFlow
//!   tutorial's way: the state starts from zero at every window).
//!   [`CharSequences::stream_batches`] cuts the text into `B` streams, one
//!   per row, so row `i` of batch `k + 1` is the text that follows row `i`
//!   of batch `k`: a stateful model carries its state from one batch to the
//!   next and reads each stream as one long text (truncated backpropagation
//!   through time).
//!
//! The default corpus is tiny Shakespeare (1,115,394 characters, 65 distinct),
//! found like any data file (see [`DataPaths::locate`]) or downloaded from the
//! TensorFlow text-generation tutorial's address. That file is byte-for-byte
//! char-rnn's `tinyshakespeare/input.txt`, whose MD5 is checked.

use std::io::Read;
use std::path::{Path, PathBuf};

use tensor::Indices;

use super::loader::order;
use super::{DataError, DataPaths, RemoteFile};

/// Where tiny Shakespeare is downloaded from.
pub const TINY_SHAKESPEARE_URL: &str =
    "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt";
/// Tiny Shakespeare's MD5.
pub const TINY_SHAKESPEARE_MD5: &str = "6fb458f1232090904fb40fe944165e91";

/// Tiny Shakespeare: `shakespeare.txt` (the tutorial's name) or `tinyshakespeare.txt`.
pub fn tiny_shakespeare() -> RemoteFile {
    RemoteFile {
        dataset: "tiny Shakespeare".to_string(),
        url: TINY_SHAKESPEARE_URL.to_string(),
        file_name: "shakespeare.txt".to_string(),
        md5: Some(TINY_SHAKESPEARE_MD5.to_string()),
        other_names: vec!["tinyshakespeare.txt".to_string()],
    }
}

/// The characters of a text, sorted; a character's id is its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharVocabulary {
    chars: Vec<char>,
}

impl CharVocabulary {
    /// The distinct characters of `text`, sorted by code point.
    pub fn from_text(text: &str) -> CharVocabulary {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocabulary { chars }
    }

    /// The number of characters (the model's input and output size).
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether there are no characters.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if it is in the vocabulary (a binary search: the list is sorted).
    pub fn id(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok()
    }

    /// The ids of the characters of `text`; an unknown character is an error.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, DataError> {
        text.chars()
            .map(|c| self.id(c).ok_or(DataError::UnknownChar { character: c }))
            .collect()
    }

    /// The text of `ids`; an id out of range is an error.
    pub fn decode(&self, ids: &[usize]) -> Result<String, DataError> {
        ids.iter()
            .map(|&id| {
                self.chars.get(id).copied().ok_or_else(|| {
                    DataError::InvalidArgument(format!(
                        "character id {id} is outside the vocabulary of {}",
                        self.len()
                    ))
                })
            })
            .collect()
    }
}

/// The largest text file [`CharCorpus::read`] reads: 1 GiB (its ids take
/// eight times as much memory).
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// A text as character ids, with its vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharCorpus {
    /// The characters of the text.
    pub vocab: CharVocabulary,
    /// The whole text, encoded.
    pub ids: Vec<usize>,
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
}

impl CharCorpus {
    /// Tiny Shakespeare, found or downloaded as `paths` says.
    pub fn load(paths: &DataPaths) -> Result<CharCorpus, DataError> {
        CharCorpus::read(&paths.locate(&tiny_shakespeare())?)
    }

    /// Reads a UTF-8 text file of at most [`MAX_TEXT_BYTES`].
    ///
    /// # Errors
    /// If the path is a directory, the file cannot be read, is larger than
    /// the limit (`/dev/zero` never ends), is not UTF-8 or is empty.
    pub fn read(path: &Path) -> Result<CharCorpus, DataError> {
        let text = read_text(path, MAX_TEXT_BYTES)?;
        if text.is_empty() {
            return Err(DataError::EmptySplit {
                path: path.to_path_buf(),
                split: "the text file".to_string(),
            });
        }
        let mut corpus = CharCorpus::from_text(&text)?;
        corpus.source = Some(path.to_path_buf());
        Ok(corpus)
    }

    /// Encodes `text` with its own vocabulary; empty text is an error.
    pub fn from_text(text: &str) -> Result<CharCorpus, DataError> {
        if text.is_empty() {
            return Err(DataError::InvalidArgument("the text is empty".to_string()));
        }
        let vocab = CharVocabulary::from_text(text);
        let ids = vocab.encode(text)?;
        Ok(CharCorpus {
            vocab,
            ids,
            source: None,
        })
    }

    /// Input/target sequences of `seq_len` characters: the last
    /// `validation_fraction` of the text (rounded) for validation, the rest
    /// for training. Each part must hold at least one sequence (`seq_len + 1`
    /// characters), unless `validation_fraction` is 0.
    pub fn sequences(
        &self,
        seq_len: usize,
        validation_fraction: f64,
    ) -> Result<CharSplits, DataError> {
        if seq_len == 0 || !(0.0..1.0).contains(&validation_fraction) {
            return Err(DataError::InvalidArgument(format!(
                "need seq_len >= 1 and a validation fraction in [0, 1); got {seq_len} and {validation_fraction}"
            )));
        }
        let validation_len = (validation_fraction * self.ids.len() as f64).round() as usize;
        let (train, validation) = self.ids.split_at(self.ids.len() - validation_len);
        for (name, part) in [("training", train), ("validation", validation)] {
            let needed = name == "training" || validation_fraction > 0.0;
            // A sequence's input and target need seq_len + 1 characters.
            if needed && part.len() <= seq_len {
                return Err(DataError::InvalidArgument(format!(
                    "the {name} part has {} characters, too few for one sequence of {seq_len} \
                     (input and target need one more)",
                    part.len(),
                )));
            }
        }
        Ok(CharSplits {
            train: CharSequences::new(train.to_vec(), seq_len),
            validation: CharSequences::new(validation.to_vec(), seq_len),
        })
    }
}

/// The UTF-8 text of the file at `path`, of at most `limit` bytes.
///
/// # Errors
/// If the path is a directory, the file cannot be read, is larger than
/// `limit`, or is not UTF-8.
fn read_text(path: &Path, limit: u64) -> Result<String, DataError> {
    if path.is_dir() {
        return Err(DataError::InvalidArgument(format!(
            "{} is a directory, not a text file (a data directory must hold tinyshakespeare.txt)",
            path.display()
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| DataError::io("reading", path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io("reading", path, e))?;
    if bytes.len() as u64 > limit {
        return Err(DataError::InvalidArgument(format!(
            "{} is larger than {limit} bytes ({} GiB), the most a character corpus may hold",
            path.display(),
            limit as f64 / (1u64 << 30) as f64
        )));
    }
    String::from_utf8(bytes).map_err(|e| DataError::NotUtf8 {
        path: path.to_path_buf(),
        member: None,
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}

/// Training and validation sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharSplits {
    /// From the start of the text.
    pub train: CharSequences,
    /// From the end of the text.
    pub validation: CharSequences,
}

/// Input/target windows over a span of character ids. Window `i` covers
/// `span[i*L .. i*L + L + 1]`: its first `L` ids are the input, its last `L` the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharSequences {
    span: Vec<usize>,
    seq_len: usize,
}

impl CharSequences {
    fn new(span: Vec<usize>, seq_len: usize) -> CharSequences {
        CharSequences { span, seq_len }
    }

    /// The number of windows.
    pub fn len(&self) -> usize {
        self.span.len().saturating_sub(1) / self.seq_len
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `L`, the length of each input and target.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The input of window `i` (`i < len()`).
    pub fn input(&self, i: usize) -> &[usize] {
        &self.span[i * self.seq_len..(i + 1) * self.seq_len]
    }

    /// The target of window `i`: its input shifted by one character.
    pub fn target(&self, i: usize) -> &[usize] {
        &self.span[i * self.seq_len + 1..(i + 1) * self.seq_len + 1]
    }

    /// Batches of `batch_size` windows, shuffled with `shuffle_seed` if given
    /// (pass a new seed each epoch), the last short batch dropped if `drop_last`.
    pub fn batches(
        &self,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        drop_last: bool,
    ) -> Result<impl ExactSizeIterator<Item = CharBatch> + '_, DataError> {
        if batch_size == 0 {
            return Err(DataError::InvalidArgument(
                "batch_size must be at least 1".to_string(),
            ));
        }
        let order = order(self.len(), shuffle_seed);
        let mut batches: Vec<Vec<usize>> =
            order.chunks(batch_size).map(<[usize]>::to_vec).collect();
        if drop_last && batches.last().is_some_and(|b| b.len() < batch_size) {
            batches.pop();
        }
        Ok(batches
            .into_iter()
            .map(move |windows| self.batch_of(&windows)))
    }
}

impl CharSequences {
    /// Batches for stateful training: the windows cut into `batch_size`
    /// streams of consecutive text, row `i` of every batch reading stream `i`.
    /// Stream `i` is windows `i*S .. (i+1)*S` (`S = len() / batch_size`, the
    /// windows left over are dropped), so batch `k` holds windows
    /// `k, S + k, 2S + k, ...`, and row `i` of batch `k + 1` continues row
    /// `i` of batch `k` exactly. The order is fixed: never shuffle streams.
    ///
    /// # Errors
    /// If `batch_size` is 0 or there are fewer windows than streams.
    pub fn stream_batches(
        &self,
        batch_size: usize,
    ) -> Result<impl ExactSizeIterator<Item = CharBatch> + '_, DataError> {
        if batch_size == 0 || self.len() < batch_size {
            return Err(DataError::InvalidArgument(format!(
                "stream_batches: {} windows cannot fill {batch_size} streams (batch_size must be \
                 at least 1 and at most the number of windows)",
                self.len()
            )));
        }
        let per_stream = self.len() / batch_size;
        Ok((0..per_stream).map(move |k| {
            let windows: Vec<usize> = (0..batch_size).map(|i| i * per_stream + k).collect();
            self.batch_of(&windows)
        }))
    }

    /// The windows `windows` as one batch, a row each.
    fn batch_of(&self, windows: &[usize]) -> CharBatch {
        let shape = [windows.len(), self.seq_len];
        let inputs = windows
            .iter()
            .flat_map(|&i| self.input(i))
            .copied()
            .collect();
        let targets = windows
            .iter()
            .flat_map(|&i| self.target(i))
            .copied()
            .collect();
        CharBatch {
            inputs: Indices::new(inputs, &shape),
            targets: Indices::new(targets, &shape),
        }
    }
}

/// In what order a [`CharLoader`] hands out windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharOrder {
    /// Windows shuffled anew each epoch (from this seed and the epoch number),
    /// each on its own: the TensorFlow tutorial's way.
    Shuffled {
        /// The seed of the shuffles.
        seed: u64,
    },
    /// Windows in text order (evaluation).
    InOrder,
    /// One stream of text per row, each batch continuing the last
    /// ([`CharSequences::stream_batches`]), for a stateful model.
    Streams,
}

/// Batches of character windows, epoch after epoch: the character corpus's
/// counterpart of [`DataLoader`](super::DataLoader).
#[derive(Clone, Debug)]
pub struct CharLoader<'a> {
    sequences: &'a CharSequences,
    batch_size: usize,
    order: CharOrder,
}

impl<'a> CharLoader<'a> {
    /// A loader of `batch_size` windows per batch.
    ///
    /// # Errors
    /// If `batch_size` is 0, or (for streams) larger than the number of windows.
    pub fn new(
        sequences: &'a CharSequences,
        batch_size: usize,
        order: CharOrder,
    ) -> Result<CharLoader<'a>, DataError> {
        if batch_size == 0 || (order == CharOrder::Streams && sequences.len() < batch_size) {
            return Err(DataError::InvalidArgument(format!(
                "a batch of {batch_size} windows from {} windows",
                sequences.len()
            )));
        }
        Ok(CharLoader {
            sequences,
            batch_size,
            order,
        })
    }

    /// The number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        match self.order {
            CharOrder::Streams => self.sequences.len() / self.batch_size,
            _ => self.sequences.len().div_ceil(self.batch_size),
        }
    }

    /// The batches of epoch `epoch`.
    pub fn batches(&self, epoch: u64) -> Box<dyn ExactSizeIterator<Item = CharBatch> + '_> {
        let batches = match self.order {
            CharOrder::Shuffled { seed } => self.sequences.batches(
                self.batch_size,
                Some(seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                false,
            ),
            CharOrder::InOrder => self.sequences.batches(self.batch_size, None, false),
            CharOrder::Streams => {
                return Box::new(
                    self.sequences
                        .stream_batches(self.batch_size)
                        .expect("checked in new"),
                )
            }
        };
        Box::new(batches.expect("checked in new"))
    }
}

/// A batch of character windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharBatch {
    /// `[batch, L]` input ids.
    pub inputs: Indices,
    /// `[batch, L]` target ids: each row's input shifted by one.
    pub targets: Indices,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text larger than the limit (`/dev/zero`, say) is refused after
    /// reading one byte past it, naming the file and the limit.
    #[test]
    fn a_text_past_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, "x".repeat(21)).unwrap();
        assert_eq!(read_text(&path, 21).unwrap().len(), 21);
        let error = read_text(&path, 20).unwrap_err().to_string();
        assert!(error.contains("big.txt is larger than 20 bytes"), "{error}");
        let error = read_text(dir.path(), 20).unwrap_err().to_string();
        assert!(error.contains("is a directory, not a text file"), "{error}");
    }

    #[test]
    fn vocabulary_is_sorted_and_round_trips() {
        let corpus = CharCorpus::from_text("hello, world").unwrap();
        assert_eq!(
            corpus.vocab.chars(),
            [' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
        );
        assert_eq!(corpus.vocab.decode(&corpus.ids).unwrap(), "hello, world");
        assert!(matches!(
            corpus.vocab.encode("hex"),
            Err(DataError::UnknownChar { character: 'x' })
        ));
        assert!(corpus.vocab.decode(&[9]).is_err());
    }

    #[test]
    fn targets_are_inputs_shifted_by_one_and_validation_is_the_end() {
        let corpus = CharCorpus::from_text("abcdefghij").unwrap();
        let decode = |ids: &[usize]| corpus.vocab.decode(ids).unwrap();
        // Everything for training: windows "abcd", "defg", "ghij".
        let splits = corpus.sequences(3, 0.0).unwrap();
        assert_eq!((splits.train.len(), splits.validation.len()), (3, 0));
        assert_eq!(decode(splits.train.input(1)), "def");
        assert_eq!(decode(splits.train.target(1)), "efg");
        // Train "abcdefg", validation "hij".
        let splits = corpus.sequences(2, 0.3).unwrap();
        assert_eq!((splits.train.len(), splits.validation.len()), (3, 1));
        assert_eq!(decode(splits.validation.input(0)), "hi");
        assert_eq!(decode(splits.validation.target(0)), "ij");
        // "hij" is too short for one window of 3 (it needs 4 characters).
        assert!(corpus.sequences(3, 0.3).is_err());
    }

    /// Reading row `i` of every stream batch in turn gives back one piece of
    /// the text, without a gap or a repeat: stream `i`, as stateful training needs.
    #[test]
    fn stream_batches_continue_each_row_in_the_next_batch() {
        let text: String = (0..997)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let corpus = CharCorpus::from_text(&text).unwrap();
        let splits = corpus.sequences(7, 0.0).unwrap();
        let (batch, windows) = (4, splits.train.len());
        let per_stream = windows / batch;
        let batches: Vec<CharBatch> = splits.train.stream_batches(batch).unwrap().collect();
        assert_eq!(batches.len(), per_stream);
        for row in 0..batch {
            let mut read = Vec::new();
            let mut next_targets = Vec::new();
            for b in &batches {
                let input = &b.inputs.values()[row * 7..(row + 1) * 7];
                let target = &b.targets.values()[row * 7..(row + 1) * 7];
                read.extend_from_slice(input);
                next_targets.extend_from_slice(target);
            }
            let start = row * per_stream * 7;
            assert_eq!(read, corpus.ids[start..start + read.len()], "stream {row}");
            assert_eq!(next_targets, corpus.ids[start + 1..start + 1 + read.len()]);
        }
        assert!(splits.train.stream_batches(0).is_err());
        assert!(splits.train.stream_batches(windows + 1).is_err());
    }

    #[test]
    fn batches_cover_every_window_once() {
        let corpus = CharCorpus::from_text(&"abcdefghijklmnopqrstuvwxyz".repeat(4)).unwrap();
        let splits = corpus.sequences(5, 0.0).unwrap();
        assert_eq!(splits.train.len(), 20);
        let batches: Vec<CharBatch> = splits.train.batches(6, Some(3), false).unwrap().collect();
        assert_eq!(batches.len(), 4);
        assert_eq!(batches[0].inputs.shape(), [6, 5]);
        let mut firsts: Vec<usize> = batches
            .iter()
            .flat_map(|b| {
                b.inputs
                    .values()
                    .chunks(5)
                    .map(|row| row[0])
                    .collect::<Vec<_>>()
            })
            .collect();
        firsts.sort();
        let mut expected: Vec<usize> = (0..20).map(|i| (i * 5) % 26).collect();
        expected.sort();
        assert_eq!(firsts, expected);
        for batch in &batches {
            for (input, target) in batch
                .inputs
                .values()
                .chunks(5)
                .zip(batch.targets.values().chunks(5))
            {
                assert_eq!(input[1..], target[..4]);
            }
        }
        assert_eq!(splits.train.batches(6, None, true).unwrap().len(), 3);
    }
}
