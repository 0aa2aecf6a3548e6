//! The IMDB reader, encoder and cache on tiny datasets built in temporary
//! directories: both layouts, the vocabulary rules, padding, every kind of
//! bad data, and the cache's behaviour.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use train::data::imdb::{read_raw, CacheStatus, Imdb, ImdbConfig, Sentiment};
use train::data::loader::{DataLoader, LoaderConfig};
use train::data::vocab::{Vocabulary, OOV_ID, PAD_ID};
use train::data::{CacheMode, DataError, DataPaths, Side};

fn config(vocab_size: usize, max_len: usize, truncating: Side) -> ImdbConfig {
    ImdbConfig {
        vocab_size,
        max_len,
        truncating,
    }
}

/// Reads `source` only (no search, no download), caching in `cache_dir`.
fn paths(source: &Path, cache_dir: &Path) -> DataPaths {
    let mut paths = DataPaths::with_cache_dir(cache_dir);
    paths.explicit = Some(source.to_path_buf());
    paths.allow_download = false;
    paths
}

fn load(source: &Path, cache_dir: &Path, config: &ImdbConfig) -> Result<Imdb, DataError> {
    Imdb::load(&paths(source, cache_dir), config)
}

fn ids(imdb: &Imdb) -> Vec<Vec<usize>> {
    imdb.train
        .iter()
        .chain(&imdb.test)
        .map(|review| review.token_ids.clone())
        .collect()
}

#[test]
fn official_tarball_repacked_tarball_and_directories_give_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let official = write_tar_gz(dir.path(), "aclImdb_v1.tar.gz", &official_layout());
    let repacked = write_tar_gz(dir.path(), "aclImdb_labeled.tar.gz", &labeled_reviews());
    // Without the top directory: members start at train/ and test/.
    let stripped: Vec<Member> = labeled_reviews()
        .into_iter()
        .filter_map(|(path, bytes)| {
            let rest = path.strip_prefix("aclImdb/")?;
            (!rest.is_empty()).then(|| (rest.to_string(), bytes))
        })
        .collect();
    let rootless = write_tar_gz(dir.path(), "rootless.tar.gz", &stripped);
    let extracted = dir.path().join("extracted");
    write_tree(&extracted, &official_layout());

    let expected = read_raw(&official).unwrap();
    assert_eq!((expected.train.len(), expected.test.len()), (4, 2));
    for source in [
        repacked,
        rootless,
        extracted.clone(),
        extracted.join("aclImdb"),
    ] {
        let raw = read_raw(&source).unwrap();
        assert_eq!(
            (&raw.train, &raw.test),
            (&expected.train, &expected.test),
            "{source:?}"
        );
    }
}

#[test]
fn raw_reviews_keep_label_rating_and_text_sorted_by_label_then_id() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &official_layout());
    let raw = read_raw(&source).unwrap();
    let summary: Vec<(Sentiment, u32, u8)> = raw
        .train
        .iter()
        .map(|review| (review.sentiment, review.id, review.rating))
        .collect();
    assert_eq!(
        summary,
        [
            (Sentiment::Negative, 0, 2),
            (Sentiment::Negative, 1, 1),
            (Sentiment::Positive, 0, 9),
            (Sentiment::Positive, 1, 10),
        ]
    );
    assert_eq!(raw.train[0].text, "A bad movie; bad, BAD acting.");
}

/// Train counts: bad 3, great 3, a 2, acting 2, movie 2, fun 1, it 1, loved 1.
/// Ties go to byte order: bad 2, great 3, a 4, acting 5, movie 6 (vocab_size 5).
#[test]
fn vocabulary_breaks_ties_by_byte_order_and_maps_unseen_words_to_oov() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &official_layout());
    let imdb = load(
        &source,
        &dir.path().join("cache"),
        &config(5, 100, Side::Pre),
    )
    .unwrap();
    assert_eq!(imdb.vocab.words(), ["bad", "great", "a", "acting", "movie"]);
    assert_eq!(imdb.vocab.len(), 7);
    assert_eq!(
        ids(&imdb),
        [
            vec![4, 2, 6, 2, 2, 5],    // a bad movie bad bad acting
            vec![],                    // "!!! ...": no words at all
            vec![4, 3, 6, 3, 5, 1, 1], // a great movie great acting loved(OOV) it(OOV)
            vec![3, 1],                // great fun(OOV)
            vec![2],                   // test: bad
            vec![3, OOV_ID],           // test: great zebra (never seen in training)
        ]
    );
    // Unlabelled reviews never reach the vocabulary, even with room to spare.
    let big = load(
        &source,
        &dir.path().join("cache"),
        &config(100, 100, Side::Pre),
    )
    .unwrap();
    assert_eq!(big.vocab.num_words(), 8);
    assert_eq!(big.vocab.id("unlabelled"), OOV_ID);
}

