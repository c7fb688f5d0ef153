//! The checks that keep the book in `docs/` true to the code. `tests/book.rs`
//! runs them on the real pages; the unit tests at the bottom of this file feed
//! each check a broken page to show that it fails.
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
//! same change.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// A fenced code block of a Markdown page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The word after the fence (`rust`, `text`...), possibly empty.
    pub lang: String,
    /// The lines between the fences, without the fence's indentation, joined
    /// with `\n`, no final newline.
    pub content: String,
    /// The last non-blank line before the fence, if only blank lines separate
    /// them.
    pub caption: Option<String>,
    /// 0-based index of the first content line, and how many lines there are.
    lines: (usize, usize),
    indent: usize,
}

/// Where a captioned block comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The lines between `// ANCHOR: anchor` and `// ANCHOR_END: anchor` of
    /// `path` (relative to the workspace root).
    Excerpt { path: String, anchor: String },
    /// A whole captured transcript, `docs/transcripts/<chapter>/<file>`.
    Transcript { path: String },
}

/// Where transcripts live, relative to the workspace root.
pub const TRANSCRIPTS: &str = "docs/transcripts/";

/// The fenced code blocks of `page`. An unclosed fence is an error.
pub fn blocks(page: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, fence, lang)) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let start = i;
        let mut end = None;
        for (j, l) in lines.iter().enumerate().skip(i + 1) {
            let t = l.trim();
            if t.len() >= fence.len() && t.chars().all(|c| fence.starts_with(c)) {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else {
            return Err(format!("line {}: a code block is never closed", start + 1));
        };
        let content: Vec<String> = lines[start + 1..end]
            .iter()
            .map(|l| strip_indent(l, indent).to_string())
            .collect();
        let caption = lines[..start]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string());
        out.push(Block {
            line: start + 1,
            lang,
            content: content.join("\n"),
            caption,
            lines: (start + 1, end - start - 1),
            indent,
        });
        i = end + 1;
    }
    Ok(out)
}

/// `(indent, fence, lang)` if `line` opens a fenced block.
fn opening_fence(line: &str) -> Option<(usize, String, String)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let fence: String = trimmed.chars().take_while(|c| *c == ch).collect();
    if fence.len() < 3 {
        return None;
    }
    let lang = trimmed[fence.len()..]
        .split([' ', ','])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    Some((indent, fence, lang))
}

fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

