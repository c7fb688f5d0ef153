//! The epoll-edge chapter as a library: the safe `epoll` wrapper, the table
//! of clients, and the two servers, one file per mode (`src/edge.rs` and
//! `src/level.rs`). `src/main.rs` picks one. The exercises built on this
//! chapter and the `epoll-threads` chapter use these rather than copies.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod edge;
pub mod epoll;
pub mod fd_map;
pub mod level;

pub use fd_map::FdMap;