#[test]
fn truncation_keeps_the_end_or_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &labeled_reviews());
    let cache = dir.path().join("cache");
    let pre = load(&source, &cache, &config(5, 4, Side::Pre)).unwrap();
    let post = load(&source, &cache, &config(5, 4, Side::Post)).unwrap();
    assert_eq!(pre.train[2].token_ids, [3, 5, 1, 1]);
    assert_eq!(post.train[2].token_ids, [4, 3, 6, 3]);
    assert_eq!(
        pre.train[3].token_ids,
        [3, 1],
        "short reviews are not padded here"
    );
}

#[test]
fn loader_pads_pre_or_post_with_lengths_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &labeled_reviews());
    let imdb = load(
        &source,
        &dir.path().join("cache"),
        &config(5, 4, Side::Post),
    )
    .unwrap();
    for (padding, expected) in [
        (Side::Pre, [4, 2, 6, 2, 0, 0, 0, 0, 4, 3, 6, 3, 0, 0, 3, 1]),
        (Side::Post, [4, 2, 6, 2, 0, 0, 0, 0, 4, 3, 6, 3, 3, 1, 0, 0]),
    ] {
        let mut loader_config = LoaderConfig::evaluation(4);
        loader_config.bucket_pool = None;
        loader_config.padding = padding;
        let loader = DataLoader::new(&imdb.train, loader_config).unwrap();
        let batches: Vec<_> = loader.batches(0).collect();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.token_ids.shape(), [4, 4]);
        assert_eq!(batch.token_ids.values(), expected, "{padding:?}");
        assert_eq!(batch.lengths, [4, 0, 4, 2]);
        assert_eq!(batch.labels.to_vec(), [0.0, 0.0, 1.0, 1.0]);
        assert!(batch
            .token_ids
            .values()
            .iter()
            .all(|&id| id < imdb.vocab.len()));
        assert_eq!(PAD_ID, 0);
    }
}

#[test]
fn a_saved_vocabulary_encodes_new_text_exactly_as_training_did() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &labeled_reviews());
    let imdb = load(
        &source,
        &dir.path().join("cache"),
        &config(5, 100, Side::Pre),
    )
    .unwrap();
    let path = dir.path().join("vocab.txt");
    imdb.vocab.save(&path).unwrap();
    let loaded = Vocabulary::load(&path).unwrap();
    assert_eq!(loaded, imdb.vocab);
    assert_eq!(
        loaded.encode("A BAD, bad zebra<br />movie"),
        [4, 2, 2, OOV_ID, 6]
    );
}

// ---- bad data: each case gives its own error, naming the file ----

/// Loads `members` written as a `.tar.gz`, expecting an error; checks that no
/// cache file was written.
fn tarball_error(members: &[Member]) -> DataError {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "bad.tar.gz", members);
    let cache = dir.path().join("cache");
    let error = load(&source, &cache, &ImdbConfig::default()).unwrap_err();
    assert!(error.to_string().contains("bad.tar.gz"), "{error}");
    assert!(
        file_names(&cache).is_empty(),
        "a cache was written for bad data"
    );
    error
}

/// The same members written as a directory must fail the same way.
fn directory_error(members: &[Member]) -> DataError {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write_tree(&root, members);
    let error = read_raw(&root).unwrap_err();
    assert!(error.to_string().contains("tree"), "{error}");
    error
}

#[test]
fn truncated_gzip_is_an_error_wherever_it_is_cut() {
    let complete = gzip(&tar_bytes(&official_layout()));
    let dir = tempfile::tempdir().unwrap();
    // From the gzip header, through the data, to the 8-byte trailer.
    for keep in [
        5,
        30,
        complete.len() / 2,
        complete.len() - 9,
        complete.len() - 8,
        complete.len() - 1,
    ] {
        let path = dir.path().join(format!("cut{keep}.tar.gz"));
        std::fs::write(&path, &complete[..keep]).unwrap();
        let error = read_raw(&path).unwrap_err();
        assert!(
            matches!(error, DataError::Archive { .. }),
            "cut at {keep}: {error}"
        );
        assert!(
            error.to_string().contains(&format!("cut{keep}.tar.gz")),
            "{error}"
        );
    }
    let path = dir.path().join("whole.tar.gz");
    std::fs::write(&path, &complete).unwrap();
    read_raw(&path).unwrap();
}

