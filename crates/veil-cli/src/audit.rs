//! `veil audit`: verify, prove, export and query the tamper-evident audit log: a log or export
//! file (`--file`/`--log`, offline with only the public key), or by default the gateway's own
//! log in its database (`--data-dir`, `--database-url`, `--config`; see `audit_db`).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::keys::StoreArgs;
use clap::{Subcommand, ValueEnum};
use veil_audit::export::parse_hash;
use veil_audit::{
    AuditLog, AuditRecord, AuditSource, CheckpointPolicy, CheckpointSigner, ClassCounts,
    DecisionEvent, Entry, Event, ExportRange, FileLog, FileSource, Line, LogState, MerkleTree,
    RequestEvent, ResponseEvent, SignedCheckpoint, TextDigester, Verdict, VerifierKey,
    verify_file_with, verify_inclusion, write_export, write_selection,
};

/// Arguments of `veil audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify a log or export file offline: every record, the chain, the tree, every
    /// checkpoint signature and every proof. Exit 0 when intact, 1 when tampered.
    Verify {
        /// The log or export file (JSON Lines); without it, the gateway's database.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The verifier key (`name+keyid+base64`), or a file containing it. Required with
        /// `--file`; for the database it defaults to the key derived from the root key.
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        db: StoreArgs,
        /// Also fail when the last records are not yet covered by a signed checkpoint.
        #[arg(long)]
        strict: bool,
        /// A checkpoint kept from earlier (a file holding the note text, as printed by
        /// `veil audit proof`): the log must still contain it. Repeatable.
        #[arg(long)]
        trusted_checkpoint: Vec<PathBuf>,
    },
    /// Print the inclusion proof of record SEQ against the latest signed checkpoint.
    Proof {
        /// The log, or an export starting at record 0; without it, the gateway's database.
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        db: StoreArgs,
        /// The record's sequence number.
        seq: u64,
    },
    /// Export records for offline verification with only the public key. Without filters:
    /// every record from a point on, with checkpoints and consistency proofs. With
    /// `--principal` or `--decision`: only matching records, each with an inclusion proof
    /// into the latest signed checkpoint.
    Export {
        /// The audit log file; without it, the gateway's database.
        #[arg(long)]
        log: Option<PathBuf>,
        #[command(flatten)]
        db: StoreArgs,
        /// Where to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// First record time to include (RFC 3339, e.g. `2026-11-26T09:00:00Z`).
        #[arg(long, conflicts_with = "from_seq")]
        since: Option<String>,
        /// First record sequence number to include.
        #[arg(long)]
        from_seq: Option<u64>,
        /// Only records of this principal (selection export).
        #[arg(long)]
        principal: Option<String>,
        /// Only requests and decisions with this verdict (selection export).
        #[arg(long, value_enum)]
        decision: Option<DecisionArg>,
    },
    /// Print records (decoded, one JSON object a line), filtered.
    Log {
        /// The audit log or export file; without it, the gateway's database.
        #[arg(long)]
        log: Option<PathBuf>,
        #[command(flatten)]
        db: StoreArgs,
        /// Only records at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only records of this principal.
        #[arg(long)]
        principal: Option<String>,
        /// Only requests and decisions with this verdict.
        #[arg(long, value_enum)]
        decision: Option<DecisionArg>,
        /// At most this many records.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Create a checkpoint signing key file (mode 0600) and print its public verifier key.
    Keygen {
        /// The log name (checkpoint origin), e.g. `veil.example.com/audit`.
        #[arg(long, default_value = "veil.local/audit")]
        name: String,
        /// Key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Append synthetic records to a log (creating it): for demos and tests.
    Demo {
        /// The audit log file.
        #[arg(long)]
        log: PathBuf,
        /// Key file from `veil audit keygen`.
        #[arg(long)]
        key: PathBuf,
        /// How many records.
        #[arg(long, default_value_t = 100)]
        records: u64,
        /// Sign a checkpoint every this many records.
        #[arg(long, default_value_t = 50)]
        checkpoint_every: u64,
        /// Records per durable commit (one fsync each).
        #[arg(long, default_value_t = 10)]
        batch: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DecisionArg {
    Allow,
    Deny,
}

/// Runs `veil audit`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify {
            file: Some(file),
            public_key,
            strict,
            trusted_checkpoint,
            db: _,
        } => {
            let public_key = public_key.context("`--file` needs `--public-key`")?;
            verify(&file, &public_key, strict, &trusted_checkpoint)
        }
        AuditCommand::Verify {
            file: None,
            public_key,
            strict,
            trusted_checkpoint,
            db,
        } => {
            if !trusted_checkpoint.is_empty() {
                bail!("`--trusted-checkpoint` works on files: export the log first");
            }
            crate::audit_db::verify(&db, public_key.as_deref(), strict)
        }
        AuditCommand::Proof {
            file: Some(file),
            seq,
            ..
        } => proof(&file, seq),
        AuditCommand::Proof {
            file: None,
            seq,
            db,
        } => crate::audit_db::proof(&db, seq),
        AuditCommand::Export {
            log,
            db,
            out,
            since,
            from_seq,
            principal,
            decision,
        } => {
            let since = since.as_deref().map(parse_time).transpose()?;
            let filter = Filter {
                since,
                principal,
                decision,
            };
            let selection = filter.principal.is_some() || filter.decision.is_some();
            match log {
                Some(log) if selection => export_selection(&log, out.as_deref(), &filter, from_seq),
                Some(log) => export(&log, out.as_deref(), filter.since, from_seq),
                None => crate::audit_db::export(&db, out.as_deref(), &filter, from_seq),
            }
        }
        AuditCommand::Log {
            log,
            db,
            since,
            principal,
            decision,
            limit,
        } => {
            let since = since.as_deref().map(parse_time).transpose()?;
            let filter = Filter {
                since,
                principal,
                decision,
            };
            match log {
                Some(log) => query(&log, &filter, limit),
                None => crate::audit_db::query(&db, &filter, limit),
            }
        }
        AuditCommand::Keygen { name, out } => keygen(&name, &out),
        AuditCommand::Demo {
            log,
            key,
            records,
            checkpoint_every,
            batch,
        } => demo(&log, &key, records, checkpoint_every, batch),
    }
}

