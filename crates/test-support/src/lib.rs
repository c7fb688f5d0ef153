//! Test support shared by the chapters' tests, the book's tests, the
//! conformance suite and the benchmarks:
//! [`server`] starts a server on a free port and kills it when dropped,
//! [`transcript`] turns logs into per-connection event sequences,
//! [`procfs`] reads a process's CPU time, memory and descriptors,
//! [`checks`] are the checks every chapter's tests run (transcripts, echo,
//! half-close, the command-line contract).
#![forbid(unsafe_code)]

pub mod checks;
pub mod procfs;
pub mod server;
pub mod transcript;

pub use server::{ServerProcess, bin_path, workspace_root};
pub use transcript::{Transcript, per_connection};
