//! Storage traits and the append-only file-backed log.
//!
//! [`AuditSink`] and [`AuditSource`] are synchronous and object-safe in spirit: `veil-store`
//! implements them over SQLite/PostgreSQL (a `records(seq, leaf, bytes)` table and a
//! `checkpoints(size, text)` table; `entries` merges them by seq/size), calling them from a
//! blocking task. [`FileLog`] is the reference implementation used by the CLI and the tests.
//!
//! Durability contract: when [`AuditSink::append`] returns `Ok`, the batch is on stable
//! storage. One call is one `fsync`: group commit is the caller batching many records into one
//! call (see [`crate::AuditLog::commit`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint::{SignedCheckpoint, VerifierKey};
use crate::export::{FORMAT, Line, parse_hash, parse_record};
use crate::tree::{CompactRange, Hash};

/// A record as stored: sequence number, leaf hash and canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Sequence number.
    pub seq: u64,
    /// SHA-256(0x00 || bytes), stored so that a verifier can tell bytes-changed from
    /// hash-changed and so proofs need no re-hashing.
    pub leaf: Hash,
    /// Canonical record bytes.
    pub bytes: Vec<u8>,
}

/// One entry of a log, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A record.
    Record(StoredRecord),
    /// A checkpoint, right after the record completing its size.
    Checkpoint(SignedCheckpoint),
}

/// Where records are appended.
pub trait AuditSink {
    /// Storage error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends `records` (consecutive, continuing the log) and then `checkpoint` (if any),
    /// durably, in one transaction/fsync.
    fn append(
        &mut self,
        records: &[StoredRecord],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> Result<(), Self::Error>;
}

/// Where records are read back.
pub trait AuditSource {
    /// Storage error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every entry in log order.
    #[allow(clippy::type_complexity)]
    fn entries(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Entry, Self::Error>> + '_>, Self::Error>;
}

/// What a writer needs to continue a log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogState {
    /// Frontier of the tree (its size is the next seq).
    pub frontier: CompactRange,
    /// Leaf hash of the last record (zeros for an empty log).
    pub last_leaf: Hash,
    /// Size and time of the last checkpoint.
    pub last_checkpoint: Option<(u64, u64)>,
}

/// File log errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileLogError {
    /// I/O on the log file.
    #[error("audit log `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file content is not a log.
    #[error("audit log `{path}` line {line}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Line number.
        line: u64,
        /// What is wrong.
        what: String,
    },
    /// Appended records do not continue the log.
    #[error("append out of sequence: expected seq {expected}, got {got}")]
    OutOfSequence {
        /// Next seq of the log.
        expected: u64,
        /// Seq given.
        got: u64,
    },
}

/// An append-only JSON Lines file (the export line format, see [`crate::export`]).
#[derive(Debug)]
pub struct FileLog {
    path: PathBuf,
    file: File,
    next_seq: u64,
    buf: Vec<u8>,
}

impl FileLog {
    /// Creates a new log file (fails if it exists) for the given key.
    pub fn create(path: &Path, key: &VerifierKey) -> Result<Self, FileLogError> {
        let io = |source| FileLogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        let header = Line::header(key, &CompactRange::new(), &[0; 32]).to_json_line();
        file.write_all(header.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        sync_parent(path).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            next_seq: 0,
            buf: Vec::new(),
        })
    }

    /// Opens an existing log, returns it with the state a writer continues from and the
    /// verifier key named in its header.
    ///
    /// A torn last line (a crash in the middle of a write, no final newline) is cut off: it
    /// was never acknowledged as durable. Leaf hashes are trusted here; `veil audit verify`
    /// is what checks them.
    pub fn open(path: &Path) -> Result<(Self, LogState, VerifierKey), FileLogError> {
        let io = |source| FileLogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut state = LogState::default();
        let mut key = None;
        let mut good_len = 0u64;
        {
            let mut reader = BufReader::new(&mut file);
            let mut line = Vec::new();
            let mut n = 0u64;
            loop {
                line.clear();
                let read = reader.read_until(b'\n', &mut line).map_err(io)?;
                if read == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                n += 1;
                let corrupt = |what: String| FileLogError::Corrupt {
                    path: path.to_path_buf(),
                    line: n,
                    what,
                };
                let parsed: Line = serde_json::from_slice(&line)
                    .map_err(|e| corrupt(format!("{:?} error", e.classify())))?;
                match parsed {
                    Line::Header {
                        format,
                        verifier_key,
                        start,
                        ..
                    } if n == 1 => {
                        if format != FORMAT || start != 0 {
                            return Err(corrupt("not a log header".into()));
                        }
                        key = Some(
                            VerifierKey::parse(&verifier_key)
                                .map_err(|e| corrupt(e.to_string()))?,
                        );
                    }
                    Line::Record { seq, leaf, .. } if n > 1 => {
                        if seq != state.frontier.size() {
                            return Err(corrupt(format!(
                                "seq {seq}, expected {}",
                                state.frontier.size()
                            )));
                        }
                        let leaf =
                            parse_hash(&leaf).ok_or_else(|| corrupt("bad leaf hash".into()))?;
                        state.frontier.push(leaf);
                        state.last_leaf = leaf;
                    }
                    Line::Checkpoint { text } if n > 1 => {
                        let cp =
                            SignedCheckpoint::parse(&text).map_err(|e| corrupt(e.to_string()))?;
                        state.last_checkpoint = Some((cp.checkpoint.size, cp.checkpoint.time_ms));
                    }
                    _ => return Err(corrupt("unexpected line".into())),
                }
                good_len += read as u64;
            }
        }
        let key = key.ok_or_else(|| FileLogError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            what: "no header".into(),
        })?;
        if file.metadata().map_err(io)?.len() != good_len {
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let next_seq = state.frontier.size();
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                next_seq,
                buf: Vec::new(),
            },
            state,
            key,
        ))
    }

    /// The file path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    // A new file's directory entry is durable only once the directory is synced.
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