#[test]
fn a_tar_stream_cut_between_members_is_an_error() {
    // A well-formed gzip around a tar stream that stops after a member,
    // without the end-of-archive marker: it must not read as a smaller dataset.
    let members = labeled_reviews();
    let whole = tar_bytes(&members);
    let first_part = tar_bytes(&members[..6]);
    let cut = &whole[..first_part.len() - 1024]; // drop first_part's end marker
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.tar.gz");
    std::fs::write(&path, gzip(cut)).unwrap();
    let error = read_raw(&path).unwrap_err();
    assert!(
        error.to_string().contains("end-of-archive marker"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_gzip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.tar.gz");
    std::fs::write(&path, tar_bytes(&labeled_reviews())).unwrap();
    assert!(matches!(
        read_raw(&path).unwrap_err(),
        DataError::Archive { .. }
    ));
}

#[test]
fn a_review_that_is_not_utf8_is_an_error_naming_the_member() {
    let members = with_file(
        labeled_reviews(),
        "aclImdb/train/pos/1_10.txt",
        b"great \xe9 fun",
    );
    for error in [tarball_error(&members), directory_error(&members)] {
        assert!(
            matches!(error, DataError::NotUtf8 { valid_up_to: 6, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("train/pos/1_10.txt"), "{error}");
    }
}

#[test]
fn a_missing_split_is_an_error() {
    for split in ["train", "test"] {
        let members = without(labeled_reviews(), &format!("aclImdb/{split}/"));
        for error in [tarball_error(&members), directory_error(&members)] {
            assert!(
                matches!(&error, DataError::MissingSplit { split: s, .. } if *s == split),
                "{error}"
            );
        }
    }
}

#[test]
fn an_empty_split_or_label_is_an_error() {
    // test/ exists, with empty pos/ and neg/ directories.
    let members: Vec<Member> = labeled_reviews()
        .into_iter()
        .filter(|(path, _)| !(path.starts_with("aclImdb/test/") && path.ends_with(".txt")))
        .collect();
    for error in [tarball_error(&members), directory_error(&members)] {
        assert!(
            matches!(&error, DataError::EmptySplit { split, .. } if split == "test"),
            "{error}"
        );
    }
    let members = without(labeled_reviews(), "aclImdb/train/neg/");
    for error in [tarball_error(&members), directory_error(&members)] {
        assert!(
            matches!(&error, DataError::EmptySplit { split, .. } if split == "train/neg"),
            "{error}"
        );
    }
}

#[test]
fn an_unknown_label_directory_is_an_error() {
    let members = with_file(labeled_reviews(), "aclImdb/train/neutral/5_5.txt", b"meh");
    for error in [tarball_error(&members), directory_error(&members)] {
        assert!(
            matches!(&error, DataError::UnknownLabel { directory, .. } if directory == "neutral"),
            "{error}"
        );
        assert!(error.to_string().contains("train/neutral/"), "{error}");
    }
}

#[test]
fn a_badly_named_review_is_an_error_and_hidden_files_are_ignored() {
    let members = with_file(labeled_reviews(), "aclImdb/test/pos/great.txt", b"great");
    for error in [tarball_error(&members), directory_error(&members)] {
        assert!(matches!(error, DataError::BadFileName { .. }), "{error}");
        assert!(error.to_string().contains("test/pos/great.txt"), "{error}");
    }
    let members = with_file(labeled_reviews(), "aclImdb/test/pos/.DS_Store", b"\x00\x01");
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &members);
    assert_eq!(read_raw(&source).unwrap().test.len(), 2);
}

#[test]
fn a_missing_explicit_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = load(
        &dir.path().join("nope.tar.gz"),
        dir.path(),
        &ImdbConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(error, DataError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("nope.tar.gz"), "{error}");
}

// ---- the encoded-dataset cache ----

fn cache_files(cache: &Path) -> Vec<PathBuf> {
    file_names(cache)
        .into_iter()
        .map(|name| cache.join(name))
        .collect()
}

#[test]
fn the_second_load_comes_from_the_cache_and_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &official_layout());
    let cache = dir.path().join("cache");
    let settings = config(5, 3, Side::Pre);
    let first = load(&source, &cache, &settings).unwrap();
    assert!(
        matches!(first.cache, CacheStatus::Written(_)),
        "{}",
        first.cache
    );
    let files = cache_files(&cache);
    assert_eq!(files.len(), 1, "exactly one cache file, no temporary left");
    let second = load(&source, &cache, &settings).unwrap();
    assert_eq!(second.cache, CacheStatus::Hit(files[0].clone()));
    assert_eq!(
        (&second.train, &second.test, &second.vocab),
        (&first.train, &first.test, &first.vocab)
    );
}

#[test]
fn a_damaged_cache_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &official_layout());
    let cache = dir.path().join("cache");
    let settings = config(5, 3, Side::Pre);
    let built = load(&source, &cache, &settings).unwrap();
    let file = cache_files(&cache).remove(0);
    let good = std::fs::read(&file).unwrap();

    let flipped = {
        let mut bytes = good.clone();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        bytes
    };
    for damaged in [
        flipped,
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        b"garbage".to_vec(),
    ] {
        std::fs::write(&file, &damaged).unwrap();
        let rebuilt = load(&source, &cache, &settings).unwrap();
        assert!(
            matches!(rebuilt.cache, CacheStatus::Rebuilt { .. }),
            "{}",
            rebuilt.cache
        );
        assert_eq!(ids(&rebuilt), ids(&built));
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "the rebuilt cache is whole again"
        );
    }
}

