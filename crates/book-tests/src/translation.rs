//! The Chinese edition (`docs/zh/src`) beside the English one (`docs/src`):
//! each Chinese page has the English page's file name, starts with a record
//! of the English version it translates, and keeps what the reader copies or
//! follows exactly as the English page has it: the code blocks, the
//! pictures, the pages and sites it links to, and the `##`/`###` outline.
//! Only the prose is translated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::links::{Edition, is_edition_link, links_and_images};
use crate::markdown::{blocks, code_lines};

/// Where the Chinese edition's pages are, relative to the workspace root.
pub const ZH_SRC: &str = "docs/zh/src";

/// Where the English edition's pages are, relative to the workspace root.
pub const EN_SRC: &str = "docs/src";

/// Where the built site puts the Chinese edition: `docs/book/zh`, beside
/// the English pages in `docs/book` (`build-dir` in `docs/zh/book.toml`).
pub const ZH_SITE_DIR: &str = "zh";

/// The two editions of the workspace at `root`: English, then Chinese.
pub fn editions(root: &Path) -> [Edition; 2] {
    [
        Edition {
            src_dir: root.join(EN_SRC),
            site_dir: PathBuf::new(),
        },
        Edition {
            src_dir: root.join(ZH_SRC),
            site_dir: PathBuf::from(ZH_SITE_DIR),
        },
    ]
}

/// [`parity_problems`] of the Chinese `page` (a file name) of the
/// workspace at `root`, or why the pages cannot be read.
pub fn page_parity(root: &Path, page: &str) -> Result<Vec<String>, String> {
    let [en, zh] = editions(root);
    let (en_path, zh_path) = (en.src_dir.join(page), zh.src_dir.join(page));
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let (english, chinese) = (read(&en_path)?, read(&zh_path)?);
    let both = [en.clone(), zh.clone()];
    Ok(parity_problems(
        &english,
        &chinese,
        &|t| is_edition_link(t, &en_path, &en, &both),
        &|t| is_edition_link(t, &zh_path, &zh, &both),
    ))
}

/// The FNV-1a 64-bit hash of `bytes`: what a translation record holds of
/// the English page it follows.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first line of the Chinese translation of `page` (a file name such
/// as `ch01-blocking-threaded.md`) made from the English page's `bytes`.
pub fn record_line(page: &str, english: &[u8]) -> String {
    format!(
        "<!-- 译自 {EN_SRC}/{page} fnv1a64:{:016x} -->",
        fnv1a64(english)
    )
}

/// The page and hash a translation record names, if `line` is one.
pub fn parse_record(line: &str) -> Option<(String, String)> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    let rest = inner.strip_prefix("译自")?.trim();
    let (path, hash) = rest.split_once(char::is_whitespace)?;
    let hash = hash.trim().strip_prefix("fnv1a64:")?;
    let page = path.strip_prefix(EN_SRC)?.strip_prefix('/')?;
    Some((page.to_string(), hash.to_string()))
}

/// The command that writes `page`'s translation record.
pub fn sync_command(page: &str) -> String {
    format!("cargo run -p book-tests --bin zh-sync -- {page}")
}

/// What is wrong with the translation record of the Chinese `page`, given
/// the English page's `english` bytes: missing, naming another page, or
/// naming another version of the English page. Each problem says what to do.
pub fn record_problems(page: &str, english: &[u8], chinese: &str) -> Vec<String> {
    let want = record_line(page, english);
    let first = chinese.lines().next().unwrap_or("");
    let Some((named, hash)) = parse_record(first) else {
        return vec![format!(
            "line 1 is not the translation record `{want}`: once the page says what \
             {EN_SRC}/{page} says now, `{}` writes it",
            sync_command(page)
        )];
    };
    if named != page {
        return vec![format!(
            "line 1 records {EN_SRC}/{named}, not {EN_SRC}/{page} (the pages have the same \
             file name in both editions): fix it with `{}`",
            sync_command(page)
        )];
    }
    let now = format!("{:016x}", fnv1a64(english));
    if hash != now {
        return vec![format!(
            "{EN_SRC}/{page} has changed since this page was translated (recorded \
             fnv1a64:{hash}, now fnv1a64:{now}): bring the Chinese page up to date with what \
             changed in the English one (`git diff` and `git log -p -- {EN_SRC}/{page}` show it), \
             then run `{}` to record the version it now follows",
            sync_command(page)
        )];
    }
    Vec::new()
}

/// `chinese` with `record` as its first line, in place of the record it
/// had, if any.
pub fn with_record(chinese: &str, record: &str) -> String {
    let first = chinese.lines().next().unwrap_or("");
    let rest = if parse_record(first).is_some() {
        chinese.split_once('\n').map_or("", |(_, r)| r)
    } else {
        chinese
    };
    format!("{record}\n{rest}")
}

