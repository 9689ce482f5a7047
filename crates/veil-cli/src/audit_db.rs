//! `veil audit verify|proof|export|log` and `veil explain` on the gateway's own log, in its
//! database (SQLite in the data directory by default, or `--database-url`).
//!
//! The verifier key defaults to the one derived from the deployment's root key. That proves
//! the database was not altered by someone without the key; an auditor who wants a check
//! independent of this machine passes `--public-key` (as published by
//! `GET /admin/v1/audit/key`) or verifies an export elsewhere.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use veil_audit::{
    AuditRecord, ExportRange, Place, Verdict, VerifierKey, write_export, write_selection,
};
use veil_gateway::config::Config;
use veil_store::{
    AUDIT_PAGE, AuditQuery, AuditStore, BlockingAudit, Store, audit_inclusion, verify_audit,
};

use crate::audit::{DecisionArg, Filter, print_report, read_public_key};
use crate::keys::StoreArgs;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the configured database read-only, creating and changing nothing: a missing SQLite
/// file is an error, not a new empty log that would verify; no migration runs (a schema at
/// another version is an error), and the checked database stays byte for byte as it was.
async fn open(args: &StoreArgs) -> anyhow::Result<(Store, Config)> {
    let config = args.load()?;
    if config.store.database_url.is_none() {
        let db = config.server.data_dir.join("veil.db");
        if !db.is_file() {
            bail!(
                "no gateway database at `{}` (pass `--data-dir`, `--database-url` or `--file`)",
                db.display()
            );
        }
    }
    let store = Store::open_read_only(&config.database_url())
        .await
        .context("cannot open the store")?;
    Ok((store, config))
}

/// The key to verify with: `--public-key`, else the one derived from the root key (which must
/// already exist: verifying never creates a key).
fn verifier(config: &Config, public_key: Option<&str>) -> anyhow::Result<VerifierKey> {
    if let Some(arg) = public_key {
        return read_public_key(arg);
    }
    let has_env = std::env::var_os("VEIL_MASTER_KEY").is_some();
    if !has_env && !config.server.data_dir.join("root.key").is_file() {
        bail!(
            "no root key in `{}` and `VEIL_MASTER_KEY` is unset: pass `--public-key`",
            config.server.data_dir.display()
        );
    }
    Ok(crate::keys::audit_keys(config)?.verifier())
}

/// `veil audit verify` on the database.
pub fn verify(
    args: &StoreArgs,
    public_key: Option<&str>,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let (store, config) = open(args).await?;
        let key = verifier(&config, public_key)?;
        let report = verify_audit(&store, &key)
            .await
            .context("cannot read the audit log")?;
        store.close().await;
        let name = redacted_url(&config.database_url());
        let mut failed = false;
        if let Some(f) = &report.first_fault {
            eprintln!("veil: audit: `{name}`: {}", f.at(Place::Row));
            failed = true;
        }
        for f in &report.checkpoint_faults {
            eprintln!("veil: audit: `{name}`: {}", f.at(Place::Row));
            failed = true;
        }
        Ok(print_report(&name, &report, strict, failed))
    })
}

/// A database URL without its password, to name it in messages.
fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// `veil audit proof SEQ` on the database.
pub fn proof(args: &StoreArgs, seq: u64) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let (store, config) = open(args).await?;
        let key = verifier(&config, None)?;
        let proof = audit_inclusion(&store, seq, &key)
            .await
            .context("cannot read the audit log")?;
        store.close().await;
        let proof = proof.with_context(|| {
            format!("record {seq} does not exist or is not yet covered by a signed checkpoint")
        })?;
        if !proof.verify(&key) {
            eprintln!(
                "veil: audit: the proof of record {seq} does not verify; run `veil audit verify`"
            );
            return Ok(ExitCode::from(1));
        }
        let out = serde_json::json!({
            "seq": seq,
            "leaf": hex::encode(proof.leaf),
            "tree_size": proof.checkpoint.checkpoint.size,
            "root": hex::encode(proof.checkpoint.checkpoint.root),
            "proof": proof.proof.iter().map(hex::encode).collect::<Vec<_>>(),
            "checkpoint": proof.checkpoint.to_text(),
            "verifier_key": key.to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(ExitCode::SUCCESS)
    })
}

