//! `veil explain <request-id>`: the decision path of one request, read back from its audit
//! records: verdict, policy ids, data classes with counts, treatments, classes restored for
//! the caller, answer classes and flags. Identifiers and counts only: the records hold no
//! values, so neither can this.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::bail;
use serde::Serialize;
use veil_audit::{AuditRecord, ClassCounts, Event, Verdict};

use crate::keys::StoreArgs;

/// Arguments of `veil explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The request id (`x-request-id` of the answer).
    request_id: String,
    #[command(flatten)]
    db: StoreArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The explained path of one request.
#[derive(Debug, Default, Serialize)]
struct Explanation {
    request_id: String,
    principal: String,
    model: String,
    /// `allow` or `deny`.
    verdict: &'static str,
    /// Policy ids and reasons that decided.
    policies: Vec<String>,
    /// The error code of a refusal before the request was recorded (throttled, bad body…).
    refused: Option<String>,
    /// Findings in the request per data class.
    classes: ClassCounts,
    /// What was done to each class.
    treatments: BTreeMap<String, String>,
    /// Classes the caller may see restored in the answer.
    restored: Vec<String>,
    /// Flags raised while inspecting the request and screening the answer.
    flags: Vec<String>,
    prompt_tokens: u32,
    /// HTTP status of the answer (499: the client went away).
    status: Option<u16>,
    /// Sensitive values found in the answer, per data class.
    answer_classes: ClassCounts,
    completion_tokens: u32,
    /// Seq of every record read.
    records: Vec<u64>,
    /// When the request was recorded (RFC 3339).
    time: String,
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    }
}

/// Splits the `reasons` of a request record back into their kinds (see the gateway's
/// `request_record`): `treat:CLASS=HOW`, `restore:CLASS`, `flag:NAME`, `refused:CODE`, and
/// policy ids for the rest.
fn absorb_reasons(out: &mut Explanation, reasons: &[String]) {
    for reason in reasons {
        if let Some(rest) = reason.strip_prefix("treat:") {
            let (class, how) = rest.split_once('=').unwrap_or((rest, "?"));
            out.treatments.insert(class.to_owned(), how.to_owned());
        } else if let Some(class) = reason.strip_prefix("restore:") {
            out.restored.push(class.to_owned());
        } else if let Some(flag) = reason.strip_prefix("flag:") {
            out.flags.push(flag.to_owned());
        } else if let Some(code) = reason.strip_prefix("refused:") {
            out.refused = Some(code.to_owned());
        } else {
            out.policies.push(reason.clone());
        }
    }
}

