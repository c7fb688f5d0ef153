//! The poll-queue chapter's `Poller`, as a library too, so the exercise built
//! on it (idle timeouts) uses this one rather than a copy. The server itself
//! is `src/main.rs`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod poller;