/// The source a caption names, if it is a source caption: a line ending in
/// `` `PATH`, anchor `NAME`: `` (an excerpt) or `` `docs/transcripts/...`: ``
/// (a transcript). A line that ends in a code span that is not a path (no
/// `/`, or spaces) is ordinary prose. A path outside `docs/transcripts/`
/// without an anchor is an error: whole files are not shown.
pub fn source_of(caption: &str) -> Result<Option<Source>, String> {
    let Some(rest) = caption.trim_end().strip_suffix(':') else {
        return Ok(None);
    };
    let Some((before, last)) = split_last_code(rest) else {
        return Ok(None);
    };
    let (path, anchor) = match before.strip_suffix(", anchor ") {
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
        Some(_) if path.starts_with(TRANSCRIPTS) => Err(format!(
            "`{path}` is a transcript: it is shown whole, without an anchor"
        )),
        Some(anchor) if anchor.is_empty() || anchor.contains(char::is_whitespace) => {
            Err(format!("`{anchor}` is not an anchor name"))
        }
        Some(anchor) => Ok(Some(Source::Excerpt {
            path: path.to_string(),
            anchor: anchor.to_string(),
        })),
        None if path.starts_with(TRANSCRIPTS) => Ok(Some(Source::Transcript {
            path: path.to_string(),
        })),
        None => Err(format!(
            "the caption names `{path}` but no anchor (write `` `{path}`, anchor `NAME`: ``)"
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
        [] => return Err(format!("no `// ANCHOR: {name}`")),
        [i] => i,
        _ => return Err(format!("more than one `// ANCHOR: {name}`")),
    };
    let Some(&end) = find("ANCHOR_END", start).first() else {
        return Err(format!(
            "no `// ANCHOR_END: {name}` after `// ANCHOR: {name}`"
        ));
    };
    let body: Vec<&str> = lines[start + 1..end]
        .iter()
        .copied()
        .filter(|l| anchor_comment(l).is_none())
        .collect();
    if body.iter().all(|l| l.trim().is_empty()) {
        return Err(format!("anchor `{name}` holds no code"));
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

/// Whether a block's text looks like a server's or the client's output.
pub fn looks_like_transcript(content: &str) -> bool {
    content.lines().any(|l| {
        let l = l.trim_start().trim_start_matches("$ ");
        l.starts_with("starting up on ")
            || l.starts_with("waiting for the next event")
            || l.starts_with("new connection from ")
            || l.starts_with("connecting to ")
            || l.contains("): sending \"")
            || l.contains("): received \"")
    })
}

/// What a captioned block should contain, read through `read` (a path
/// relative to the workspace root to the file's text).
fn expected(source: &Source, read: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    match source {
        Source::Excerpt { path, anchor } => {
            let text = read(path).ok_or_else(|| format!("`{path}` does not exist"))?;
            anchored(&text, anchor).map_err(|e| format!("`{path}`: {e}"))
        }
        Source::Transcript { path } => {
            let text = read(path).ok_or_else(|| format!("`{path}` does not exist"))?;
            if !text.starts_with("$ ") {
                return Err(format!(
                    "`{path}` must start with the command that made it (`$ cargo run -p ...`)"
                ));
            }
            Ok(text.trim_end_matches('\n').to_string())
        }
    }
}

/// Every problem with the code blocks of `page`, as `line N: what`.
pub fn check_page(page: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, l) in page.lines().enumerate() {
        if l.contains("{{#") {
            problems.push(format!(
                "line {}: mdBook directives do not render on a code host; copy the text \
                 under a source caption instead",
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
        let source = match b.caption.as_deref().map(source_of).transpose() {
            Ok(s) => s.flatten(),
            Err(e) => {
                problems.push(format!("line {}: {e}", b.line));
                continue;
            }
        };
        let Some(source) = source else {
            if b.lang == "rust" {
                problems.push(format!(
                    "line {}: a Rust block must be an excerpt, captioned \
                     `` `crates/.../main.rs`, anchor `NAME`: ``",
                    b.line
                ));
            } else if looks_like_transcript(&b.content) {
                problems.push(format!(
                    "line {}: this looks like a transcript: caption it with its file, \
                     `` `docs/transcripts/CHAPTER/server.txt`: ``, so it is checked",
                    b.line
                ));
            }
            continue;
        };
        match expected(&source, read) {
            Err(e) => problems.push(format!("line {}: {e}", b.line)),
            Ok(want) if want != b.content.trim_end_matches('\n') => {
                problems.push(format!(
                    "line {}: the block differs from {}: {}",
                    b.line,
                    describe(&source),
                    first_difference(&b.content, &want)
                ));
            }
            Ok(_) => {}
        }
    }
    problems
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
            Ok(text) => {
                let pad = " ".repeat(b.indent);
                let new: Vec<String> = text
                    .lines()
                    .map(|l| {
                        if l.is_empty() {
                            String::new()
                        } else {
                            format!("{pad}{l}")
                        }
                    })
                    .collect();
                let (first, count) = b.lines;
                lines.splice(first..first + count, new);
            }
            Err(e) => problems.push(format!("line {}: {e}", b.line)),
        }
    }
    let mut out = lines.join("\n");
    if page.ends_with('\n') {
        out.push('\n');
    }
    (out, problems)
}

/// How a command in the docs runs a program of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `cargo run -p NAME [cargo flags] [-- program flags]`
    CargoRun,
    /// `cargo test|build|check|bench|clippy -p NAME ...`: only the package is checked.
    CargoOther,
    /// `scripts/demo.sh NAME [server flags]`
    Demo,
    /// `scripts/transcripts.sh [NAME...]`
    Transcripts,
}

/// One command found in the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub line: usize,
    pub runner: Runner,
    /// The packages it names (one, except for `scripts/transcripts.sh`).
    pub packages: Vec<String>,
    /// Flags that go to cargo (before `--`).
    pub cargo_flags: Vec<String>,
    /// Flags that go to the program, without any `=value`.
    pub program_flags: Vec<String>,
    /// The binary named with `--bin`, if any.
    pub bin: Option<String>,
}

/// Cargo's own flags that may stand before `--` in a `cargo run` shown to the
/// reader. Any other flag there is a mistake: it would go to cargo, not to the
/// server.
pub const CARGO_RUN_FLAGS: &[&str] = &[
    "--bin",
    "--release",
    "--quiet",
    "-q",
    "--offline",
    "--locked",
    "--frozen",
];

/// Every `cargo run -p`, `cargo test -p`..., `scripts/demo.sh` and
/// `scripts/transcripts.sh` command in `text` (a page, a transcript, the
/// README), wherever it stands: in a code block, in inline code or in prose.
pub fn invocations(text: &str) -> Vec<Invocation> {
    // Join continued lines, keeping the number of the first.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, l) in text.lines().enumerate() {
        let (n, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match l.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((n, acc));
            }
            None => {
                acc.push_str(l);
                logical.push((n, acc));
            }
        }
    }
    logical.extend(pending);

    let mut out = Vec::new();
    for (n, line) in logical {
        for (pos, _) in line.match_indices("cargo ") {
            let words = shell_words(&line[pos + "cargo ".len()..]);
            if let Some(inv) = cargo_invocation(n, &words) {
                out.push(inv);
            }
        }
        for (script, runner) in [
            ("scripts/demo.sh", Runner::Demo),
            ("scripts/transcripts.sh", Runner::Transcripts),
        ] {
            for (pos, _) in line.match_indices(script) {
                let words = shell_words(&line[pos + script.len()..]);
                let (flags, names): (Vec<String>, Vec<String>) =
                    words.into_iter().partition(|w| w.starts_with('-'));
                let packages = match runner {
                    Runner::Demo => names.into_iter().take(1).collect(),
                    _ => names,
                };
                if runner == Runner::Demo && packages.is_empty() {
                    continue;
                }
                out.push(Invocation {
                    line: n,
                    runner: runner.clone(),
                    packages,
                    cargo_flags: Vec::new(),
                    program_flags: flags.iter().map(|f| flag_name(f)).collect(),
                    bin: None,
                });
            }
        }
    }
    out
}

