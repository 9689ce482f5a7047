//! The line format shared by the file-backed log and by exports, and offline verification.
//!
//! JSON Lines, one object per line, `type` first:
//!
//! ```text
//! {"type":"header","format":"veil-audit/1","verifier_key":"veil.example/audit+1a2b3c4d+AbC...",
//!  "start":0,"frontier":[],"prev_leaf":"00...00"}
//! {"type":"record","seq":0,"leaf":"<hex>","record":"<base64 canonical bytes>"}
//! {"type":"checkpoint","text":"veil.example/audit\n1\n...\n\n— veil.example/audit ...\n"}
//! {"type":"consistency","from":1000,"to":2000,"proof":["<hex>", ...]}
//! ```
//!
//! - The header names the verifier key and where the file starts. An export of records
//!   `start..` carries the frontier of the tree at `start` (the roots of its complete
//!   subtrees) and the leaf before it, so the offline verifier continues the tree and checks
//!   every later checkpoint without the earlier records. The frontier is not trusted: a
//!   wrong one makes the first checkpoint fail.
//! - Record lines carry the exact canonical bytes (base64), so the verifier hashes what was
//!   hashed; `veil audit log` decodes them for people.
//! - A checkpoint line follows the record that completes its size.
//! - Consistency lines (exports only) prove each checkpoint extends the previous one: what an
//!   auditor who kept an old checkpoint needs to check the log only grew.
//!
//! Parsing is strict (unknown fields, uppercase hex and non-canonical base64 are refused), so
//! a flipped byte anywhere in a file is either refused or changes what is verified.

use std::io::{BufRead, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{SignedCheckpoint, VerifierKey};
use crate::store::{AuditSource, Entry, StoredRecord};
use crate::tree::{CompactRange, Hash, MerkleTree};
use crate::verify::{Report, Verifier};

/// The `format` value of headers written by this version.
pub const FORMAT: &str = "veil-audit/1";

/// One line of a log or export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// First line.
    Header {
        /// Always [`FORMAT`].
        format: String,
        /// The C2SP verifier key of the log.
        verifier_key: String,
        /// First seq in the file.
        start: u64,
        /// Frontier of the tree at `start`, hex, largest subtree first.
        frontier: Vec<String>,
        /// Leaf hash of record `start - 1` (zeros when `start == 0`).
        prev_leaf: String,
    },
    /// A record.
    Record {
        /// Sequence number.
        seq: u64,
        /// Stored leaf hash, hex.
        leaf: String,
        /// Canonical record bytes, base64.
        record: String,
    },
    /// A signed checkpoint note.
    Checkpoint {
        /// The note text.
        text: String,
    },
    /// First line of a selection export: chosen records, each with an inclusion proof.
    Selection {
        /// Always [`FORMAT`].
        format: String,
        /// The C2SP verifier key of the log.
        verifier_key: String,
    },
    /// The inclusion proof of the record on the line before (selection exports).
    Inclusion {
        /// The record's seq.
        seq: u64,
        /// Size of the checkpoint the proof leads to.
        size: u64,
        /// Proof hashes, hex.
        proof: Vec<String>,
    },
    /// A consistency proof between two checkpoints of the file.
    Consistency {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
        /// Proof hashes, hex.
        proof: Vec<String>,
    },
}

impl Line {
    /// The header of a file starting at record `start`.
    #[must_use]
    pub fn header(key: &VerifierKey, frontier: &CompactRange, prev_leaf: &Hash) -> Self {
        Line::Header {
            format: FORMAT.into(),
            verifier_key: key.to_string(),
            start: frontier.size(),
            frontier: frontier.hashes().iter().map(hex::encode).collect(),
            prev_leaf: hex::encode(prev_leaf),
        }
    }

    /// A record line.
    #[must_use]
    pub fn record(r: &StoredRecord) -> Self {
        Line::Record {
            seq: r.seq,
            leaf: hex::encode(r.leaf),
            record: B64.encode(&r.bytes),
        }
    }

    /// A checkpoint line.
    #[must_use]
    pub fn checkpoint(cp: &SignedCheckpoint) -> Self {
        Line::Checkpoint { text: cp.to_text() }
    }

