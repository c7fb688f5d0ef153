//! Captioned blocks: a listing copied from a source file's anchor, or a
//! transcript copied whole, each under a caption that names where it comes
//! from, and equal to it character for character.

use crate::BLESS;
use crate::markdown::{blocks, strip_indent};
use crate::transcripts::{
    TRANSCRIPTS, expected_transcript, looks_like_transcript, recapture_command,
};

/// Where a captioned block comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The lines between `// ANCHOR: anchor` and `// ANCHOR_END: anchor` of
    /// `path` (relative to the workspace root).
    Excerpt { path: String, anchor: String },
    /// A whole captured transcript, `docs/transcripts/<chapter>/<file>`.
    Transcript { path: String },
}

/// The source a caption names, if it is a source caption: a line ending in
/// `` `PATH`, anchor `NAME`: `` (an excerpt) or `` `docs/transcripts/...`: ``
/// (a transcript). A line that ends in a code span that is not a path (no
/// `/`, or spaces) is ordinary prose. A path outside `docs/transcripts/`
/// without an anchor is an error: whole files are not shown.
///
/// The Chinese edition writes the same captions in its own punctuation:
/// `` `PATH`，锚点 `NAME`： `` and `` `docs/transcripts/...`： ``.
pub fn source_of(caption: &str) -> Result<Option<Source>, String> {
    let caption = caption.trim_end();
    let Some(rest) = caption
        .strip_suffix(':')
        .or_else(|| caption.strip_suffix('：'))
    else {
        return Ok(None);
    };
    let Some((before, last)) = split_last_code(rest) else {
        return Ok(None);
    };
    let named = before
        .strip_suffix(", anchor ")
        .or_else(|| before.strip_suffix("，锚点 "));
    let (path, anchor) = match named {
        Some(b) => match split_last_code(b) {
            Some((_, path)) => (path, Some(last)),
            None => return Ok(None),
        },
        None => (last, None),
    };
    // Sources are files of the workspace, named from its root: an absolute
    // path such as `/dev/null` is prose.
    if !path.contains('/') || path.starts_with('/') || path.contains(char::is_whitespace) {
        return Ok(None);
    }
    match anchor {
        Some(anchor) if path.starts_with(TRANSCRIPTS) => Err(format!(
            "`{path}` is a transcript: it is shown whole (drop `, anchor `{anchor}`` from the \
             caption)"
        )),
        Some(anchor) if anchor.is_empty() || anchor.contains(char::is_whitespace) => Err(format!(
            "`{anchor}` is not an anchor name (one word, as in `// ANCHOR: name`)"
        )),
        Some(anchor) => Ok(Some(Source::Excerpt {
            path: path.to_string(),
            anchor: anchor.to_string(),
        })),
        None if path.starts_with(TRANSCRIPTS) => Ok(Some(Source::Transcript {
            path: path.to_string(),
        })),
        None => Err(format!(
            "the caption names `{path}` but no anchor (write `` `{path}`, anchor `NAME`: `` \
             and put `// ANCHOR: NAME` ... `// ANCHOR_END: NAME` around the lines to show)"
        )),
    }
}

/// Splits `` text `code` `` into `("text ", "code")`.
fn split_last_code(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_suffix('`')?;
    let start = s.rfind('`')?;
    Some((&s[..start], &s[start + 1..]))
}

/// The anchor comment on `line`, if any: `("ANCHOR", name)` or
/// `("ANCHOR_END", name)`.
fn anchor_comment(line: &str) -> Option<(&str, &str)> {
    let comment = line.trim().strip_prefix("//")?.trim();
    let (kind, name) = comment.split_once(':')?;
    matches!(kind, "ANCHOR" | "ANCHOR_END").then(|| (kind, name.trim()))
}

