//! `veil-protect` acts on findings: tag, redact, mask, keyed hash, encrypt, format-preserving
//! encryption and surrogates, and restores what is reversible.
#![forbid(unsafe_code)]