    /// The line as JSON, with its newline.
    #[must_use]
    pub fn to_json_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Parses lowercase hex into a hash; anything else is refused.
#[must_use]
pub fn parse_hash(s: &str) -> Option<Hash> {
    // By hand rather than `hex::decode`: this runs twice per record in verification, and
    // the generic decoder (plus its Vec) was a quarter of the verify profile.
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *o = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Some(out)
}

/// A record line borrowed from the input: the fast path of verification (no tag buffering,
/// no copies). Accepts exactly the record lines [`Line`] accepts that have no JSON escapes;
/// anything else falls back to parsing a [`Line`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordLine<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: u64,
    leaf: &'a str,
    record: &'a str,
}

/// A parsed record line.
pub fn parse_record(seq: u64, leaf: &str, record: &str) -> Result<StoredRecord, &'static str> {
    let leaf = parse_hash(leaf).ok_or("leaf is not a lowercase hex SHA-256 hash")?;
    let bytes = B64
        .decode(record)
        .map_err(|_| "record is not canonical base64")?;
    Ok(StoredRecord { seq, leaf, bytes })
}

/// Why a file could not be verified at all (as opposed to a verification failure, which is a
/// [`Report`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading failed.
    #[error("cannot read line {line}")]
    Io {
        /// Line number.
        line: u64,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The header is missing or wrong.
    #[error("line 1: {0}")]
    Header(String),
    /// Writing failed.
    #[error("cannot write export")]
    Write(#[source] std::io::Error),
    /// The source failed.
    #[error("cannot read the audit log: {0}")]
    Source(String),
    /// The requested range does not exist.
    #[error("{0}")]
    Range(String),
}

/// Verifies a log or export file offline, with only the verifier key.
///
/// `Err` means the file is not a Veil audit file for this key (missing or foreign header);
/// everything else, including unreadable lines, is reported in the [`Report`].
pub fn verify_file<R: BufRead>(reader: R, key: &VerifierKey) -> Result<Report, ExportError> {
    verify_file_with(reader, key, &[])
}

/// [`verify_file`], also holding the file to checkpoints the auditor kept from earlier (from
/// a witness, a previous export, a ticket): each must be signed by the key and its root must
/// match the records at its size. This catches a log cut back, or rewritten, below a
/// checkpoint that the attacker removed from the file. They are reported at position 0.
pub fn verify_file_with<R: BufRead>(
    reader: R,
    key: &VerifierKey,
    trusted: &[SignedCheckpoint],
) -> Result<Report, ExportError> {
    let mut lines = reader.split(b'\n');
    let first = match lines.next() {
        None => return Err(ExportError::Header("empty file".into())),
        Some(Err(source)) => return Err(ExportError::Io { line: 1, source }),
        Some(Ok(l)) => l,
    };
    let mut v = match serde_json::from_slice::<Line>(&first) {
        Ok(Line::Selection {
            format,
            verifier_key,
        }) => {
            check_header(&format, &verifier_key, key)?;
            return Ok(verify_selection(lines, key));
        }
        Ok(Line::Header {
            format,
            verifier_key,
            start,
            frontier,
            prev_leaf,
        }) => {
            if format != FORMAT {
                return Err(ExportError::Header(format!("unknown format `{format}`")));
            }
            if verifier_key != key.to_string() {
                return Err(ExportError::Header(format!(
                    "file is for key `{verifier_key}`, not the given key `{key}`"
                )));
            }
            let hashes: Option<Vec<Hash>> = frontier.iter().map(|h| parse_hash(h)).collect();
            let frontier = hashes
                .and_then(|h| CompactRange::from_parts(start, h))
                .ok_or_else(|| ExportError::Header("frontier does not match `start`".into()))?;
            let prev = parse_hash(&prev_leaf)
                .filter(|p| start > 0 || *p == [0; 32])
                .ok_or_else(|| ExportError::Header("bad `prev_leaf`".into()))?;
            let mut v = Verifier::resume(key.clone(), frontier, prev);
            for cp in trusted {
                v.checkpoint(cp.clone(), 0);
            }
            v
        }
        _ => return Err(ExportError::Header("not a veil audit header".into())),
    };
    let mut position = 1u64;
    for line in lines {
        position += 1;
        let line = line.map_err(|source| ExportError::Io {
            line: position,
            source,
        })?;
        if line.is_empty() {
            // Only a final newline may leave an empty piece; anything after it is refused below.
            continue;
        }
        if let Ok(r) = serde_json::from_slice::<RecordLine<'_>>(&line)
            && r.kind == "record"
        {
            match parse_record(r.seq, r.leaf, r.record) {
                Ok(r) => v.record(&r, position),
                Err(e) => v.malformed(position, e.into()),
            }
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Record { seq, leaf, record }) => match parse_record(seq, &leaf, &record) {
                Ok(r) => v.record(&r, position),
                Err(e) => v.malformed(position, e.into()),
            },
            Ok(Line::Checkpoint { text }) => match SignedCheckpoint::parse(&text) {
                Ok(cp) => v.checkpoint(cp, position),
                Err(e) => v.malformed_checkpoint(position, e.to_string()),
            },
            Ok(Line::Consistency { from, to, proof }) => {
                let proof: Option<Vec<Hash>> = proof.iter().map(|h| parse_hash(h)).collect();
                match proof {
                    Some(p) => v.consistency(from, to, &p, position),
                    None => {
                        v.malformed_checkpoint(position, "proof hash is not lowercase hex".into())
                    }
                }
            }
            Ok(Line::Header { .. } | Line::Selection { .. }) => {
                v.malformed(position, "a second header".into())
            }
            Ok(Line::Inclusion { .. }) => v.malformed(
                position,
                "an inclusion proof outside a selection export".into(),
            ),
            Err(e) => v.malformed(
                position,
                format!("not a valid line: {}", strip_json_position(&e)),
            ),
        }
    }
    Ok(v.finish())
}