/// The levels and titles of the `##` and `###` headings of `page`, outside
/// code blocks.
pub fn outline(page: &str) -> Vec<(usize, String)> {
    let code = code_lines(page);
    page.lines()
        .enumerate()
        .filter(|(i, _)| !code.contains(i))
        .filter_map(|(_, l)| {
            let level = l.chars().take_while(|c| *c == '#').count();
            let title = l[level..].strip_prefix(' ')?;
            matches!(level, 2 | 3).then(|| (level, title.trim().to_string()))
        })
        .collect()
}

/// Every way the Chinese page `chinese` departs from the English page
/// `english` in what must stay the same: its code blocks (language and
/// text, in order), its pictures (in order), the files and sites its links
/// lead to (as a multiset, fragments aside, links to the other edition
/// left out: `edition_link` tells them), and its `##`/`###` outline.
pub fn parity_problems(
    english: &str,
    chinese: &str,
    edition_link_en: &dyn Fn(&str) -> bool,
    edition_link_zh: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let (en_blocks, zh_blocks) = match (blocks(english), blocks(chinese)) {
        (Ok(e), Ok(z)) => (e, z),
        (Err(e), _) => return vec![format!("English page: {e}")],
        (_, Err(e)) => return vec![e],
    };
    let differing = en_blocks
        .iter()
        .zip(&zh_blocks)
        .position(|(e, z)| e.lang != z.lang || e.content != z.content);
    if let Some(i) = differing {
        let (e, z) = (&en_blocks[i], &zh_blocks[i]);
        let what = if e.lang != z.lang {
            format!("is ```{} where the English one is ```{}", z.lang, e.lang)
        } else {
            let (el, zl): (Vec<&str>, Vec<&str>) =
                (e.content.lines().collect(), z.content.lines().collect());
            let k = (0..el.len().max(zl.len()))
                .find(|k| el.get(*k) != zl.get(*k))
                .unwrap_or(0);
            format!(
                "differs at its line {}: {:?} where the English one has {:?}",
                k + 1,
                zl.get(k).copied().unwrap_or("(nothing)"),
                el.get(k).copied().unwrap_or("(nothing)")
            )
        };
        problems.push(format!(
            "line {}: code block {} {what} (English line {}): code blocks are copied verbatim, \
             in the English order (`{}` refills captioned ones)",
            z.line,
            i + 1,
            e.line,
            crate::BLESS
        ));
    } else if en_blocks.len() != zh_blocks.len() {
        let n = en_blocks.len().min(zh_blocks.len());
        let extra = if en_blocks.len() > n {
            format!(
                "the English page's block at line {} is missing",
                en_blocks[n].line
            )
        } else {
            format!(
                "the block at line {} is not in the English page",
                zh_blocks[n].line
            )
        };
        problems.push(format!(
            "{} code blocks where the English page has {}: {extra}",
            zh_blocks.len(),
            en_blocks.len()
        ));
    }

    let pictures = |page: &str| -> Vec<String> {
        links_and_images(page)
            .into_iter()
            .filter(|(_, _, image)| *image)
            .map(|(_, t, _)| t)
            .collect()
    };
    let (en_pics, zh_pics) = (pictures(english), pictures(chinese));
    if en_pics != zh_pics {
        problems.push(format!(
            "the pictures are {zh_pics:?} where the English page shows {en_pics:?} (the same \
             `![...](img/...)` references, in the same order; only the alt text is translated)"
        ));
    }

    let targets = |page: &str, edition_link: &dyn Fn(&str) -> bool| {
        let mut count: BTreeMap<String, i64> = BTreeMap::new();
        for (_, target, image) in links_and_images(page) {
            let file = target.split('#').next().unwrap_or("");
            if !image && !file.is_empty() && !edition_link(&target) {
                *count.entry(file.to_string()).or_default() += 1;
            }
        }
        count
    };
    let (en_links, zh_links) = (
        targets(english, edition_link_en),
        targets(chinese, edition_link_zh),
    );
    if en_links != zh_links {
        let mut only = Vec::new();
        for file in en_links.keys().chain(zh_links.keys()) {
            let (e, z) = (
                en_links.get(file).copied().unwrap_or(0),
                zh_links.get(file).copied().unwrap_or(0),
            );
            if e != z
                && !only
                    .iter()
                    .any(|o: &String| o.starts_with(&format!("`{file}`")))
            {
                only.push(format!("`{file}` {z} time(s), English {e}"));
            }
        }
        problems.push(format!(
            "the links lead to other files than the English page's: {} (link to the same \
             pages and sites, as often; anchors follow the Chinese headings)",
            only.join("; ")
        ));
    }

    let (en_outline, zh_outline) = (outline(english), outline(chinese));
    let levels = |o: &[(usize, String)]| o.iter().map(|(l, _)| *l).collect::<Vec<_>>();
    if levels(&en_outline) != levels(&zh_outline) {
        let k = (0..en_outline.len().max(zh_outline.len()))
            .find(|k| en_outline.get(*k).map(|h| h.0) != zh_outline.get(*k).map(|h| h.0))
            .unwrap_or(0);
        let show = |h: Option<&(usize, String)>| {
            h.map_or("(nothing)".to_string(), |(l, t)| {
                format!("{} {t}", "#".repeat(*l))
            })
        };
        problems.push(format!(
            "the headings differ from the English outline at heading {}: `{}` where the English \
             page has `{}` (the same `##` and `###` headings, in the same order)",
            k + 1,
            show(zh_outline.get(k)),
            show(en_outline.get(k))
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_is_the_reference_hash() {
        // Published test vectors of FNV-1a 64.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn a_record_names_the_page_and_the_version() {
        let line = record_line("ch01-x.md", b"a");
        assert_eq!(
            line,
            "<!-- 译自 docs/src/ch01-x.md fnv1a64:af63dc4c8601ec8c -->"
        );
        assert_eq!(
            parse_record(&line),
            Some(("ch01-x.md".to_string(), "af63dc4c8601ec8c".to_string()))
        );
        let page = format!("{line}\n# 标题\n");
        assert!(record_problems("ch01-x.md", b"a", &page).is_empty());
        let changed = record_problems("ch01-x.md", b"b", &page);
        assert!(
            changed.len() == 1
                && changed[0].contains("has changed")
                && changed[0].contains("zh-sync"),
            "{changed:?}"
        );
        assert!(record_problems("ch02-y.md", b"a", &page)[0].contains("not docs/src/ch02-y.md"));
        assert!(record_problems("ch01-x.md", b"a", "# 标题\n")[0].contains("line 1"));
        assert_eq!(
            with_record(&page, "<!-- 译自 docs/src/ch01-x.md fnv1a64:0 -->"),
            "<!-- 译自 docs/src/ch01-x.md fnv1a64:0 -->\n# 标题\n"
        );
        assert_eq!(with_record("# 标题\n", &line), page);
    }

    const EN: &str = "# Title\n\n[Chinese](zh/a.md)\n\n## The problem\n\nSee [x](ch02.md#the-idea) \
                      and [man](https://man7.org/x).\n\n![flow](img/f.svg)\n\n```sh\nls -l\n```\n\n\
                      ### Detail\n\n```text\nout\n```\n";
    const ZH: &str = "<!-- 译自 docs/src/a.md fnv1a64:0 -->\n# 标题\n\n[English](../a.md)\n\n## 问题\n\n\
                      见[x](ch02.md#思路)和[man](https://man7.org/x)。\n\n![流程](img/f.svg)\n\n\
                      ```sh\nls -l\n```\n\n### 细节\n\n```text\nout\n```\n";

    fn check(en: &str, zh: &str) -> Vec<String> {
        parity_problems(en, zh, &|t| t.starts_with("zh/"), &|t| t.starts_with("../"))
    }

    #[test]
    fn a_faithful_translation_passes() {
        assert_eq!(check(EN, ZH), Vec::<String>::new());
    }

    #[test]
    fn each_departure_is_found() {
        let changed_code = ZH.replace("ls -l", "ls -la");
        let p = check(EN, &changed_code);
        assert!(p.len() == 1 && p[0].contains("code block 1"), "{p:?}");
        let lang = ZH.replace("```sh", "```bash");
        assert!(check(EN, &lang)[0].contains("```bash"));
        let missing_block = ZH.replace("```text\nout\n```\n", "");
        assert!(
            check(EN, &missing_block)[0].contains("1 code blocks where the English page has 2")
        );
        let picture = ZH.replace("img/f.svg", "img/g.svg");
        let p = check(EN, &picture);
        assert!(p.len() == 1 && p[0].contains("pictures"), "{p:?}");
        let link = ZH.replace("ch02.md#思路", "ch03.md#思路");
        let p = check(EN, &link);
        assert!(
            p.len() == 1 && p[0].contains("`ch02.md` 0 time(s), English 1"),
            "{p:?}"
        );
        let heading = ZH.replace("### 细节", "## 细节");
        let p = check(EN, &heading);
        assert!(p.len() == 1 && p[0].contains("`## 细节`"), "{p:?}");
    }
}
