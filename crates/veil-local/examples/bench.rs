//! Run with `cargo run --release -p veil-local --example bench -- MODEL.gguf THREADS TOKENS RUNS [exact]`
//!
//! Greedy generation of TOKENS tokens for a fixed chat prompt on THREADS compute threads,
//! RUNS times; prints time to first token, decode tokens/s (median) and peak RSS. With
//! `exact`, `Q4_1` weights are kept as they are instead of converted to `Q8_0` at load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use veil_local::{ChatMessage, GenerateRequest, LoadOptions, LocalModel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: bench MODEL.gguf THREADS TOKENS RUNS");
    let threads: usize = args.get(2).map_or(1, |s| s.parse().unwrap());
    let tokens: usize = args.get(3).map_or(64, |s| s.parse().unwrap());
    let runs: usize = args.get(4).map_or(3, |s| s.parse().unwrap());
    let options = LoadOptions {
        q4_1_as_q8_0: args.get(5).is_none_or(|s| s != "exact"),
    };
    let t0 = Instant::now();
    let model = LocalModel::from_gguf_bytes_with(&std::fs::read(path).unwrap(), options).unwrap();
    let load = t0.elapsed();
    let compute = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let request = GenerateRequest::chat(
        vec![ChatMessage::new(
            "user",
            "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        )],
        tokens,
    );
    let mut ttfts = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..runs {
        let mut m = model.clone();
        let start = Instant::now();
        let mut first = None;
        let done = compute
            .install(|| {
                m.generate(&request, &mut |_| {
                    first.get_or_insert_with(|| start.elapsed());
                    true
                })
            })
            .unwrap();
        let total = start.elapsed();
        let ttft = first.unwrap_or(total);
        let decode_tokens = done.completion_tokens.saturating_sub(1) as f64;
        ttfts.push(ttft.as_secs_f64());
        rates.push(decode_tokens / (total - ttft).as_secs_f64());
        eprintln!(
            "run: prompt {} tokens, generated {}, ttft {:.3}s, decode {:.1} tok/s",
            done.prompt_tokens,
            done.completion_tokens,
            ttft.as_secs_f64(),
            rates.last().unwrap()
        );
    }
    ttfts.sort_by(f64::total_cmp);
    rates.sort_by(f64::total_cmp);
    let peak = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        .unwrap_or_default();
    println!(
        "veil-local threads={threads} q4_1_as_q8_0={} load={:.2}s ttft_median={:.3}s decode_tok_s_median={:.1} peak_rss_kb={peak}",
        options.q4_1_as_q8_0,
        load.as_secs_f64(),
        ttfts[ttfts.len() / 2],
        rates[rates.len() / 2]
    );
}
