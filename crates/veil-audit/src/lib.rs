//! x
#![forbid(unsafe_code)]
pub mod checkpoint;
pub mod crypto;
pub mod record;
pub mod tree;
