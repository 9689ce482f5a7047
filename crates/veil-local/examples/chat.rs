//! Run with `cargo run -p veil-local --example chat -- MODEL.gguf "QUESTION" [MAX_TOKENS]`
//!
//! Prints the greedy answer to one user message, streamed as it is generated, on one
//! compute thread; then the prompt's token ids (to compare with another tokenizer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write as _;

use veil_local::{ChatMessage, GenerateRequest, LocalModel, Prompt};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: chat MODEL.gguf QUESTION [MAX_TOKENS]");
    let question = args
        .get(2)
        .expect("usage: chat MODEL.gguf QUESTION [MAX_TOKENS]");
    let max_tokens: usize = args.get(3).map_or(64, |s| s.parse().unwrap());
    let mut model = LocalModel::from_gguf_bytes(&std::fs::read(path).unwrap()).unwrap();
    let messages = vec![ChatMessage::new("user", question.as_str())];
    let ids = model
        .encode_prompt(&Prompt::Chat(messages.clone()))
        .unwrap();
    let request = GenerateRequest::chat(messages, max_tokens);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let done = pool
        .install(|| {
            model.generate(&request, &mut |chunk| {
                print!("{}", chunk.text);
                std::io::stdout().flush().is_ok()
            })
        })
        .unwrap();
    println!();
    eprintln!(
        "[{:?}, {} prompt tokens, {} generated] prompt ids: {ids:?}",
        done.finish_reason, done.prompt_tokens, done.completion_tokens
    );
}