fn explain(request_id: &str, records: &[AuditRecord]) -> Explanation {
    let mut out = Explanation {
        request_id: request_id.to_owned(),
        ..Explanation::default()
    };
    for record in records {
        out.records.push(record.seq);
        if out.principal.is_empty() {
            out.principal = record.principal.clone();
        }
        match &record.event {
            Event::Request(r) => {
                out.model = r.model.clone();
                out.verdict = verdict_str(r.verdict);
                out.classes = r.classes.clone();
                out.prompt_tokens = r.tokens;
                out.time = rfc3339(record.time_ms);
                absorb_reasons(&mut out, &r.reasons);
            }
            Event::Response(r) => {
                out.status = Some(r.status);
                out.answer_classes = r.classes.clone();
                out.completion_tokens = r.tokens;
            }
            Event::Decision(d) => absorb_reasons(&mut out, &d.reasons),
            Event::KeyChange(_) | Event::PolicyChange(_) | Event::DataRelease(_) => {}
        }
    }
    out
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn counts(classes: &ClassCounts) -> String {
    if classes.is_empty() {
        return "none".into();
    }
    classes
        .iter()
        .map(|(class, n)| format!("{class} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn render(e: &Explanation) -> String {
    let mut text = format!(
        "request {} by {} at {}\n",
        e.request_id, e.principal, e.time
    );
    text += &format!(
        "  model:      {}\n",
        if e.model.is_empty() {
            "-"
        } else {
            e.model.as_str()
        }
    );
    text += &format!("  verdict:    {}", e.verdict);
    if let Some(code) = &e.refused {
        text += &format!(" (refused before forwarding: {code})");
    }
    text += "\n";
    text += &format!("  policies:   {}\n", list(&e.policies));
    text += &format!("  found:      {}\n", counts(&e.classes));
    let treatments: Vec<String> = e
        .treatments
        .iter()
        .map(|(class, how)| format!("{class} -> {how}"))
        .collect();
    text += &format!("  treatments: {}\n", list(&treatments));
    text += &format!("  restored:   {}\n", list(&e.restored));
    text += &format!("  flags:      {}\n", list(&e.flags));
    text += &format!(
        "  tokens:     {} prompt (estimated), {} completion\n",
        e.prompt_tokens, e.completion_tokens
    );
    match e.status {
        Some(status) => {
            text += &format!(
                "  answer:     status {status}, found {}\n",
                counts(&e.answer_classes)
            )
        }
        None => text += "  answer:     no response record yet\n",
    }
    let seqs: Vec<String> = e.records.iter().map(u64::to_string).collect();
    text += &format!("  records:    seq {}\n", seqs.join(", "));
    text
}

/// Runs `veil explain`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let records = crate::audit_db::records_of(&args.db, &args.request_id)?;
    let requests = records
        .iter()
        .filter(|r| matches!(r.event, Event::Request(_)))
        .count();
    if requests == 0 {
        bail!("no request record for `{}`", args.request_id);
    }
    let explanation = explain(&args.request_id, &records);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{}", render(&explanation));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use veil_audit::{DecisionEvent, RequestEvent, ResponseEvent};

    fn rec(seq: u64, event: Event) -> AuditRecord {
        AuditRecord {
            seq,
            time_ms: 1_764_150_000_000,
            prev_leaf: [0; 32],
            principal: "key_abc".into(),
            request_id: "req_1".into(),
            event,
        }
    }

    #[test]
    fn explains_the_whole_path_without_values() {
        let records = vec![
            rec(
                4,
                Event::Request(RequestEvent {
                    model: "gpt-4o".into(),
                    verdict: Verdict::Allow,
                    reasons: vec![
                        "pseudonymize-pii".into(),
                        "treat:EMAIL_ADDRESS=pseudonymize".into(),
                        "treat:US_SSN=redact".into(),
                        "restore:EMAIL_ADDRESS".into(),
                        "flag:injection_flagged".into(),
                    ],
                    classes: [("EMAIL_ADDRESS".into(), 2), ("US_SSN".into(), 1)]
                        .into_iter()
                        .collect(),
                    prompt_digest: [1; 32],
                    tokens: 12,
                    protected: None,
                    sealed: None,
                }),
            ),
            rec(
                5,
                Event::Response(ResponseEvent {
                    status: 200,
                    classes: [("PERSON".into(), 1)].into_iter().collect(),
                    answer_digest: [2; 32],
                    tokens: 30,
                    protected: None,
                    sealed: None,
                }),
            ),
            rec(
                6,
                Event::Decision(DecisionEvent {
                    action: "screen".into(),
                    verdict: Verdict::Allow,
                    reasons: vec!["flag:logprobs_stripped".into()],
                    classes: Default::default(),
                }),
            ),
        ];
        let e = explain("req_1", &records);
        assert_eq!(e.verdict, "allow");
        assert_eq!(e.policies, ["pseudonymize-pii"]);
        assert_eq!(e.treatments["US_SSN"], "redact");
        assert_eq!(e.restored, ["EMAIL_ADDRESS"]);
        assert_eq!(e.flags, ["injection_flagged", "logprobs_stripped"]);
        assert_eq!(e.status, Some(200));
        assert_eq!(e.records, [4, 5, 6]);
        let text = render(&e);
        assert!(
            text.contains("found:      EMAIL_ADDRESS x2, US_SSN x1"),
            "{text}"
        );
        assert!(text.contains("EMAIL_ADDRESS -> pseudonymize"), "{text}");
        assert!(
            text.contains("answer:     status 200, found PERSON x1"),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_is_explained_as_deny() {
        let records = vec![rec(
            0,
            Event::Request(RequestEvent {
                model: "up".into(),
                verdict: Verdict::Deny,
                reasons: vec!["forbid-ssn".into(), "refused:policy_denied".into()],
                classes: Default::default(),
                prompt_digest: [0; 32],
                tokens: 1,
                protected: None,
                sealed: None,
            }),
        )];
        let e = explain("req_1", &records);
        assert_eq!(
            (e.verdict, e.refused.as_deref()),
            ("deny", Some("policy_denied"))
        );
        assert_eq!(e.policies, ["forbid-ssn"]);
        assert!(render(&e).contains("no response record yet"));
    }

    #[test]
    fn key_changes_do_not_disturb_an_explanation() {
        let kc = Event::KeyChange(veil_audit::KeyChangeEvent {
            key_id: "k".into(),
            change: veil_audit::KeyChange::Created,
            actor: "cli".into(),
        });
        let e = explain("req_1", &[rec(0, kc)]);
        assert!(e.policies.is_empty());
    }
}
