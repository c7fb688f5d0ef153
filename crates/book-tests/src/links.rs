//! Links and pictures: a relative link must name a file inside the book's
//! source folder (the only files the built book has), and a `#fragment` a
//! heading of its target page.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::markdown::code_lines;

/// The targets of the Markdown links and images of `page`, with their line,
/// outside code blocks and code spans.
pub fn links(page: &str) -> Vec<(usize, String)> {
    links_and_images(page)
        .into_iter()
        .map(|(line, target, _)| (line, target))
        .collect()
}

/// The targets of the Markdown links and images of `page`, with their line
/// and whether each is an image (`![alt](target)`), outside code blocks and
/// code spans.
pub fn links_and_images(page: &str) -> Vec<(usize, String, bool)> {
    let code_lines = code_lines(page);
    let mut out = Vec::new();
    // The earlier lines of the paragraph: an image's alt text may wrap.
    let mut paragraph = String::new();
    for (i, line) in page.lines().enumerate() {
        if code_lines.contains(&i) || line.trim().is_empty() {
            paragraph.clear();
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
        let mut from = 0;
        while let Some(p) = text[from..].find("](").map(|p| p + from) {
            let before = format!("{paragraph}{}", &text[..p]);
            let image = opening_bracket(&before).is_some_and(|open| before[..open].ends_with('!'));
            let after = &text[p + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((i + 1, target.to_string(), image));
            from = p + 2 + end;
        }
        paragraph.push_str(&text);
        paragraph.push('\n');
    }
    out
}

/// Where the `[` that the `]` just after `text` closes is, nested brackets
/// skipped.
fn opening_bracket(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' if depth == 0 => return Some(i),
            '[' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// One edition of the book: the folder of its pages, and the folder the
/// built site puts them in, relative to the site's root (empty for the
/// English edition, `zh` for the Chinese one, which `docs/zh/book.toml`
/// builds into `docs/book/zh`). A relative link from a page of one edition
/// that leads into the other's folder on the built site is a link to the
/// other edition, and is checked against that edition's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edition {
    pub src_dir: PathBuf,
    pub site_dir: PathBuf,
}

/// The source file that `file` (a link's target without its `#fragment`)
/// names from the page at `page_path` of `edition`: a file of whichever of
/// `editions` the built site puts it in. `None` if the link leaves the site.
pub fn resolve(
    file: &str,
    page_path: &Path,
    edition: &Edition,
    editions: &[Edition],
) -> Option<PathBuf> {
    let dir = page_path.parent().unwrap_or(Path::new(""));
    let in_src = dir.strip_prefix(&edition.src_dir).ok()?;
    let on_site = normalise(&edition.site_dir.join(in_src).join(file))?;
    let target = editions
        .iter()
        .chain(std::iter::once(edition))
        .filter(|e| on_site.starts_with(&e.site_dir))
        .max_by_key(|e| e.site_dir.components().count())?;
    let rest = on_site.strip_prefix(&target.site_dir).ok()?;
    Some(target.src_dir.join(rest))
}

/// Whether `target`, a link of the page at `page_path` of `edition`, leads
/// to a page of another of `editions` (the link each introduction has to
/// the other edition).
pub fn is_edition_link(
    target: &str,
    page_path: &Path,
    edition: &Edition,
    editions: &[Edition],
) -> bool {
    if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
        return false;
    }
    let file = target.split('#').next().unwrap_or("");
    resolve(file, page_path, edition, editions).is_some_and(|p| !p.starts_with(&edition.src_dir))
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
    let edition = Edition {
        src_dir: src_dir.to_path_buf(),
        site_dir: PathBuf::new(),
    };
    check_links_in(page, page_path, &edition, &[], exists)
}

/// [`check_links`] for a page of `edition`, where a link may also lead to a
/// page of one of the other `editions` (see [`Edition`]), which must exist.
pub fn check_links_in(
    page: &str,
    page_path: &Path,
    edition: &Edition,
    editions: &[Edition],
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (line, target) in links(page) {
        if target.is_empty()
            || target.starts_with('#')
            || target.contains("://")
            || target.starts_with("mailto:")
        {
            continue;
        }
        let file = target.split('#').next().unwrap_or("");
        match resolve(file, page_path, edition, editions) {
            None => problems.push(format!(
                "line {line}: `{target}` is outside {}: it would be a broken link in the \
                 built book (name the file in `code` instead)",
                edition.src_dir.display()
            )),
            Some(path) if !exists(&path) => {
                let other = if path.starts_with(&edition.src_dir) {
                    String::new()
                } else {
                    format!(" (a page of the other edition: {})", path.display())
                };
                problems.push(format!(
                    "line {line}: `{target}` does not exist{other} (fix the path, or add the file)"
                ));
            }
            Some(_) => {}
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
    let edition = Edition {
        src_dir: dir.to_path_buf(),
        site_dir: PathBuf::new(),
    };
    check_fragments_in(page, page_path, &edition, &[], read)
}

/// [`check_fragments`] for a page of `edition`, where a link may lead to a
/// page of one of the other `editions`: its fragment must name a heading of
/// that edition's page.
pub fn check_fragments_in(
    page: &str,
    page_path: &Path,
    edition: &Edition,
    editions: &[Edition],
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
            resolve(file, page_path, edition, editions)
                .or_else(|| normalise(&dir.join(file)))
                .and_then(|p| read(&p))
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

    #[test]
    fn a_link_to_the_other_edition_is_checked_against_its_page() {
        let en = Edition {
            src_dir: "/b/docs/src".into(),
            site_dir: "".into(),
        };
        let zh = Edition {
            src_dir: "/b/docs/zh/src".into(),
            site_dir: "zh".into(),
        };
        let editions = [en.clone(), zh.clone()];
        let files = [
            "/b/docs/src/intro.md",
            "/b/docs/zh/src/intro.md",
            "/b/docs/zh/src/img/a.svg",
        ];
        let exists = |p: &Path| files.iter().any(|f| p == Path::new(f));
        let en_page = Path::new("/b/docs/src/intro.md");
        let zh_page = Path::new("/b/docs/zh/src/intro.md");
        let none = Vec::<String>::new();

        assert_eq!(
            check_links_in("[中文](zh/intro.md)", en_page, &en, &editions, &exists),
            none
        );
        let missing = check_links_in("[中文](zh/intr.md)", en_page, &en, &editions, &exists);
        assert!(
            missing.len() == 1 && missing[0].contains("other edition"),
            "{missing:?}"
        );
        // Without the Chinese edition, the same link names a missing file.
        assert_eq!(
            check_links("[中文](zh/intro.md)", en_page, &en.src_dir, &exists).len(),
            1
        );

        let ok = "[English](../intro.md) ![图](img/a.svg)";
        assert_eq!(check_links_in(ok, zh_page, &zh, &editions, &exists), none);
        let outside = check_links_in("[x](../../crates/a.rs)", zh_page, &zh, &editions, &exists);
        assert!(
            outside.len() == 1 && outside[0].contains("outside"),
            "{outside:?}"
        );

        assert!(is_edition_link("zh/intro.md#引言", en_page, &en, &editions));
        assert!(is_edition_link("../intro.md", zh_page, &zh, &editions));
        assert!(!is_edition_link("intro.md", zh_page, &zh, &editions));
        assert!(!is_edition_link("img/a.svg", zh_page, &zh, &editions));
        assert!(!is_edition_link(
            "https://x.org/zh/a.md",
            en_page,
            &en,
            &editions
        ));

        let read = |p: &Path| (p == zh_page).then(|| "# 引言\n\n## 准备工作\n".to_string());
        let good = "[中文](zh/intro.md#准备工作)";
        assert_eq!(
            check_fragments_in(good, en_page, &en, &editions, &read),
            none
        );
        let bad = "[中文](zh/intro.md#setup)";
        assert_eq!(
            check_fragments_in(bad, en_page, &en, &editions, &read).len(),
            1
        );
    }

    #[test]
    fn images_are_told_from_links() {
        let page = "See ![a [b]](img/x.svg) and [c](ch.md) `![no](n.svg)`\n\
                    ![a picture whose alt text\nwraps](img/y.svg) [d\n](e.md)\n\n```\n![x](z.svg)\n```\n";
        assert_eq!(
            links_and_images(page),
            [
                (1, "img/x.svg".to_string(), true),
                (1, "ch.md".to_string(), false),
                (3, "img/y.svg".to_string(), true),
                (4, "e.md".to_string(), false),
            ]
        );
    }
}