/// `veil audit export` from the database: a full export from a point on, or with
/// `--principal`/`--decision` a selection with inclusion proofs.
pub fn export(
    args: &StoreArgs,
    out: Option<&Path>,
    filter: &Filter,
    from_seq: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let (store, config) = rt.block_on(open(args))?;
    let key = verifier(&config, None)?;
    let start = match (filter.since, from_seq) {
        (Some(since), _) => rt.block_on(store.audit_first_since(since))?,
        (None, Some(seq)) => seq,
        (None, None) => 0,
    };
    // The veil-audit writers are synchronous: they page through the store from this thread.
    let source = BlockingAudit::new(store.clone(), rt.handle().clone());
    let mut sink: Box<dyn Write> = match out {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create `{}`", path.display())
            })?))
        }
        None => Box::new(std::io::stdout().lock()),
    };
    if filter.principal.is_some() || filter.decision.is_some() {
        let select = |r: &AuditRecord| r.seq >= start && filter.matches(r);
        let (n, unsigned) = write_selection(&source, &key, select, &mut sink)?;
        eprintln!("veil: audit: exported {n} matching records, each with an inclusion proof");
        if unsigned > 0 {
            eprintln!(
                "veil: audit: warning: {unsigned} matching records are newer than the latest checkpoint and were left out"
            );
        }
    } else {
        let n = write_export(&source, &key, ExportRange { start }, &mut sink)?;
        eprintln!(
            "veil: audit: exported {n} records from seq {start}; verify with `veil audit verify --file FILE --public-key '{key}'`"
        );
    }
    sink.flush()?;
    drop(sink);
    rt.block_on(store.close());
    Ok(ExitCode::SUCCESS)
}

fn verdict(decision: Option<DecisionArg>) -> Option<Verdict> {
    decision.map(|d| match d {
        DecisionArg::Allow => Verdict::Allow,
        DecisionArg::Deny => Verdict::Deny,
    })
}

/// `veil audit log` on the database: decoded records, one JSON object a line.
pub fn query(args: &StoreArgs, filter: &Filter, limit: Option<u64>) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let (store, _) = open(args).await?;
        let mut out = BufWriter::new(std::io::stdout().lock());
        let mut shown = 0u64;
        let mut from_seq = 0u64;
        loop {
            let want = limit.map_or(AUDIT_PAGE, |l| {
                u32::try_from(l.saturating_sub(shown))
                    .unwrap_or(AUDIT_PAGE)
                    .min(AUDIT_PAGE)
            });
            if want == 0 {
                break;
            }
            let query = AuditQuery {
                principal: filter.principal.clone(),
                since_ms: filter.since,
                verdict: verdict(filter.decision),
                request_id: None,
                from_seq: Some(from_seq),
                limit: want,
            };
            let page = store.audit_query(&query).await?;
            let Some((last, _)) = page.last() else { break };
            from_seq = last.seq + 1;
            for (_, record) in &page {
                serde_json::to_writer(&mut out, record)?;
                out.write_all(b"\n")?;
                shown += 1;
            }
        }
        out.flush()?;
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The records of one request, for `veil explain`.
pub fn records_of(args: &StoreArgs, request_id: &str) -> anyhow::Result<Vec<AuditRecord>> {
    let rt = runtime()?;
    rt.block_on(async {
        let (store, _) = open(args).await?;
        let query = AuditQuery {
            request_id: Some(request_id.to_owned()),
            limit: 100,
            ..AuditQuery::default()
        };
        let found = store.audit_query(&query).await?;
        store.close().await;
        Ok(found.into_iter().map(|(_, r)| r).collect())
    })
}