fn cargo_invocation(line: usize, words: &[String]) -> Option<Invocation> {
    let (sub, rest) = words.split_first()?;
    let runner = match sub.as_str() {
        "run" => Runner::CargoRun,
        "test" | "build" | "check" | "bench" | "clippy" => Runner::CargoOther,
        _ => return None,
    };
    let mut package = None;
    let mut bin = None;
    let mut cargo_flags = Vec::new();
    let mut program_flags = Vec::new();
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        if w == "--" {
            program_flags = it
                .by_ref()
                .filter(|w| w.starts_with('-') && w.len() > 1 && w.parse::<f64>().is_err())
                .map(|w| flag_name(w))
                .collect();
            break;
        }
        if w == "-p" || w == "--package" {
            package = it.next().cloned();
        } else if let Some(p) = w.strip_prefix("--package=") {
            package = Some(p.to_string());
        } else if w == "--bin" {
            bin = it.next().cloned();
        } else if let Some(b) = w.strip_prefix("--bin=") {
            bin = Some(b.to_string());
        } else if w.starts_with('-') {
            cargo_flags.push(flag_name(w));
        }
    }
    Some(Invocation {
        line,
        runner,
        packages: vec![package?],
        cargo_flags,
        program_flags,
        bin,
    })
}

fn flag_name(w: &str) -> String {
    w.split('=').next().unwrap_or(w).to_string()
}

