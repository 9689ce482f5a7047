//! Local models: open-weight GGUF models run in-process on CPU with candle, so sensitive
//! data need not leave the premises.
//!
//! - [`LocalModel`] loads a GGUF file (llama-family: Llama, SmolLM2, …), rebuilds its
//!   byte-level BPE [`Tokenizer`] from the file's metadata, renders chats with the file's
//!   own Jinja chat template, and generates greedily or by temperature/top-p sampling with
//!   a seed, with `max_tokens`, stop sequences, streaming chunks and log-probabilities.
//! - [`Pool`] runs generations on a bounded worker pool: `try_submit` never blocks and fails
//!   with [`ErrorKind::QueueFull`] when the queue is full, so an async gateway maps it to
//!   429/503; dropping the receiver cancels.
//! - [`Registry`] keeps `models.toml` in the data directory (`veil models add|list`) with each
//!   file's SHA-256 and size, and refuses to load a file that changed.
//!
//! ```no_run
//! use veil_local::{ChatMessage, Event, GenerateRequest, Pool, PoolConfig, Registry};
//!
//! let registry = Registry::open(std::path::Path::new(".veil"))?;
//! let model = registry.load("smollm2")?;
//! let pool = Pool::new(&model, PoolConfig::default())?;
//! let request = GenerateRequest::chat(vec![ChatMessage::new("user", "What is 2+2?")], 16);
//! for event in pool.try_submit(request)? {
//!     match event {
//!         Event::Chunk(chunk) => print!("{}", chunk.text),
//!         Event::Done(done) => println!("\n[{:?}]", done.finish_reason),
//!         Event::Failed(err) => eprintln!("{err}"),
//!     }
//! }
//! # Ok::<(), veil_local::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod chat;
mod error;
mod model;
mod pool;
mod registry;
mod stop;
mod tokenizer;

pub use error::{Error, ErrorKind};
pub use model::{
    ChatMessage, Chunk, Completion, FinishReason, GenerateRequest, LoadOptions, LocalModel,
    ModelInfo, Prompt, TokenLogprob, inspect,
};
pub use pool::{Event, Pool, PoolConfig, Sink};
pub use registry::{ModelEntry, REGISTRY_FILE, Registry, load_verified, sha256_hex};
pub use stop::{StopFilter, StopOutcome};
pub use tokenizer::Tokenizer;