pub(crate) fn read_public_key(arg: &str) -> anyhow::Result<VerifierKey> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg)
            .with_context(|| format!("cannot read public key file `{arg}`"))?
    } else {
        arg.to_string()
    };
    VerifierKey::parse(text.trim()).with_context(|| format!("invalid public key `{}`", text.trim()))
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::new(File::open(path).with_context(|| {
        format!("cannot open `{}`", path.display())
    })?))
}

fn verify(
    file: &Path,
    public_key: &str,
    strict: bool,
    trusted: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let key = read_public_key(public_key)?;
    let mut kept = Vec::new();
    for path in trusted {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read checkpoint `{}`", path.display()))?;
        let cp = SignedCheckpoint::parse(&text)
            .with_context(|| format!("`{}` is not a checkpoint note", path.display()))?;
        kept.push(cp);
    }
    let report = verify_file_with(open(file)?, &key, &kept)
        .with_context(|| format!("cannot verify `{}`", file.display()))?;
    let name = file.display();
    let mut failed = false;
    if let Some(f) = &report.first_fault {
        eprintln!("veil: audit: `{name}`: {f}");
        failed = true;
    }
    for f in &report.checkpoint_faults {
        eprintln!("veil: audit: `{name}`: {f}");
        failed = true;
    }
    if report.selection {
        if failed || report.checkpoints_verified == 0 {
            eprintln!("veil: audit: `{name}`: verification FAILED");
            return Ok(ExitCode::from(1));
        }
        println!(
            "ok: selection of {} records, each proven included in a checkpoint signed at size {}",
            report.size,
            report.signed_size.unwrap_or(0)
        );
        return Ok(ExitCode::SUCCESS);
    }
    Ok(print_report(&name.to_string(), &report, strict, failed))
}

