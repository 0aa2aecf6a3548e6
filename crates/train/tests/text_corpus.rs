//! Character corpora read from files: bad files give errors naming them, and
//! the real tiny Shakespeare (when `shared/data` is beside the repository) is
//! found through a data directory and cut into sequences.

use std::path::PathBuf;

use train::data::text::{tiny_shakespeare, CharCorpus};
use train::data::{DataError, DataPaths};

#[test]
fn a_text_file_that_is_not_utf8_or_is_empty_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    let error = CharCorpus::read(&latin1).unwrap_err();
    assert!(
        matches!(error, DataError::NotUtf8 { valid_up_to: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("latin1.txt"), "{error}");

    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let error = CharCorpus::read(&empty).unwrap_err();
    assert!(error.to_string().contains("empty.txt"), "{error}");
}

#[test]
fn a_corpus_is_found_in_the_data_dir_under_another_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tinyshakespeare.txt"),
        "To be, or not to be",
    )
    .unwrap();
    let mut paths = DataPaths::with_cache_dir(dir.path().join("cache"));
    paths.data_dir = Some(dir.path().to_path_buf());
    paths.allow_download = false;
    let corpus = CharCorpus::load(&paths).unwrap();
    assert_eq!(corpus.ids.len(), 19);
    assert_eq!(
        corpus.vocab.decode(&corpus.ids).unwrap(),
        "To be, or not to be"
    );
}

/// `shared/data` as CI and developers have it: beside the repository.
fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

#[test]
fn real_tiny_shakespeare_when_present() {
    let data = shared_data();
    if !data.join("tinyshakespeare.txt").exists() {
        eprintln!("skipped: no {}", data.display());
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut paths = DataPaths::with_cache_dir(cache.path());
    paths.data_dir = Some(data);
    paths.allow_download = false;
    let corpus = CharCorpus::load(&paths).unwrap();
    assert_eq!(corpus.ids.len(), 1_115_394);
    assert_eq!(corpus.vocab.len(), 65);
    let expected_md5 = tiny_shakespeare().md5.unwrap();
    let bytes = std::fs::read(corpus.source.as_ref().unwrap()).unwrap();
    use md5::Digest;
    assert_eq!(format!("{:x}", md5::Md5::digest(&bytes)), expected_md5);

    let splits = corpus.sequences(100, 0.1).unwrap();
    // 1,003,855 training characters, 111,539 validation characters.
    assert_eq!(splits.train.len(), (1_003_855 - 1) / 100);
    assert_eq!(splits.validation.len(), (111_539 - 1) / 100);
    let text = corpus.vocab.decode(splits.train.input(0)).unwrap();
    assert!(text.starts_with("First Citizen:"), "{text}");
}