/// The words of a shell command at the start of `s`, up to the first
/// character that ends a simple command (or the end of a Markdown code span).
/// Quotes group words; their content is never taken for a flag by the caller
/// because it is one word.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let starts_word = !in_word;
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
                // A quoted word is a value, never a flag.
                if starts_word && word.starts_with('-') {
                    word.insert(0, '\u{0}');
                }
            }
            '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '#' => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Whether a program's `--help` text lists `flag`.
pub fn help_lists(help: &str, flag: &str) -> bool {
    if flag == "--help" || flag == "-h" {
        return true;
    }
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().last();
        let after = help[i + flag.len()..].chars().next();
        before.is_none_or(|c| c.is_whitespace() || c == ',' || c == '[')
            && after.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    })
}

/// Gives the `--help` text of a package's binary (the one named, or the one
/// `cargo run -p` picks), or why there is none.
pub type HelpFn<'a> = &'a mut dyn FnMut(&str, Option<&str>) -> Result<String, String>;

/// Every problem with `inv`: `packages` holds the workspace's packages, and
/// `help(package, bin)` gives the `--help` text of the binary that `cargo run
/// -p package [--bin bin]` would run, or why there is none.
pub fn check_invocation(
    inv: &Invocation,
    packages: &BTreeSet<String>,
    help: HelpFn,
) -> Vec<String> {
    let mut problems = Vec::new();
    for p in &inv.packages {
        if !packages.contains(p) {
            problems.push(format!(
                "line {}: `{p}` is not a package of the workspace",
                inv.line
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    if inv.runner == Runner::CargoRun {
        for f in &inv.cargo_flags {
            if !CARGO_RUN_FLAGS.contains(&f.as_str()) {
                problems.push(format!(
                    "line {}: `{f}` stands before `--`, so it goes to cargo, not to `{}`",
                    inv.line, inv.packages[0]
                ));
            }
        }
    }
    if matches!(inv.runner, Runner::CargoRun | Runner::Demo) {
        let package = &inv.packages[0];
        match help(package, inv.bin.as_deref()) {
            Err(e) => problems.push(format!("line {}: `{package}`: {e}", inv.line)),
            Ok(text) => {
                for f in &inv.program_flags {
                    if !help_lists(&text, f) {
                        problems.push(format!(
                            "line {}: `{package} --help` does not list `{f}`",
                            inv.line
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// The targets of the Markdown links and images of `page`, with their line,
/// outside code blocks and code spans.
pub fn links(page: &str) -> Vec<(usize, String)> {
    let code_lines: BTreeSet<usize> = blocks(page)
        .unwrap_or_default()
        .iter()
        .flat_map(|b| b.lines.0 - 1..=b.lines.0 + b.lines.1)
        .collect();
    let mut out = Vec::new();
    for (i, line) in page.lines().enumerate() {
        if code_lines.contains(&i) {
            continue;
        }
        // Drop code spans: `[a](b)` inside backticks is not a link.
        let text: String = line
            .split('`')
            .enumerate()
            .filter(|(k, _)| k % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = text.as_str();
        while let Some(p) = rest.find("](") {
            let after = &rest[p + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((i + 1, target.to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// Every problem with the links of `page` (at `page_path`, inside `src_dir`):
/// a relative link must name a file that exists (`exists`) inside `src_dir`,
/// since only those are part of the built book; links that leave it work on a
/// code host but break in the book.
pub fn check_links(
    page: &str,
    page_path: &Path,
    src_dir: &Path,
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let dir = page_path.parent().unwrap_or(Path::new(""));
    for (line, target) in links(page) {
        if target.is_empty()
            || target.starts_with('#')
            || target.contains("://")
            || target.starts_with("mailto:")
        {
            continue;
        }
        let file = target.split('#').next().unwrap_or("");
        let Some(path) = normalise(&dir.join(file)) else {
            problems.push(format!(
                "line {line}: `{target}` leaves the file system root"
            ));
            continue;
        };
        if !path.starts_with(src_dir) {
            problems.push(format!(
                "line {line}: `{target}` is outside {}: it would be a broken link in the \
                 built book (name the file in `code` instead)",
                src_dir.display()
            ));
        } else if !exists(&path) {
            problems.push(format!("line {line}: `{target}` does not exist"));
        }
    }
    problems
}

/// The anchor a heading gets, as mdBook and code hosts make it: lower case,
/// spaces to `-`, and every character but letters, digits, `-` and `_`
/// dropped.
pub fn heading_id(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of the headings (`#` to `######`) of `page`, outside code
/// blocks.
pub fn heading_ids(page: &str) -> BTreeSet<String> {
    let code_lines: BTreeSet<usize> = blocks(page)
        .unwrap_or_default()
        .iter()
        .flat_map(|b| b.lines.0 - 1..=b.lines.0 + b.lines.1)
        .collect();
    page.lines()
        .enumerate()
        .filter(|(i, _)| !code_lines.contains(i))
        .filter_map(|(_, l)| {
            let hashes = l.chars().take_while(|c| *c == '#').count();
            (1..=6)
                .contains(&hashes)
                .then(|| l[hashes..].strip_prefix(' '))
                .flatten()
        })
        .map(heading_id)
        .collect()
}

/// Every link of `page` (at `page_path`) whose `#fragment` names no heading
/// of its target page; `read` gives a page's text.
pub fn check_fragments(
    page: &str,
    page_path: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Vec<String> {
    let dir = page_path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (line, target) in links(page) {
        if target.contains("://") {
            continue;
        }
        let Some((file, fragment)) = target.split_once('#') else {
            continue;
        };
        let text = if file.is_empty() {
            Some(page.to_string())
        } else if file.ends_with(".md") {
            normalise(&dir.join(file)).and_then(|p| read(&p))
        } else {
            continue;
        };
        // A missing file is reported by `check_links`.
        if let Some(text) = text
            && !heading_ids(&text).contains(fragment)
        {
            problems.push(format!(
                "line {line}: `{target}` names no heading of that page"
            ));
        }
    }
    problems
}

/// `path` with `.` and `..` resolved lexically.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// The `## ` headings of `page`, in order, outside code blocks.
pub fn headings(page: &str) -> Vec<String> {
    let code_lines: BTreeSet<usize> = blocks(page)
        .unwrap_or_default()
        .iter()
        .flat_map(|b| b.lines.0 - 1..=b.lines.0 + b.lines.1)
        .collect();
    page.lines()
        .enumerate()
        .filter(|(i, _)| !code_lines.contains(i))
        .filter_map(|(_, l)| l.strip_prefix("## "))
        .map(|h| h.trim().to_string())
        .collect()
}

/// Whether `wanted` appear among `headings` in this order (others may stand
/// between them); the first one missing or out of order otherwise.
pub fn check_sections(headings: &[String], wanted: &[&str]) -> Result<(), String> {
    let mut from = 0;
    for w in wanted {
        match headings[from..].iter().position(|h| h == w) {
            Some(p) => from += p + 1,
            None if headings.iter().any(|h| h == w) => {
                return Err(format!("section `## {w}` is out of order"));
            }
            None => return Err(format!("no section `## {w}`")),
        }
    }
    Ok(())
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
            "docs/transcripts/demo/bad.txt" => Some("starting up on x port 1\n".to_string()),
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
    fn a_changed_excerpt_fails() {
        let p = page(
            "`crates/demo/src/main.rs`, anchor `greet`:",
            "rust",
            "let x = 2;\n\nprintln!(\"{x}\");",
        );
        let problems = check_page(&p, &read);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("differs"), "{problems:?}");
        assert!(problems[0].contains("let x = 2;"), "{problems:?}");
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
        }
    }

    #[test]
    fn an_uncaptioned_rust_block_fails() {
        let problems = check_page(&page("Some code:", "rust", GOOD_EXCERPT), &read);
        assert!(
            problems.len() == 1 && problems[0].contains("must be an excerpt"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_include_directive_fails() {
        let p = "```rust\n{{#include ../../crates/demo/src/main.rs:greet}}\n```\n";
        let problems = check_page(p, &read);
        assert!(
            problems.iter().any(|p| p.contains("directives")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_verbatim_transcript_passes_and_a_changed_one_fails() {
        let body = TRANSCRIPT.trim_end();
        let caption = "The server, `docs/transcripts/demo/server.txt`:";
        assert_eq!(
            check_page(&page(caption, "text", body), &read),
            Vec::<String>::new()
        );
        let changed = body.replace("port 10000", "port 10001");
        let problems = check_page(&page(caption, "text", &changed), &read);
        assert!(
            problems.len() == 1 && problems[0].contains("port 10001"),
            "{problems:?}"
        );
        // A line left out is a difference too.
        let shorter = body.replace("\n\nwaiting for the next event", "");
        assert_eq!(check_page(&page(caption, "text", &shorter), &read).len(), 1);
    }

    #[test]
    fn an_uncaptioned_or_misnamed_transcript_fails() {
        let body = TRANSCRIPT.trim_end();
        for (caption, why) in [
            ("What you see:", "looks like a transcript"),
            ("`docs/transcripts/nope/server.txt`:", "does not exist"),
            (
                "`docs/transcripts/demo/bad.txt`:",
                "must start with the command",
            ),
            (
                "`docs/transcripts/demo/server.txt`, anchor `x`:",
                "shown whole",
            ),
        ] {
            let problems = check_page(&page(caption, "text", body), &read);
            assert!(
                problems.len() == 1 && problems[0].contains(why),
                "{caption}: {problems:?}"
            );
        }
    }

    #[test]
    fn an_unclosed_block_fails() {
        let problems = check_page("text\n```rust\nlet x = 1;\n", &read);
        assert!(
            problems.len() == 1 && problems[0].contains("never closed"),
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

    fn packages() -> BTreeSet<String> {
        ["select-queue", "multiclient", "conformance"]
            .map(String::from)
            .into()
    }

    fn help(package: &str, bin: Option<&str>) -> Result<String, String> {
        match (package, bin) {
            ("conformance", Some("broken-echo")) => return Ok("      --port\n".into()),
            (_, Some(_)) => return Err("no such binary".into()),
            _ => {}
        }
        match package {
            "select-queue" => Ok("Options:\n      --host <HOST>\n      --port <PORT>\n      \
                                  --quiet\n  -h, --help\n"
                .into()),
            "multiclient" => Ok("      --sockets <SOCKETS>\n".into()),
            _ => Err("no binary".into()),
        }
    }

    fn problems_of(text: &str) -> Vec<String> {
        invocations(text)
            .iter()
            .flat_map(|inv| check_invocation(inv, &packages(), &mut help))
            .collect()
    }

    #[test]
    fn real_commands_and_flags_pass() {
        let text = "Run `cargo run -p select-queue -- --port 10001 --quiet`, then\n\
                    ```sh\ncargo run --release -p multiclient -- --sockets=100 2>&1 | tee out\n\
                    PORT=10001 scripts/demo.sh select-queue --quiet\n\
                    cargo test -p conformance -- --nocapture\n\
                    cargo run -p conformance --bin broken-echo -- --port 1\n\
                    cargo run -p select-queue -- \\\n    --host 127.0.0.1 -h\n```\n";
        let invs = invocations(text);
        assert_eq!(invs.len(), 6, "{invs:#?}");
        assert_eq!(invs[4].bin.as_deref(), Some("broken-echo"));
        assert_eq!(invs[5].program_flags, ["--host", "-h"]);
        assert_eq!(problems_of(text), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_package_or_flag_fails() {
        for (text, why) in [
            ("`cargo run -p select-qeue`", "not a package"),
            ("`cargo test -p nope`", "not a package"),
            ("`scripts/demo.sh poll-queue`", "not a package"),
            (
                "`scripts/transcripts.sh select-queue nope`",
                "not a package",
            ),
            (
                "`cargo run -p select-queue -- --level`",
                "does not list `--level`",
            ),
            (
                "`scripts/demo.sh select-queue --pool 2`",
                "does not list `--pool`",
            ),
            (
                "`cargo run -p select-queue --quiet --port 1`",
                "goes to cargo",
            ),
            ("`cargo run -p conformance`", "no binary"),
            ("`cargo run -p conformance --bin nope`", "no such binary"),
        ] {
            let problems = problems_of(text);
            assert!(
                problems.len() == 1 && problems[0].contains(why),
                "{text}: {problems:?}"
            );
        }
    }

    #[test]
    fn quoted_words_are_values_not_flags() {
        assert_eq!(
            shell_words("run -p x -- --server-cmd \"--port 1\" 'a b'` and more"),
            [
                "run",
                "-p",
                "x",
                "--",
                "--server-cmd",
                "\u{0}--port 1",
                "a b"
            ]
        );
        assert!(help_lists("  -p, --port <PORT>", "--port"));
        assert!(!help_lists("  --ports", "--port"));
        assert!(!help_lists("  --no-port", "--port"));
    }

    #[test]
    fn broken_and_escaping_links_fail() {
        let src = Path::new("/book/src");
        let exists = |p: &Path| p == Path::new("/book/src/img/flow.svg");
        let page_path = Path::new("/book/src/ch.md");
        let ok = "![flow](img/flow.svg) and [web](https://x.org) and [top](#top)\n\
                  `[not](a link)`\n```\n[also](not)\n```\n";
        assert_eq!(
            check_links(ok, page_path, src, &exists),
            Vec::<String>::new()
        );
        let missing = check_links("![x](img/flw.svg)", page_path, src, &exists);
        assert!(
            missing.len() == 1 && missing[0].contains("does not exist"),
            "{missing:?}"
        );
        let outside = check_links("[code](../../crates/a.rs)", page_path, src, &exists);
        assert!(
            outside.len() == 1 && outside[0].contains("outside"),
            "{outside:?}"
        );
    }

    #[test]
    fn a_link_to_a_missing_heading_fails() {
        let other = "# Other\n\n## Things to try\n\n### `select`, and more!\n";
        let read = |p: &Path| (p == Path::new("/src/other.md")).then(|| other.to_string());
        let page_path = Path::new("/src/ch.md");
        let ok = "[a](other.md#things-to-try) [b](other.md#select-and-more) [c](#here)\n## Here\n";
        assert_eq!(check_fragments(ok, page_path, &read), Vec::<String>::new());
        let bad = check_fragments("[a](other.md#thing-to-try) [b](#nowhere)", page_path, &read);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains("names no heading"), "{bad:?}");
    }

    #[test]
    fn sections_must_all_be_there_in_order() {
        let h = headings("# T\n## The problem\n```\n## not a heading\n```\n## Run it\n");
        assert_eq!(h, ["The problem", "Run it"]);
        assert!(check_sections(&h, &["The problem", "Run it"]).is_ok());
        assert!(
            check_sections(&h, &["Run it", "The problem"])
                .unwrap_err()
                .contains("out of order")
        );
        assert!(
            check_sections(&h, &["The idea"])
                .unwrap_err()
                .contains("no section")
        );
    }
}
