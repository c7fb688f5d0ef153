//! The uring-completion chapter's pieces that are not the server itself:
//! the safe wrapper over io_uring (`src/ring.rs`, the chapter's only
//! `unsafe` code), the table of connections with generation numbers
//! (`src/slots.rs`) and the tag a completion carries (`src/tag.rs`). The
//! server is `src/main.rs`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[cfg(target_os = "linux")]
pub mod ring;
pub mod slots;
pub mod tag;

pub use slots::Slots;
pub use tag::{Op, Tag};
