//! DP queries.
