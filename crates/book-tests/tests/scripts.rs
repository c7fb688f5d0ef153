//! The scripts the book tells the reader to run: `scripts/demo.sh` prints
//! commands that give the same run by hand, and `scripts/transcripts.sh`
//! leaves the pages equal to the transcripts it captures.

use std::path::PathBuf;
use std::process::Command;

use test_support::workspace_root;

/// The target folder of the build running this test, so the scripts'
/// `cargo build` reuses it.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/scripts-HASH
    exe.ancestors().nth(3).expect("target folder").to_path_buf()
}

#[test]
fn demo_headers_name_the_port_the_server_really_used() {
    // PORT=0: the system picks the port, so only the server's startup line
    // knows it; the headers must say the same one.
    let out = Command::new(workspace_root().join("scripts/demo.sh"))
        .args(["select-queue", "--quiet"])
        .env("PORT", "0")
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(workspace_root())
        .output()
        .expect("run scripts/demo.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/demo.sh failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("starting up on localhost port "))
        .unwrap_or_else(|| panic!("no startup line in:\n{text}"));
    assert_ne!(port, "0", "{text}");
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("=== ")).collect();
    assert_eq!(
        headers,
        [
            format!("=== server: cargo run -p select-queue -- --quiet --port {port}"),
            format!("=== client: cargo run -p multiclient -- --port {port}"),
        ],
        "the headers must be commands that reproduce this run:\n{text}"
    );
    assert!(
        text.contains(&format!("connecting to localhost port {port}")),
        "{text}"
    );
}

#[test]
fn the_transcript_script_copies_its_captures_into_the_pages() {
    // Capturing a transcript changes a file that pages copy; the script must
    // bless them too, with a test of tests/book.rs that really blesses.
    let script = std::fs::read_to_string(workspace_root().join("scripts/transcripts.sh"))
        .expect("scripts/transcripts.sh");
    let joined = script.replace("\\\n", " ");
    let bless = joined
        .lines()
        .find(|l| l.contains("BOOK_BLESS=1 cargo test") && !l.trim_start().starts_with('#'))
        .unwrap_or_else(|| {
            panic!("scripts/transcripts.sh never runs `BOOK_BLESS=1 cargo test -p book-tests`")
        });
    let words: Vec<&str> = bless.split_whitespace().collect();
    assert!(
        words.windows(2).any(|w| w == ["-p", "book-tests"]),
        "{bless}"
    );
    let book = std::fs::read_to_string(workspace_root().join("crates/book-tests/tests/book.rs"))
        .expect("tests/book.rs");
    let filter = words
        .iter()
        .skip_while(|w| **w != "book")
        .nth(1)
        .unwrap_or_else(|| panic!("no test named after `--test book` in: {bless}"));
    assert!(
        book.contains(&format!("fn {filter}()")) && book.contains("BOOK_BLESS"),
        "`{filter}` is not the test of tests/book.rs that blesses the pages"
    );
}