/// Prints the outcome of a full verification; exit 0 when intact, 1 when not. `failed` says
/// whether faults were already printed.
pub(crate) fn print_report(
    name: &str,
    report: &veil_audit::Report,
    strict: bool,
    mut failed: bool,
) -> ExitCode {
    let records = report.size - report.start;
    if records > 0 && report.checkpoints_verified == 0 && !failed {
        eprintln!(
            "veil: audit: `{name}`: no signed checkpoint covers these records; nothing is proven"
        );
        failed = true;
    }
    let signed = report.signed_size.unwrap_or(report.start);
    if !failed && signed < report.size {
        let msg = format!(
            "records {signed}..{} are not yet covered by a signed checkpoint",
            report.size
        );
        if strict {
            eprintln!("veil: audit: `{name}`: {msg}");
            failed = true;
        } else {
            eprintln!("veil: audit: warning: {msg}");
        }
    }
    if failed {
        eprintln!("veil: audit: `{name}`: verification FAILED");
        return ExitCode::from(1);
    }
    println!(
        "ok: {records} records (seq {}..{}), {} checkpoints verified (signed up to size {signed}), {} consistency proofs",
        report.start, report.size, report.checkpoints_verified, report.proofs_verified
    );
    ExitCode::SUCCESS
}

/// Reads a log or export file that starts at record 0: leaves and checkpoints.
fn read_tree(file: &Path) -> anyhow::Result<(VerifierKey, MerkleTree, Vec<SignedCheckpoint>)> {
    let mut tree = MerkleTree::new();
    let mut cps = Vec::new();
    let mut key = None;
    for (i, line) in open(file)?.lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("cannot read `{}` line {n}", file.display()))?;
        let at = || format!("`{}` line {n}", file.display());
        match parse_line(&line).with_context(at)? {
            Line::Header {
                verifier_key,
                start,
                ..
            } if n == 1 => {
                if start != 0 {
                    bail!(
                        "{}: proofs need a file that starts at record 0 (this one starts at {start})",
                        at()
                    );
                }
                key = Some(VerifierKey::parse(&verifier_key).with_context(at)?);
            }
            Line::Record { seq, leaf, .. } => {
                if seq != tree.size() {
                    bail!(
                        "{}: record {seq} out of sequence (expected {}); run `veil audit verify`",
                        at(),
                        tree.size()
                    );
                }
                let leaf = parse_hash(&leaf).with_context(|| format!("{}: bad leaf hash", at()))?;
                tree.push(leaf);
            }
            Line::Checkpoint { text } => cps.push(SignedCheckpoint::parse(&text).with_context(at)?),
            Line::Consistency { .. } => {}
            Line::Header { .. } => bail!("{}: unexpected second header", at()),
            Line::Selection { .. } | Line::Inclusion { .. } => {
                bail!(
                    "{}: a selection export already carries its proofs; use `veil audit verify`",
                    at()
                )
            }
        }
    }
    let key = key.with_context(|| format!("`{}` has no header", file.display()))?;
    Ok((key, tree, cps))
}

