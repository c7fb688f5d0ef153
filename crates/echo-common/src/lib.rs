//! What every chapter shares, so that a chapter's `main.rs` holds only its lesson:
//! the command line ([`cli`]), the listening socket ([`net`]), the log lines
//! ([`log`]), the per-connection output queue ([`queue`]) and a wait's time
//! limit in milliseconds ([`timeout`]).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod log;
pub mod net;
pub mod queue;
pub mod show;
pub mod timeout;

pub use cli::{ServerArgs, exit_with_error, parse_args, parse_read_size};
pub use log::Log;
pub use net::{
    ACCEPT_PAUSE, AcceptAction, SpareFd, accept_action, listen, listen_reuse_port, raise_fd_limit,
    resolve, tune_connection,
};
pub use queue::{MAX_READ_SIZE, MessageQueue, PENDING_LIMIT, READ_SIZE, SHARED_READ_SIZE};
pub use show::{Payload, PyAddr};
pub use timeout::timeout_ms;