impl AuditSink for FileLog {
    type Error = FileLogError;

    fn append(
        &mut self,
        records: &[StoredRecord],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> Result<(), FileLogError> {
        self.buf.clear();
        let mut next = self.next_seq;
        for r in records {
            if r.seq != next {
                return Err(FileLogError::OutOfSequence {
                    expected: next,
                    got: r.seq,
                });
            }
            next += 1;
            serde_json::to_writer(&mut self.buf, &Line::record(r)).map_err(|e| {
                FileLogError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(e),
                }
            })?;
            self.buf.push(b'\n');
        }
        if let Some(cp) = checkpoint {
            self.buf
                .extend_from_slice(Line::checkpoint(cp).to_json_line().as_bytes());
        }
        let io = |source| FileLogError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.buf).map_err(io)?;
        // One fsync per batch: this is the group commit.
        self.file.sync_data().map_err(io)?;
        self.next_seq = next;
        Ok(())
    }
}

/// Reads a log file written by [`FileLog`].
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A reader for the log at `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// The verifier key in the file header.
    pub fn verifier_key(&self) -> Result<VerifierKey, FileLogError> {
        let io = |source| FileLogError::Io {
            path: self.path.clone(),
            source,
        };
        let mut first = String::new();
        BufReader::new(File::open(&self.path).map_err(io)?)
            .take(1 << 20)
            .read_line(&mut first)
            .map_err(io)?;
        let corrupt = |what: String| FileLogError::Corrupt {
            path: self.path.clone(),
            line: 1,
            what,
        };
        match serde_json::from_str::<Line>(&first) {
            Ok(Line::Header { verifier_key, .. }) => {
                VerifierKey::parse(&verifier_key).map_err(|e| corrupt(e.to_string()))
            }
            _ => Err(corrupt("not a veil audit header".into())),
        }
    }
}

impl AuditSource for FileSource {
    type Error = FileLogError;

    fn entries(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Entry, FileLogError>> + '_>, FileLogError> {
        let path = self.path.clone();
        let file = File::open(&path).map_err(|source| FileLogError::Io {
            path: path.clone(),
            source,
        })?;
        let mut n = 0u64;
        let it = BufReader::new(file).lines().filter_map(move |line| {
            n += 1;
            let corrupt = |what: String| FileLogError::Corrupt {
                path: path.clone(),
                line: n,
                what,
            };
            let line = match line {
                Ok(l) => l,
                Err(source) => {
                    return Some(Err(FileLogError::Io {
                        path: path.clone(),
                        source,
                    }));
                }
            };
            match serde_json::from_str::<Line>(&line) {
                Ok(Line::Header { .. }) if n == 1 => None,
                Ok(Line::Record { seq, leaf, record }) => Some(
                    parse_record(seq, &leaf, &record)
                        .map(Entry::Record)
                        .map_err(|e| corrupt(e.into())),
                ),
                Ok(Line::Checkpoint { text }) => Some(
                    SignedCheckpoint::parse(&text)
                        .map(Entry::Checkpoint)
                        .map_err(|e| corrupt(e.to_string())),
                ),
                Ok(_) => Some(Err(corrupt("unexpected line".into()))),
                Err(e) => Some(Err(corrupt(format!("{:?} error", e.classify())))),
            }
        });
        Ok(Box::new(it))
    }
}

/// An in-memory log: for tests, benchmarks and short-lived tools. Not durable.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    entries: Vec<Entry>,
}

impl MemoryLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries so far.
    #[must_use]
    pub fn entries_slice(&self) -> &[Entry] {
        &self.entries
    }
}

impl AuditSink for MemoryLog {
    type Error = std::convert::Infallible;

    fn append(
        &mut self,
        records: &[StoredRecord],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> Result<(), Self::Error> {
        self.entries
            .extend(records.iter().cloned().map(Entry::Record));
        self.entries
            .extend(checkpoint.cloned().map(Entry::Checkpoint));
        Ok(())
    }
}

impl AuditSource for MemoryLog {
    type Error = std::convert::Infallible;

    fn entries(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Entry, Self::Error>> + '_>, Self::Error> {
        Ok(Box::new(self.entries.iter().cloned().map(Ok)))
    }
}