/// serde_json errors quote the input near the error; keep only the category and column so a
/// message can never echo record content.
fn strip_json_position(e: &serde_json::Error) -> String {
    format!("{:?} error at column {}", e.classify(), e.column())
}

/// What to export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportRange {
    /// First seq to include.
    pub start: u64,
}

/// Writes an export of `source` from `range.start` to its end: header, records with their
/// checkpoints, then consistency proofs between consecutive exported checkpoints.
///
/// Returns the number of records written. Uses memory for the whole tree (64 bytes a record)
/// to build the proofs.
pub fn write_export<S: AuditSource, W: Write>(
    source: &S,
    key: &VerifierKey,
    range: ExportRange,
    mut out: W,
) -> Result<u64, ExportError> {
    let src_err = |e: S::Error| ExportError::Source(e.to_string());
    let mut tree = MerkleTree::new();
    let mut prev_leaf = [0u8; 32];
    let mut header_written = false;
    let mut written = 0u64;
    let mut exported_sizes: Vec<u64> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let write_header =
        |tree: &MerkleTree, prev: &Hash, buf: &mut Vec<u8>| -> Result<(), ExportError> {
            let frontier = tree.compact_range(range.start).ok_or_else(|| {
                ExportError::Range(format!("the log has fewer than {} records", range.start))
            })?;
            buf.extend_from_slice(Line::header(key, &frontier, prev).to_json_line().as_bytes());
            Ok(())
        };
    for entry in source.entries().map_err(src_err)? {
        match entry.map_err(src_err)? {
            Entry::Record(r) => {
                if !header_written && r.seq >= range.start {
                    write_header(&tree, &prev_leaf, &mut buf)?;
                    header_written = true;
                }
                tree.push(r.leaf);
                prev_leaf = r.leaf;
                if r.seq >= range.start {
                    buf.extend_from_slice(Line::record(&r).to_json_line().as_bytes());
                    written += 1;
                }
            }
            Entry::Checkpoint(cp) => {
                let size = cp.checkpoint.size;
                if size == range.start && !header_written {
                    write_header(&tree, &prev_leaf, &mut buf)?;
                    header_written = true;
                }
                if header_written && size >= range.start {
                    buf.extend_from_slice(Line::checkpoint(&cp).to_json_line().as_bytes());
                    exported_sizes.push(size);
                }
            }
        }
        if buf.len() > (1 << 16) {
            out.write_all(&buf).map_err(ExportError::Write)?;
            buf.clear();
        }
    }
    if !header_written {
        write_header(&tree, &prev_leaf, &mut buf)?;
    }
    for pair in exported_sizes.windows(2) {
        if let [from, to] = *pair
            && let Some(proof) = tree.consistency_proof(from, to)
        {
            let line = Line::Consistency {
                from,
                to,
                proof: proof.iter().map(hex::encode).collect(),
            };
            buf.extend_from_slice(line.to_json_line().as_bytes());
        }
    }
    out.write_all(&buf).map_err(ExportError::Write)?;
    out.flush().map_err(ExportError::Write)?;
    Ok(written)
}