/// The lines of `source` between `// ANCHOR: name` and `// ANCHOR_END: name`,
/// as mdBook takes them (lines of other anchors inside are left out), with
/// their common indentation removed.
pub fn anchored(source: &str, name: &str) -> Result<String, String> {
    let lines: Vec<&str> = source.lines().collect();
    let find = |kind: &str, from: usize| {
        lines
            .iter()
            .enumerate()
            .skip(from)
            .filter(|(_, l)| anchor_comment(l) == Some((kind, name)))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let start = match find("ANCHOR", 0)[..] {
        [] => {
            return Err(format!(
                "no `// ANCHOR: {name}` (add it to the source, or fix the caption)"
            ));
        }
        [i] => i,
        _ => {
            return Err(format!("more than one `// ANCHOR: {name}` (rename one)"));
        }
    };
    let Some(&end) = find("ANCHOR_END", start).first() else {
        return Err(format!(
            "no `// ANCHOR_END: {name}` after `// ANCHOR: {name}` (add it where the excerpt \
             ends)"
        ));
    };
    let body: Vec<&str> = lines[start + 1..end]
        .iter()
        .copied()
        .filter(|l| anchor_comment(l).is_none())
        .collect();
    if body.iter().all(|l| l.trim().is_empty()) {
        return Err(format!(
            "anchor `{name}` holds no code (move its markers around the lines to show)"
        ));
    }
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    Ok(body
        .iter()
        .map(|l| strip_indent(l, indent))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// What a captioned block should contain, read through `read` (a path
/// relative to the workspace root to the file's text).
fn expected(source: &Source, read: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    match source {
        Source::Excerpt { path, anchor } => {
            let text = read(path)
                .ok_or_else(|| format!("`{path}` does not exist (fix the caption's path)"))?;
            anchored(&text, anchor).map_err(|e| format!("`{path}`: {e}"))
        }
        Source::Transcript { path } => expected_transcript(path, read),
    }
}

/// Every problem with the code blocks of `page`, as `line N: what`, each
/// saying what fixes it.
pub fn check_page(page: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, l) in page.lines().enumerate() {
        if l.contains("{{#") {
            problems.push(format!(
                "line {}: mdBook directives do not render on a code host; put a source \
                 caption and an empty block in its place, then run `{BLESS}`",
                i + 1
            ));
        }
    }
    let blocks = match blocks(page) {
        Ok(b) => b,
        Err(e) => {
            problems.push(e);
            return problems;
        }
    };
    for b in blocks {
        let source = match b.caption.as_deref().map(source_of) {
            None => None,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                problems.push(format!("line {}: {e}", b.line));
                continue;
            }
        };
        let Some(source) = source else {
            if b.lang == "rust" {
                problems.push(format!(
                    "line {}: a Rust block must be an excerpt: caption it \
                     `` `crates/.../main.rs`, anchor `NAME`: `` (with the anchor in the \
                     source), then run `{BLESS}`",
                    b.line
                ));
            } else if looks_like_transcript(&b.content) {
                problems.push(format!(
                    "line {}: this looks like a transcript: caption it with its file, \
                     `` `docs/transcripts/CHAPTER/server.txt`: ``, so it is checked, then run \
                     `{BLESS}`",
                    b.line
                ));
            }
            continue;
        };
        match expected(&source, read) {
            Err(e) => problems.push(format!("line {}: {e}", b.line)),
            Ok(want) if want != b.content.trim_end_matches('\n') => {
                problems.push(format!(
                    "line {}: the block differs from {}: {}; {}",
                    b.line,
                    describe(&source),
                    first_difference(&b.content, &want),
                    fix_for_difference(&source)
                ));
            }
            Ok(_) => {}
        }
    }
    problems
}

/// How to make a block equal its source again.
fn fix_for_difference(source: &Source) -> String {
    match source {
        Source::Excerpt { .. } => {
            format!("`{BLESS}` copies the source into the page (then read the prose around it)")
        }
        Source::Transcript { path } => format!(
            "`{BLESS}` copies the file into the page; if the file itself is out of date, \
             `{}` captures it again and then copies it",
            recapture_command(path)
        ),
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Excerpt { path, anchor } => format!("`{path}`, anchor `{anchor}`"),
        Source::Transcript { path } => format!("`{path}`"),
    }
}

fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for i in 0..g.len().max(w.len()) {
        if g.get(i) != w.get(i) {
            return format!(
                "block line {}: page has {:?}, source has {:?}",
                i + 1,
                g.get(i).copied().unwrap_or("(nothing)"),
                w.get(i).copied().unwrap_or("(nothing)")
            );
        }
    }
    "trailing whitespace differs".to_string()
}

