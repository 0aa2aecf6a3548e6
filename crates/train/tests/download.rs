//! Downloads against a tiny HTTP server on 127.0.0.1 that each test starts:
//! a correct file, a wrong checksum, a connection cut half-way, an HTTP
//! error. The cache must never keep a bad or partial file.

mod common;

use common::*;
use train::data::download::{download_file, RemoteFile};
use train::data::imdb::{CacheStatus, Imdb, ImdbConfig};
use train::data::{CacheMode, DataError, DataPaths};

/// A fixture body big enough to take several reads (and a half-way cut).
fn fixture_body() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn remote(base_url: &str, md5: Option<String>) -> RemoteFile {
    RemoteFile {
        dataset: "test fixture".to_string(),
        url: format!("{base_url}/fixture.bin"),
        file_name: "fixture.bin".to_string(),
        md5,
        other_names: Vec::new(),
    }
}

#[test]
fn a_correct_file_is_downloaded_verified_and_reused() {
    let body = fixture_body();
    let server = TestServer::start(vec![Reply::Body(body.clone())]);
    let cache = tempfile::tempdir().unwrap();
    let paths = DataPaths::with_cache_dir(cache.path());
    let file = remote(&server.base_url, Some(md5_hex(&body)));

    let path = paths.locate(&file).unwrap();
    assert_eq!(path, cache.path().join("fixture.bin"));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(
        file_names(cache.path()),
        ["fixture.bin"],
        "no .part file left"
    );

    // The second time it is found in the cache: the server (which answers
    // only one request) is not asked again.
    assert_eq!(paths.locate(&file).unwrap(), path);
    assert_eq!(server.finish(), 1);
}

#[test]
fn a_wrong_checksum_keeps_nothing() {
    let body = fixture_body();
    let server = TestServer::start(vec![Reply::Body(body)]);
    let cache = tempfile::tempdir().unwrap();
    let file = remote(&server.base_url, Some(md5_hex(b"something else")));
    let error = DataPaths::with_cache_dir(cache.path())
        .locate(&file)
        .unwrap_err();
    assert!(matches!(error, DataError::Checksum { .. }), "{error}");
    assert!(error.to_string().contains("fixture.bin"), "{error}");
    assert!(
        file_names(cache.path()).is_empty(),
        "{:?}",
        file_names(cache.path())
    );
    server.finish();
}

#[test]
fn a_connection_cut_half_way_keeps_nothing() {
    let body = fixture_body();
    let half = body.len() / 2;
    // Even with no checksum to compare, the announced length catches the cut.
    for md5 in [Some(md5_hex(&body)), None] {
        let server = TestServer::start(vec![Reply::CutAfter(body.clone(), half)]);
        let cache = tempfile::tempdir().unwrap();
        let file = remote(&server.base_url, md5);
        let error = DataPaths::with_cache_dir(cache.path())
            .locate(&file)
            .unwrap_err();
        assert!(matches!(error, DataError::Download { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("fixture.bin") && message.contains("--data"),
            "{message}"
        );
        assert!(
            file_names(cache.path()).is_empty(),
            "{:?}",
            file_names(cache.path())
        );
        server.finish();
    }
}

#[test]
fn an_http_error_is_reported_and_keeps_nothing() {
    let server = TestServer::start(vec![Reply::Status(404)]);
    let cache = tempfile::tempdir().unwrap();
    let destination = cache.path().join("sub").join("fixture.bin");
    let error = download_file(&remote(&server.base_url, None), &destination, false).unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
    assert!(file_names(&cache.path().join("sub")).is_empty());
    server.finish();
}

#[test]
fn a_failed_download_is_retried_on_the_next_run() {
    let body = fixture_body();
    let server = TestServer::start(vec![
        Reply::CutAfter(body.clone(), 1000),
        Reply::Body(body.clone()),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let paths = DataPaths::with_cache_dir(cache.path());
    let file = remote(&server.base_url, Some(md5_hex(&body)));
    assert!(paths.locate(&file).is_err());
    assert_eq!(std::fs::read(paths.locate(&file).unwrap()).unwrap(), body);
    assert_eq!(server.finish(), 2);
}

#[test]
fn imdb_is_downloaded_into_an_empty_cache_then_loaded_from_it() {
    let archive = gzip(&tar_bytes(&official_layout()));
    let server = TestServer::start(vec![Reply::Body(archive.clone())]);
    let cache = tempfile::tempdir().unwrap();
    let mut file = train::data::imdb::remote_file();
    file.url = format!("{}/aclImdb_v1.tar.gz", server.base_url);
    file.md5 = Some(md5_hex(&archive));
    let mut paths = DataPaths::with_cache_dir(cache.path());
    paths.cache_mode = CacheMode::ReadWrite;

    let imdb = Imdb::load_from(&file, &paths, &ImdbConfig::default()).unwrap();
    assert_eq!((imdb.train.len(), imdb.test.len()), (4, 2));
    assert_eq!(imdb.source, cache.path().join("aclImdb_v1.tar.gz"));
    assert!(matches!(imdb.cache, CacheStatus::Written(_)));
    let again = Imdb::load_from(&file, &paths, &ImdbConfig::default()).unwrap();
    assert!(matches!(again.cache, CacheStatus::Hit(_)));
    assert_eq!(server.finish(), 1);
}

#[test]
fn offline_imdb_says_where_to_put_the_archive() {
    let cache = tempfile::tempdir().unwrap();
    let mut paths = DataPaths::with_cache_dir(cache.path());
    paths.allow_download = false;
    let message = Imdb::load(&paths, &ImdbConfig::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("aclImdb_v1.tar.gz"), "{message}");
    assert!(message.contains("ai.stanford.edu"), "{message}");
    assert!(
        message.contains(&cache.path().display().to_string()),
        "{message}"
    );
}