fn check_header(format: &str, verifier_key: &str, key: &VerifierKey) -> Result<(), ExportError> {
    if format != FORMAT {
        return Err(ExportError::Header(format!("unknown format `{format}`")));
    }
    if verifier_key != key.to_string() {
        return Err(ExportError::Header(format!(
            "file is for key `{verifier_key}`, not the given key `{key}`"
        )));
    }
    Ok(())
}

/// Verifies the lines after a `selection` header: checkpoints (signature), then records each
/// followed by an inclusion proof into a verified checkpoint. A selection proves that each
/// record it holds is in the signed log, unaltered; it cannot show what was left out (that is
/// what a full export is for).
fn verify_selection<I>(lines: I, key: &VerifierKey) -> Report
where
    I: Iterator<Item = std::io::Result<Vec<u8>>>,
{
    use crate::record::AuditRecord;
    use crate::tree::{leaf_hash, verify_inclusion};
    use crate::verify::{CheckpointFault, CheckpointFaultKind, FaultKind, RecordFault};

    let mut report = Report {
        selection: true,
        ..Report::default()
    };
    let mut roots: std::collections::BTreeMap<u64, Hash> = std::collections::BTreeMap::new();
    let mut open: Option<(StoredRecord, u64)> = None;
    let mut last_seq: Option<u64> = None;
    let fault = |report: &mut Report, kind, seq, position, detail: String| {
        if report.first_fault.is_none() {
            report.first_fault = Some(RecordFault {
                kind,
                seq,
                position,
                detail,
            });
        }
    };
    let mut position = 1u64;
    for line in lines {
        position += 1;
        let Ok(line) = line else {
            fault(
                &mut report,
                FaultKind::Malformed,
                0,
                position,
                "unreadable line".into(),
            );
            break;
        };
        if line.is_empty() {
            continue;
        }
        if let Some((r, pos)) = open.as_ref()
            && !matches!(
                serde_json::from_slice::<Line>(&line),
                Ok(Line::Inclusion { .. })
            )
        {
            let detail = "no inclusion proof follows the record".to_string();
            fault(&mut report, FaultKind::Malformed, r.seq, *pos, detail);
            open = None;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Checkpoint { text }) => match SignedCheckpoint::parse(&text) {
                Ok(cp) => match key.verify(&cp) {
                    Ok(()) => {
                        roots.insert(cp.checkpoint.size, cp.checkpoint.root);
                        report.checkpoints_verified += 1;
                        report.signed_size = report.signed_size.max(Some(cp.checkpoint.size));
                    }
                    Err(e) => report.checkpoint_faults.push(CheckpointFault {
                        position,
                        size: cp.checkpoint.size,
                        kind: CheckpointFaultKind::BadSignature(e.to_string()),
                    }),
                },
                Err(e) => report.checkpoint_faults.push(CheckpointFault {
                    position,
                    size: 0,
                    kind: CheckpointFaultKind::Malformed(e.to_string()),
                }),
            },
            Ok(Line::Record { seq, leaf, record }) => {
                if last_seq.is_some_and(|l| seq <= l) {
                    let detail = format!("record {seq} after record {}", last_seq.unwrap_or(0));
                    fault(&mut report, FaultKind::Reordered, seq, position, detail);
                }
                last_seq = Some(seq);
                match parse_record(seq, &leaf, &record) {
                    Ok(r) if leaf_hash(&r.bytes) != r.leaf => {
                        let detail = "record bytes do not match their leaf hash".to_string();
                        fault(&mut report, FaultKind::Modified, seq, position, detail);
                    }
                    Ok(r) => match AuditRecord::decode(&r.bytes) {
                        Ok(rec) if rec.seq == seq => open = Some((r, position)),
                        Ok(rec) => {
                            let detail =
                                format!("row says seq {seq} but its record says {}", rec.seq);
                            fault(&mut report, FaultKind::Modified, seq, position, detail);
                        }
                        Err(e) => fault(
                            &mut report,
                            FaultKind::Modified,
                            seq,
                            position,
                            e.to_string(),
                        ),
                    },
                    Err(e) => fault(&mut report, FaultKind::Malformed, seq, position, e.into()),
                }
            }
            Ok(Line::Inclusion { seq, size, proof }) => {
                let Some((r, pos)) = open.take() else {
                    let detail = "inclusion proof without its record".to_string();
                    fault(&mut report, FaultKind::Malformed, seq, position, detail);
                    continue;
                };
                let proof: Option<Vec<Hash>> = proof.iter().map(|h| parse_hash(h)).collect();
                let ok = r.seq == seq
                    && match (roots.get(&size), proof) {
                        (Some(root), Some(p)) => verify_inclusion(&r.leaf, seq, size, &p, root),
                        _ => false,
                    };
                if ok {
                    report.proofs_verified += 1;
                    report.size += 1;
                } else {
                    let detail = format!("not included in a signed checkpoint of size {size}");
                    fault(&mut report, FaultKind::Modified, r.seq, pos, detail);
                }
            }
            Ok(_) => fault(
                &mut report,
                FaultKind::Malformed,
                0,
                position,
                "unexpected line".into(),
            ),
            Err(e) => {
                let detail = format!("not a valid line: {}", strip_json_position(&e));
                fault(&mut report, FaultKind::Malformed, 0, position, detail);
            }
        }
    }
    if let Some((r, pos)) = open {
        fault(
            &mut report,
            FaultKind::Malformed,
            r.seq,
            pos,
            "no inclusion proof follows the record".into(),
        );
    }
    report
}

