//! What every chapter shares, so that a chapter's `main.rs` holds only its lesson:
//! the command line ([`cli`]), the listening socket ([`net`]), the log lines
//! ([`log`]) and the per-connection output queue ([`queue`]).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod log;
pub mod net;
pub mod queue;
pub mod show;

pub use cli::{ServerArgs, exit_with_error, parse_args};
pub use log::Log;
pub use net::{SpareFd, listen, raise_fd_limit, resolve, tune_connection};
pub use queue::{MessageQueue, PENDING_LIMIT, READ_SIZE};
pub use show::{Payload, PyAddr};