fn proof(file: &Path, seq: u64) -> anyhow::Result<ExitCode> {
    let (key, tree, cps) = read_tree(file)?;
    if seq >= tree.size() {
        bail!(
            "record {seq} does not exist in `{}` ({} records)",
            file.display(),
            tree.size()
        );
    }
    let cp = cps
        .iter()
        .rev()
        .find(|cp| {
            key.verify(cp).is_ok() && cp.checkpoint.size > seq && cp.checkpoint.size <= tree.size()
        })
        .with_context(|| format!("record {seq} is not yet covered by a signed checkpoint"))?;
    let size = cp.checkpoint.size;
    let leaf = tree.leaf(seq).context("leaf out of range")?;
    let path = tree
        .inclusion_proof(seq, size)
        .context("proof out of range")?;
    if !verify_inclusion(&leaf, seq, size, &path, &cp.checkpoint.root) {
        eprintln!(
            "veil: audit: record {seq} is not included in the checkpoint for size {size}: the log was altered; run `veil audit verify`"
        );
        return Ok(ExitCode::from(1));
    }
    let out = serde_json::json!({
        "seq": seq,
        "leaf": hex::encode(leaf),
        "tree_size": size,
        "root": hex::encode(cp.checkpoint.root),
        "proof": path.iter().map(hex::encode).collect::<Vec<_>>(),
        "checkpoint": cp.to_text(),
        "verifier_key": key.to_string(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Parses one line; the error names only the problem and column, never the line's content.
fn parse_line(line: &str) -> anyhow::Result<Line> {
    serde_json::from_str::<Line>(line).map_err(|e| {
        anyhow::anyhow!(
            "not a valid audit line ({:?} error at column {})",
            e.classify(),
            e.column()
        )
    })
}

pub(crate) fn parse_time(s: &str) -> anyhow::Result<u64> {
    let t = humantime::parse_rfc3339_weak(s)
        .with_context(|| format!("`{s}` is not an RFC 3339 time"))?;
    let ms = t
        .duration_since(UNIX_EPOCH)
        .with_context(|| format!("`{s}` is before 1970"))?
        .as_millis();
    Ok(u64::try_from(ms)?)
}

fn first_seq_since(src: &FileSource, since_ms: u64) -> anyhow::Result<u64> {
    let mut last = 0;
    for e in src.entries()? {
        if let Entry::Record(r) = e? {
            let rec = AuditRecord::decode(&r.bytes).with_context(|| format!("record {}", r.seq))?;
            if rec.time_ms >= since_ms {
                return Ok(r.seq);
            }
            last = r.seq + 1;
        }
    }
    Ok(last)
}

/// Record filters shared by `export` and `log`.
pub(crate) struct Filter {
    pub(crate) since: Option<u64>,
    pub(crate) principal: Option<String>,
    pub(crate) decision: Option<DecisionArg>,
}

impl Filter {
    pub(crate) fn matches(&self, rec: &AuditRecord) -> bool {
        let want = self.decision.map(|d| match d {
            DecisionArg::Allow => Verdict::Allow,
            DecisionArg::Deny => Verdict::Deny,
        });
        !(self.since.is_some_and(|s| rec.time_ms < s)
            || self
                .principal
                .as_deref()
                .is_some_and(|p| rec.principal != p)
            || want.is_some_and(|w| rec.event.verdict() != Some(w)))
    }
}

fn export_selection(
    log: &Path,
    out: Option<&Path>,
    filter: &Filter,
    from_seq: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let src = FileSource::new(log);
    let key = src.verifier_key()?;
    let from = from_seq.unwrap_or(0);
    let select = |r: &AuditRecord| r.seq >= from && filter.matches(r);
    let (n, unsigned) = match out {
        Some(path) => {
            let f = File::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
            write_selection(&src, &key, select, BufWriter::new(f))?
        }
        None => write_selection(&src, &key, select, std::io::stdout().lock())?,
    };
    eprintln!("veil: audit: exported {n} matching records, each with an inclusion proof");
    if unsigned > 0 {
        eprintln!(
            "veil: audit: warning: {unsigned} matching records are newer than the latest checkpoint and were left out"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn export(
    log: &Path,
    out: Option<&Path>,
    since: Option<u64>,
    from_seq: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let src = FileSource::new(log);
    let key = src.verifier_key()?;
    let start = match (since, from_seq) {
        (Some(s), _) => first_seq_since(&src, s)?,
        (None, Some(seq)) => seq,
        (None, None) => 0,
    };
    let n = match out {
        Some(path) => {
            let f = File::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
            write_export(&src, &key, ExportRange { start }, BufWriter::new(f))?
        }
        None => write_export(&src, &key, ExportRange { start }, std::io::stdout().lock())?,
    };
    eprintln!(
        "veil: audit: exported {n} records from seq {start}; verify with `veil audit verify --file FILE --public-key '{key}'`"
    );
    Ok(ExitCode::SUCCESS)
}

fn query(log: &Path, filter: &Filter, limit: Option<u64>) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut shown = 0u64;
    for (i, line) in open(log)?.lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("cannot read `{}` line {n}", log.display()))?;
        let parsed = parse_line(&line).with_context(|| format!("`{}` line {n}", log.display()))?;
        let Line::Record { seq, leaf, record } = parsed else {
            continue;
        };
        let sr = veil_audit::export::parse_record(seq, &leaf, &record)
            .map_err(|e| anyhow::anyhow!("`{}` line {n}: {e}", log.display()))?;
        let rec = AuditRecord::decode(&sr.bytes)
            .with_context(|| format!("`{}` line {n}", log.display()))?;
        if !filter.matches(&rec) {
            continue;
        }
        serde_json::to_writer(&mut out, &rec)?;
        out.write_all(b"\n")?;
        shown += 1;
        if limit.is_some_and(|l| shown >= l) {
            break;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn read_key_file(path: &Path) -> anyhow::Result<CheckpointSigner> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file `{}`", path.display()))?,
    );
    let mut lines = text.lines();
    let (Some(name), Some(seed_hex)) = (lines.next(), lines.next()) else {
        bail!(
            "key file `{}` must hold a name line and a seed line",
            path.display()
        );
    };
    let seed =
        zeroize::Zeroizing::new(parse_hash(seed_hex.trim()).with_context(|| {
            format!("key file `{}`: seed is not 64 hex digits", path.display())
        })?);
    CheckpointSigner::from_seed(name.trim(), &seed)
        .with_context(|| format!("key file `{}`", path.display()))
}

fn keygen(name: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let signer = CheckpointSigner::from_seed(name, &seed)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(out)
        .with_context(|| format!("cannot create key file `{}`", out.display()))?;
    let body = zeroize::Zeroizing::new(format!("{name}\n{}\n", hex::encode(seed.as_ref())));
    f.write_all(body.as_bytes())?;
    f.sync_all()?;
    println!("{}", signer.verifier());
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn demo(
    log: &Path,
    key: &Path,
    records: u64,
    checkpoint_every: u64,
    batch: u64,
) -> anyhow::Result<ExitCode> {
    let signer = read_key_file(key)?;
    let (sink, state) = if log.exists() {
        let (sink, state, file_key) = FileLog::open(log)?;
        if file_key != signer.verifier() {
            bail!(
                "log `{}` belongs to key `{file_key}`, not to `{}`",
                log.display(),
                key.display()
            );
        }
        (sink, state)
    } else {
        (
            FileLog::create(log, &signer.verifier())?,
            LogState::default(),
        )
    };
    let policy = CheckpointPolicy {
        every_records: checkpoint_every.max(1),
        every_ms: 60_000,
    };
    let mut audit = AuditLog::new(sink, state, signer, policy);
    let digester = TextDigester::new(&[0x5a; 32]);
    let principals = ["key:alice", "key:bob", "key:carol"];
    let start = audit.size();
    for i in start..start + records {
        let principal = principals
            .get((i % 3) as usize)
            .copied()
            .unwrap_or("key:alice");
        let req = format!("req-{i}");
        let deny = i % 7 == 3;
        let classes: ClassCounts = if deny {
            [("US_SSN".to_string(), 1)].into_iter().collect()
        } else {
            [("EMAIL_ADDRESS".to_string(), 1)].into_iter().collect()
        };
        let event = match i % 3 {
            0 | 1 if deny => Event::Decision(DecisionEvent {
                action: "chat".into(),
                verdict: Verdict::Deny,
                reasons: vec!["forbid-us-ssn".into()],
                classes,
            }),
            0 => Event::Request(RequestEvent {
                model: "gpt-4o-mini".into(),
                verdict: Verdict::Allow,
                reasons: vec!["default".into()],
                classes,
                prompt_digest: digester.digest(&format!("synthetic prompt {i}")),
                tokens: 100,
                protected: Some("Please email <EMAIL_ADDRESS_1>".into()),
                sealed: None,
            }),
            _ => Event::Response(ResponseEvent {
                status: 200,
                classes: ClassCounts::new(),
                answer_digest: digester.digest(&format!("synthetic answer {i}")),
                tokens: 40,
                protected: None,
                sealed: None,
            }),
        };
        audit.append(now_ms(), principal, &req, event)?;
        if (i + 1 - start) % batch.max(1) == 0 {
            audit.commit(now_ms())?;
        }
    }
    let c = audit.commit_with_checkpoint(now_ms())?;
    eprintln!(
        "veil: audit: log `{}` now holds {} records",
        log.display(),
        c.durable_size
    );
    Ok(ExitCode::SUCCESS)
}