/// `page` with every captioned block replaced by its source's current text,
/// and the problems that kept a block from being rewritten.
pub fn bless_page(page: &str, read: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let blocks = match blocks(page) {
        Ok(b) => b,
        Err(e) => return (page.to_string(), vec![e]),
    };
    let mut lines: Vec<String> = page.lines().map(str::to_string).collect();
    // From the last block up, so earlier line numbers stay valid.
    for b in blocks.iter().rev() {
        let Some(Ok(Some(source))) = b.caption.as_deref().map(source_of) else {
            continue;
        };
        match expected(&source, read) {
            Ok(text) => b.replace_in(&mut lines, &text),
            Err(e) => problems.push(format!("line {}: {e}", b.line)),
        }
    }
    let mut out = lines.join("\n");
    if page.ends_with('\n') {
        out.push('\n');
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "fn main() {\n    // ANCHOR: greet\n    let x = 1;\n\n    \
                          println!(\"{x}\");\n    // ANCHOR_END: greet\n    // ANCHOR: empty\n\n    \
                          // ANCHOR_END: empty\n}\n";
    const TRANSCRIPT: &str = "$ cargo run -p demo\nstarting up on localhost port 10000\n\n\
                              waiting for the next event\n";

    fn read(path: &str) -> Option<String> {
        match path {
            "crates/demo/src/main.rs" => Some(SOURCE.to_string()),
            "docs/transcripts/demo/server.txt" => Some(TRANSCRIPT.to_string()),
            _ => None,
        }
    }

    fn page(caption: &str, lang: &str, body: &str) -> String {
        format!("# A page\n\n{caption}\n\n```{lang}\n{body}\n```\n\nMore prose.\n")
    }

    const GOOD_EXCERPT: &str = "let x = 1;\n\nprintln!(\"{x}\");";

    #[test]
    fn a_verbatim_excerpt_passes() {
        let p = page(
            "See `crates/demo/src/main.rs`, anchor `greet`:",
            "rust",
            GOOD_EXCERPT,
        );
        assert_eq!(check_page(&p, &read), Vec::<String>::new());
    }

    #[test]
    fn chinese_captions_name_the_same_sources() {
        let p = page(
            "`crates/demo/src/main.rs`，锚点 `greet`：",
            "rust",
            GOOD_EXCERPT,
        );
        assert_eq!(check_page(&p, &read), Vec::<String>::new());
        let changed = page(
            "`crates/demo/src/main.rs`，锚点 `greet`：",
            "rust",
            "let x = 2;",
        );
        assert_eq!(check_page(&changed, &read).len(), 1);
        assert!(matches!(
            source_of("`docs/transcripts/demo/server.txt`："),
            Ok(Some(Source::Transcript { .. }))
        ));
    }

    #[test]
    fn a_changed_excerpt_fails_and_names_the_command_that_fixes_it() {
        let p = page(
            "`crates/demo/src/main.rs`, anchor `greet`:",
            "rust",
            "let x = 2;\n\nprintln!(\"{x}\");",
        );
        let problems = check_page(&p, &read);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("differs"), "{problems:?}");
        assert!(problems[0].contains("let x = 2;"), "{problems:?}");
        assert!(
            problems[0].contains("`BOOK_BLESS=1 cargo test -p book-tests`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_missing_file_a_missing_anchor_and_an_empty_excerpt_fail() {
        for (caption, why) in [
            (
                "`crates/gone/src/main.rs`, anchor `greet`:",
                "does not exist",
            ),
            (
                "`crates/demo/src/main.rs`, anchor `grete`:",
                "no `// ANCHOR: grete`",
            ),
            (
                "`crates/demo/src/main.rs`, anchor `empty`:",
                "holds no code",
            ),
            ("`crates/demo/src/main.rs`:", "no anchor"),
        ] {
            let problems = check_page(&page(caption, "rust", GOOD_EXCERPT), &read);
            assert!(
                problems.len() == 1 && problems[0].contains(why),
                "{caption}: {problems:?}"
            );
            // Each says what to change: a path, an anchor, or its markers.
            assert!(problems[0].contains('('), "{caption}: {problems:?}");
        }
    }

    #[test]
    fn an_uncaptioned_rust_block_fails() {
        let problems = check_page(&page("Some code:", "rust", GOOD_EXCERPT), &read);
        assert!(
            problems.len() == 1
                && problems[0].contains("must be an excerpt")
                && problems[0].contains(BLESS),
            "{problems:?}"
        );
    }

    #[test]
    fn an_include_directive_fails() {
        let p = "```rust\n{{#include ../../crates/demo/src/main.rs:greet}}\n```\n";
        let problems = check_page(p, &read);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("directives") && p.contains(BLESS)),
            "{problems:?}"
        );
    }

    #[test]
    fn prose_captions_and_other_blocks_are_left_alone() {
        let p = page("Run `cargo run -p demo`:", "sh", "cargo run -p demo");
        assert_eq!(check_page(&p, &read), Vec::<String>::new());
        assert_eq!(source_of("Run it:"), Ok(None));
        assert_eq!(source_of("in `main`:"), Ok(None));
        assert_eq!(source_of("from `/dev/null`:"), Ok(None));
    }

    #[test]
    fn nested_anchor_lines_are_left_out_and_indentation_removed() {
        let src = "impl X {\n    // ANCHOR: outer\n    fn a() {\n        // ANCHOR: inner\n        \
                   b();\n        // ANCHOR_END: inner\n    }\n    // ANCHOR_END: outer\n}\n";
        assert_eq!(anchored(src, "outer").unwrap(), "fn a() {\n    b();\n}");
        assert_eq!(anchored(src, "inner").unwrap(), "b();");
        let twice = format!("{src}// ANCHOR: inner\nx\n// ANCHOR_END: inner\n");
        assert!(
            anchored(&twice, "inner")
                .unwrap_err()
                .contains("more than one")
        );
        let unclosed = "// ANCHOR: a\nx\n";
        assert!(anchored(unclosed, "a").unwrap_err().contains("ANCHOR_END"));
    }

    #[test]
    fn bless_rewrites_captioned_blocks_from_their_sources() {
        let stale = page(
            "`crates/demo/src/main.rs`, anchor `greet`:",
            "rust",
            "old();",
        );
        let (fresh, problems) = bless_page(&stale, &read);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(check_page(&fresh, &read), Vec::<String>::new());
        assert!(fresh.contains(GOOD_EXCERPT) && fresh.ends_with("More prose.\n"));
        // Indented blocks (in a list) keep their indentation.
        let listed =
            "1. Step:\n\n   `docs/transcripts/demo/server.txt`:\n\n   ```text\n   x\n   ```\n";
        let (fresh, _) = bless_page(listed, &read);
        assert!(
            fresh.contains("   $ cargo run -p demo\n   starting up"),
            "{fresh}"
        );
        assert_eq!(check_page(&fresh, &read), Vec::<String>::new());
    }
}
