//! Links and pictures: a relative link must name a file inside the book's
//! source folder (the only files the built book has), and a `#fragment` a
//! heading of its target page.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::markdown::code_lines;

/// The targets of the Markdown links and images of `page`, with their line,
/// outside code blocks and code spans.
pub fn links(page: &str) -> Vec<(usize, String)> {
    let code_lines = code_lines(page);
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
                "line {line}: `{target}` leaves the file system root (fix the path)"
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
            problems.push(format!(
                "line {line}: `{target}` does not exist (fix the path, or add the file)"
            ));
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
    let code_lines = code_lines(page);
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
                "line {line}: `{target}` names no heading of that page (use the heading's \
                 anchor: lower case, spaces as `-`, punctuation dropped)"
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
