//! Fixtures shared by the data tests: tiny IMDB-shaped datasets written as
//! `.tar.gz` archives or directories, and a loopback HTTP server.

// Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod example;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One member of a fixture dataset: a path (ending in `/` for a directory) and its bytes.
pub type Member = (String, Vec<u8>);

fn file(path: &str, text: &str) -> Member {
    (path.to_string(), text.as_bytes().to_vec())
}

fn dir(path: &str) -> Member {
    (path.to_string(), Vec::new())
}

/// Four training and two test reviews, worked out so that:
///
/// ```text
/// train word counts: bad 3, great 3, a 2, acting 2, movie 2, fun 1, it 1, loved 1
/// ids (vocab_size 5): bad 2, great 3, a 4, acting 5, movie 6; the rest OOV (1)
/// ```
/// `bad`/`great` and `a`/`acting`/`movie` tie, so the ids also test the
/// tie-break (byte order). `train/neg/1_1.txt` has no words at all, and the
/// test review's "zebra" is never seen in training.
pub fn labeled_reviews() -> Vec<Member> {
    vec![
        dir("aclImdb/"),
        dir("aclImdb/train/"),
        dir("aclImdb/train/pos/"),
        file(
            "aclImdb/train/pos/0_9.txt",
            "A great movie. Great acting!<br /><br />Loved it.",
        ),
        file("aclImdb/train/pos/1_10.txt", "great fun"),
        dir("aclImdb/train/neg/"),
        file("aclImdb/train/neg/0_2.txt", "A bad movie; bad, BAD acting."),
        file("aclImdb/train/neg/1_1.txt", "!!! ..."),
        dir("aclImdb/test/"),
        dir("aclImdb/test/pos/"),
        file("aclImdb/test/pos/0_8.txt", "great zebra"),
        dir("aclImdb/test/neg/"),
        file("aclImdb/test/neg/0_3.txt", "bad"),
    ]
}

/// [`labeled_reviews`] plus what the official archive also holds: a README,
/// the vocabulary, bag-of-words features, URL lists and unlabelled reviews.
pub fn official_layout() -> Vec<Member> {
    let mut members = vec![
        file("aclImdb/README", "Large Movie Review Dataset v1.0"),
        file("aclImdb/imdb.vocab", "the\nand\n"),
    ];
    members.extend(labeled_reviews());
    members.extend([
        file("aclImdb/train/labeledBow.feat", "9 0:9 1:1\n"),
        file("aclImdb/train/unsupBow.feat", "0 0:1\n"),
        file(
            "aclImdb/train/urls_pos.txt",
            "http://www.imdb.com/title/tt0/usercomments\n",
        ),
        file(
            "aclImdb/train/urls_unsup.txt",
            "http://www.imdb.com/title/tt1/usercomments\n",
        ),
        dir("aclImdb/train/unsup/"),
        file(
            "aclImdb/train/unsup/0_0.txt",
            "unlabelled words never counted",
        ),
        // Not UTF-8: it would be an error if it were read.
        (
            "aclImdb/train/unsup/1_0.txt".to_string(),
            vec![0xff, 0xfe, b'x'],
        ),
        file("aclImdb/test/labeledBow.feat", "3 0:1\n"),
        file(
            "aclImdb/test/urls_neg.txt",
            "http://www.imdb.com/title/tt2/usercomments\n",
        ),
    ]);
    members
}

/// The members with `path` removed (and everything under it, for a directory).
pub fn without(members: Vec<Member>, path: &str) -> Vec<Member> {
    members
        .into_iter()
        .filter(|(member, _)| !member.starts_with(path))
        .collect()
}

/// The members with one more (or a replaced) file.
pub fn with_file(mut members: Vec<Member>, path: &str, bytes: &[u8]) -> Vec<Member> {
    members.retain(|(member, _)| member != path);
    members.push((path.to_string(), bytes.to_vec()));
    members
}

/// An uncompressed tar archive of `members` (with its end-of-archive marker).
pub fn tar_bytes(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(1_300_000_000);
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, path, std::io::empty())
                .unwrap();
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            builder
                .append_data(&mut header, path, bytes.as_slice())
                .unwrap();
        }
    }
    builder.into_inner().unwrap()
}

/// `bytes` compressed with gzip.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes `members` as `dir/name`, a `.tar.gz`, and returns its path.
pub fn write_tar_gz(dir: &Path, name: &str, members: &[Member]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, gzip(&tar_bytes(members))).unwrap();
    path
}

/// Writes `members` as files and directories under `root`.
pub fn write_tree(root: &Path, members: &[Member]) {
    for (path, bytes) in members {
        let target = root.join(path.trim_end_matches('/'));
        if path.ends_with('/') {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, bytes).unwrap();
        }
    }
}

/// The names of the files in `dir` (empty if it does not exist), sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What the test server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `200 OK` with the whole body.
    Body(Vec<u8>),
    /// Announces the whole body's length, sends the first `sent` bytes, then
    /// closes the connection.
    CutAfter(Vec<u8>, usize),
    /// An error status with a short body.
    Status(u16),
}

/// A one-thread HTTP server on 127.0.0.1 that answers one connection per
/// reply, in order, then stops. It gives up by itself after 20 s, so a test
/// that never connects cannot hang it forever.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    handle: JoinHandle<usize>,
}

impl TestServer {
    pub fn start(replies: Vec<Reply>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut served = 0;
            for reply in replies {
                let stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break Some(stream),
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => break None,
                    }
                };
                let Some(stream) = stream else { break };
                if answer(stream, &reply).is_ok() {
                    served += 1;
                }
            }
            served
        });
        TestServer { base_url, handle }
    }

    /// Waits for the server to finish; the number of requests it answered.
    pub fn finish(self) -> usize {
        self.handle.join().unwrap()
    }
}

fn answer(mut stream: TcpStream, reply: &Reply) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    // Read the request head; its content does not matter.
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        request.push(byte[0]);
    }
    let head = |status: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    match reply {
        Reply::Body(body) => {
            stream.write_all(head("200 OK", body.len()).as_bytes())?;
            stream.write_all(body)?;
        }
        Reply::CutAfter(body, sent) => {
            stream.write_all(head("200 OK", body.len()).as_bytes())?;
            stream.write_all(&body[..*sent])?;
        }
        Reply::Status(code) => {
            let body = b"no such file";
            stream.write_all(head(&format!("{code} Not Found"), body.len()).as_bytes())?;
            stream.write_all(body)?;
        }
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// Lowercase hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(bytes))
}