/// Writes a selection export: the records of `source` for which `select` is true, each with
/// an inclusion proof into the latest checkpoint (records after it cannot be proven yet and
/// are left out). Returns (records written, selected records left out as not yet signed).
pub fn write_selection<S, W, F>(
    source: &S,
    key: &VerifierKey,
    mut select: F,
    mut out: W,
) -> Result<(u64, u64), ExportError>
where
    S: AuditSource,
    W: Write,
    F: FnMut(&crate::record::AuditRecord) -> bool,
{
    let src_err = |e: S::Error| ExportError::Source(e.to_string());
    let mut tree = MerkleTree::new();
    let mut latest: Option<SignedCheckpoint> = None;
    let mut chosen: Vec<StoredRecord> = Vec::new();
    for entry in source.entries().map_err(src_err)? {
        match entry.map_err(src_err)? {
            Entry::Record(r) => {
                tree.push(r.leaf);
                let rec = crate::record::AuditRecord::decode(&r.bytes)
                    .map_err(|e| ExportError::Source(format!("record {}: {e}", r.seq)))?;
                if select(&rec) {
                    chosen.push(r);
                }
            }
            Entry::Checkpoint(cp) => {
                if key.verify(&cp).is_ok() && cp.checkpoint.size <= tree.size() {
                    latest = Some(cp);
                }
            }
        }
    }
    let header = Line::Selection {
        format: FORMAT.into(),
        verifier_key: key.to_string(),
    };
    let mut buf = header.to_json_line();
    let Some(cp) = latest else {
        out.write_all(buf.as_bytes()).map_err(ExportError::Write)?;
        return Ok((0, chosen.len() as u64));
    };
    let size = cp.checkpoint.size;
    buf.push_str(&Line::checkpoint(&cp).to_json_line());
    let mut written = 0u64;
    let mut unsigned = 0u64;
    for r in &chosen {
        let Some(proof) = tree.inclusion_proof(r.seq, size) else {
            unsigned += 1;
            continue;
        };
        buf.push_str(&Line::record(r).to_json_line());
        let line = Line::Inclusion {
            seq: r.seq,
            size,
            proof: proof.iter().map(hex::encode).collect(),
        };
        buf.push_str(&line.to_json_line());
        written += 1;
        if buf.len() > (1 << 16) {
            out.write_all(buf.as_bytes()).map_err(ExportError::Write)?;
            buf.clear();
        }
    }
    out.write_all(buf.as_bytes()).map_err(ExportError::Write)?;
    out.flush().map_err(ExportError::Write)?;
    Ok((written, unsigned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_strictly() {
        let ok = r#"{"type":"checkpoint","text":"x"}"#;
        assert!(serde_json::from_str::<Line>(ok).is_ok());
        let extra = r#"{"type":"checkpoint","text":"x","extra":1}"#;
        assert!(
            serde_json::from_str::<Line>(extra).is_err(),
            "unknown field"
        );
        let kind = r#"{"type":"checkpoints","text":"x"}"#;
        assert!(serde_json::from_str::<Line>(kind).is_err(), "unknown type");
        let h = "ab".repeat(32);
        assert!(parse_hash(&h).is_some());
        assert!(parse_hash(&h.to_uppercase()).is_none(), "uppercase hex");
        assert!(parse_hash(&h[..62]).is_none());
        assert!(parse_record(0, &h, "AA==").is_ok());
        assert!(
            parse_record(0, &h, "AB==").is_err(),
            "non-canonical base64 padding bits"
        );
    }
}
