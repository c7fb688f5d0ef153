//! The built book: what mdBook makes of a page must still hold every flag
//! the page writes. With smart punctuation on, mdBook turns `--` into an en
//! dash outside code, so `epoll-edge --level` in a table cell would reach
//! the reader as `epoll-edge –level`, a flag no program takes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The version of mdBook the book is built with (`.ci/run` installs it).
pub const MDBOOK_VERSION: &str = "0.5.4";

/// The install command `.ci/run` uses, for the messages of tests that need
/// mdBook.
pub const INSTALL: &str = "cargo install mdbook --version 0.5.4 --locked --no-default-features \
                           --features search";

/// The pinned mdBook: `$MDBOOK`, then cargo's bin folder, then `PATH`; or
/// why there is none.
pub fn find_mdbook() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("MDBOOK") {
        candidates.push(p.into());
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(home) = cargo_home {
        candidates.push(home.join("bin/mdbook"));
    }
    candidates.push("mdbook".into());
    let mut seen = Vec::new();
    for c in candidates {
        match Command::new(&c).arg("--version").output() {
            Ok(out) => {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if version == format!("mdbook v{MDBOOK_VERSION}") {
                    return Ok(c);
                }
                seen.push(format!("{} is {version}", c.display()));
            }
            Err(_) => seen.push(format!("no {}", c.display())),
        }
    }
    Err(format!(
        "no mdBook {MDBOOK_VERSION} ({}); install it with `{INSTALL}`",
        seen.join(", ")
    ))
}

/// The pinned mdBook for a test of the built book, or `None` after saying
/// why the test is skipped. With `BOOK_HTML_REQUIRED` set (as `.ci/run`
/// sets it), a missing mdBook is a failure instead.
pub fn mdbook_for_test() -> Option<PathBuf> {
    match find_mdbook() {
        Ok(m) => Some(m),
        Err(why) if std::env::var_os("BOOK_HTML_REQUIRED").is_some() => {
            panic!("BOOK_HTML_REQUIRED is set, but: {why}")
        }
        Err(why) => {
            eprintln!("skipped: the built book is not checked: {why}");
            None
        }
    }
}

/// Builds the book whose `book.toml` is in `book_root` into `dest` with
/// `mdbook`, or says why it failed (mdBook's own message included).
pub fn build_book(mdbook: &Path, book_root: &Path, dest: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dest);
    let build = Command::new(mdbook)
        .arg("build")
        .arg(book_root)
        .arg("--dest-dir")
        .arg(dest)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", mdbook.display()))?;
    if build.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`mdbook build {}` failed: {}\n{}",
            book_root.display(),
            build.status,
            String::from_utf8_lossy(&build.stderr)
        ))
    }
}

/// Each `--flag` of `text` with how many times it occurs: two hyphens that
/// do not follow a letter, digit or hyphen, then a lower-case letter, then
/// letters, digits and hyphens (a trailing hyphen is not part of it).
pub fn flags(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find("--") {
        let at = i + p;
        i = at + 2;
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'-');
        if !before_ok || !bytes.get(at + 2).is_some_and(u8::is_ascii_lowercase) {
            continue;
        }
        let name: String = text[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let name = name.trim_end_matches('-');
        *out.entry(name.to_string()).or_insert(0) += 1;
        i = at + 2 + name.len();
    }
    out
}

/// How many times `name` follows a dash that smart punctuation makes of
/// `--` (en dash, em dash, as characters or HTML entities).
fn dashed(text: &str, name: &str) -> usize {
    [
        "\u{2013}", "\u{2014}", "&ndash;", "&mdash;", "&#8211;", "&#8212;",
    ]
    .iter()
    .map(|dash| {
        let needle = format!("{dash}{name}");
        text.match_indices(&needle)
            .filter(|(k, _)| {
                !text[k + needle.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            .count()
    })
    .sum()
}

/// Every flag that `markdown` writes and `html`, what mdBook built from it,
/// damaged: fewer intact copies than the page has, or a dash before the name
/// that the page did not write. Each problem says how to fix it.
pub fn check_html(markdown: &str, html: &str) -> Vec<String> {
    let fix = "set `smart-punctuation = false` under `[output.html]` in docs/book.toml, or put \
               the flag in a code span";
    let built = flags(html);
    let mut problems = Vec::new();
    for (name, &written) in &flags(markdown) {
        let intact = built.get(name).copied().unwrap_or(0);
        let damaged = dashed(html, name).saturating_sub(dashed(markdown, name));
        if intact < written || damaged > 0 {
            problems.push(format!(
                "`--{name}` is written {written} time(s) but appears intact {intact} time(s) in \
                 the built page, and {damaged} time(s) after a dash: {fix}"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_found_with_their_counts() {
        let md = "Run `x --port 1` or x --port=2, then --quiet.\n|---|---|\n<!-- note -->\n\
                  a--b and --- and --9 and --level-";
        let f = flags(md);
        assert_eq!(f.get("port"), Some(&2));
        assert_eq!(f.get("quiet"), Some(&1));
        assert_eq!(f.get("level"), Some(&1));
        assert_eq!(f.len(), 3, "{f:?}");
    }

    #[test]
    fn a_flag_turned_into_a_dash_fails_and_an_intact_one_passes() {
        let md = "| `epoll-edge` and epoll-edge --level | 1 |\n";
        let good = "<td><code>epoll-edge</code> and epoll-edge --level</td>";
        assert_eq!(check_html(md, good), Vec::<String>::new());
        for bad in [
            "<td>epoll-edge \u{2013}level</td>",
            "<td>epoll-edge &ndash;level</td>",
            "<td>epoll-edge \u{2014}level</td>",
        ] {
            let problems = check_html(md, bad);
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].contains("`--level`"), "{problems:?}");
            assert!(
                problems[0].contains("smart-punctuation = false"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn a_dash_the_page_wrote_itself_is_not_damage() {
        let md = "A pause \u{2014}level ground\u{2014} and `--level`.";
        let html = "A pause \u{2014}level ground\u{2014} and <code>--level</code>.";
        assert_eq!(check_html(md, html), Vec::<String>::new());
    }
}
