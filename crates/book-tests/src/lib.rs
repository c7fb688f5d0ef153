//! The checks that keep the book in `docs/` true to the code. `tests/book.rs`
//! runs them on the real pages, and `tests/html.rs` on the book mdBook
//! builds from them; the unit tests of each module feed its check a broken
//! page to show that it fails. One module per checker:
//!
//! - [`excerpts`]: a listing under a source caption equals its anchor;
//! - [`transcripts`]: a transcript under a caption equals its captured
//!   file, and every captured file is shown;
//! - [`commands`]: every command names a real package and flags its
//!   program lists, and ends by itself;
//! - [`links`]: links and pictures resolve inside the book;
//! - [`pictures`]: every picture is an SVG a browser shows;
//! - [`html`]: the built pages keep every `--flag` of the sources;
//! - [`markdown`]: the code blocks and sections they all read;
//! - [`course`]: the book read as a course (no chapter sends the reader
//!   forward, three points under "In short");
//! - [`translation`]: the Chinese edition in step with the English one.
//!
//! The Chinese edition (`docs/zh/src`, built into `docs/book/zh`) goes
//! through the same checks as the English one, in its own words (`## 小结`,
//! `第 7 章`, captions ending in `：`); `tests/parity.rs` compares the two.
//!
//! Every problem a check reports says what fixes it, and names the command
//! when one does.
//!
//! # Listings and transcripts are copied into the pages, and checked
//! mdBook can pull a listing out of a source file by anchor
//! (`{{#include path:anchor}}`), but a code host shows such a directive as it
//! is, and the page read there has no code at all. So every page keeps its
//! excerpts and transcripts verbatim, under a caption that says where they come
//! from, and these checks insist the copy equals its source, character for
//! character:
//!
//! - a code block right after a line ending in
//!   `` `crates/select-queue/src/main.rs`, anchor `loop`: `` must equal the lines
//!   between `// ANCHOR: loop` and `// ANCHOR_END: loop` in that file (with
//!   their common indentation removed, and lines of other anchors left out);
//!   a missing file, a missing anchor or an empty excerpt fails;
//! - a code block right after a line ending in
//!   `` `docs/transcripts/select-queue/server.txt`: `` must equal that file, the
//!   same file the chapter's own tests compare with a fresh run, so the page
//!   shows what a run prints;
//! - a `rust` block without such a caption fails, and so does any block that
//!   looks like a transcript (a startup line, `waiting for the next event`...)
//!   without one.
//!
//! When a source changes on purpose, `BOOK_BLESS=1 cargo test -p book-tests`
//! rewrites every captioned block from its source; `git diff docs/` then shows
//! what the reader will see differently, and the prose around it may need the
//! same change. `scripts/transcripts.sh CHAPTER` captures a chapter's
//! transcripts again and runs that rewrite itself.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

pub mod commands;
pub mod course;
pub mod diffs;
pub mod excerpts;
pub mod html;
pub mod links;
pub mod markdown;
pub mod pictures;
pub mod transcripts;
pub mod translation;

pub use commands::{
    CARGO_RUN_FLAGS, HelpFn, Invocation, Runner, check_commands_end, check_invocation, help_lists,
    invocations, never_ending, shell_commands, shell_words,
};
pub use excerpts::{Source, anchored, bless_page, check_page, source_of};
pub use links::{
    Edition, check_fragments, check_fragments_in, check_links, check_links_in, heading_id,
    heading_ids, is_edition_link, links, links_and_images, resolve,
};
pub use markdown::{Block, blocks, check_sections, headings};
pub use pictures::svg_problems;
pub use transcripts::{TRANSCRIPTS, looks_like_transcript};

/// The command that copies every captioned block's source into its page.
pub const BLESS: &str = "BOOK_BLESS=1 cargo test -p book-tests";

/// Fails the test listing every problem, each after its page's name;
/// passes when every page's list is empty.
pub fn fail_on(problems: BTreeMap<String, Vec<String>>) {
    let problems: Vec<String> = problems
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .flat_map(|(file, v)| v.into_iter().map(move |p| format!("{file}: {p}")))
        .collect();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