#[test]
fn other_settings_or_a_changed_source_do_not_reuse_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &labeled_reviews());
    let cache = dir.path().join("cache");
    load(&source, &cache, &config(5, 3, Side::Pre)).unwrap();
    for other in [
        config(4, 3, Side::Pre),
        config(5, 2, Side::Pre),
        config(5, 3, Side::Post),
    ] {
        let imdb = load(&source, &cache, &other).unwrap();
        assert!(
            matches!(imdb.cache, CacheStatus::Written(_)),
            "{other:?}: {}",
            imdb.cache
        );
    }
    assert_eq!(cache_files(&cache).len(), 4);

    // Replace the source by a different dataset under the same name.
    let changed = with_file(
        labeled_reviews(),
        "aclImdb/test/pos/1_7.txt",
        b"great great great",
    );
    write_tar_gz(dir.path(), "a.tar.gz", &changed);
    let imdb = load(&source, &cache, &config(5, 3, Side::Pre)).unwrap();
    assert!(
        matches!(imdb.cache, CacheStatus::Written(_)),
        "{}",
        imdb.cache
    );
    assert_eq!(imdb.test.len(), 3);
}

#[test]
fn cache_modes_off_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &labeled_reviews());
    let cache = dir.path().join("cache");
    let mut paths = paths(&source, &cache);
    paths.cache_mode = CacheMode::Off;
    let imdb = Imdb::load(&paths, &ImdbConfig::default()).unwrap();
    assert_eq!(imdb.cache, CacheStatus::Off);
    assert!(cache_files(&cache).is_empty());
    paths.cache_mode = CacheMode::Refresh;
    assert!(matches!(
        Imdb::load(&paths, &ImdbConfig::default()).unwrap().cache,
        CacheStatus::Written(_)
    ));
    assert!(matches!(
        Imdb::load(&paths, &ImdbConfig::default()).unwrap().cache,
        CacheStatus::Written(_)
    ));
    paths.cache_mode = CacheMode::ReadWrite;
    assert!(matches!(
        Imdb::load(&paths, &ImdbConfig::default()).unwrap().cache,
        CacheStatus::Hit(_)
    ));
}

#[test]
fn an_extracted_directory_is_cached_too_and_a_changed_file_invalidates_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("aclImdb");
    write_tree(dir.path(), &official_layout());
    let cache = dir.path().join("cache");
    let settings = config(5, 10, Side::Pre);
    assert!(matches!(
        load(&root, &cache, &settings).unwrap().cache,
        CacheStatus::Written(_)
    ));
    assert!(matches!(
        load(&root, &cache, &settings).unwrap().cache,
        CacheStatus::Hit(_)
    ));
    std::fs::write(root.join("test/neg/0_3.txt"), "bad bad").unwrap();
    let imdb = load(&root, &cache, &settings).unwrap();
    assert!(
        matches!(imdb.cache, CacheStatus::Written(_)),
        "{}",
        imdb.cache
    );
    assert_eq!(imdb.test[0].token_ids, [2, 2]);
}

#[test]
fn invalid_settings_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_tar_gz(dir.path(), "a.tar.gz", &labeled_reviews());
    for bad in [config(0, 10, Side::Pre), config(10, 0, Side::Pre)] {
        assert!(matches!(
            load(&source, dir.path(), &bad).unwrap_err(),
            DataError::InvalidArgument(_)
        ));
    }
}
