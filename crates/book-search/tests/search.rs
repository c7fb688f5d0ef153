//! Searching a Chinese book as mdBook's searcher does (see
//! `book_search::searcher`), once mdBook has built it and `book-search` has
//! rewritten its index: a small book made here, and the Chinese edition in
//! `docs/zh`. Each test also searches mdBook's own index, to show it finds
//! nothing of the Chinese words the rewritten one finds.
//!
//! Needs mdBook at the pinned version; without it the tests say so and pass,
//! and with `BOOK_HTML_REQUIRED=1` (as `.ci/run` runs them) they fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use book_search::searcher::{js_tokens, pipeline, search, search_tokens};
use book_search::{decode_index_js, index_file, rewrite_book_index};
use book_tests::html::{build_book, mdbook_for_test};
use serde_json::Value;
use test_support::workspace_root;

/// A book built by mdBook, with its search index as mdBook wrote it and as
/// `book-search` rewrote it.
struct Built {
    dir: PathBuf,
    mdbook_index: Value,
    index: Value,
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_index(dir: &Path) -> Value {
    let path = index_file(dir).unwrap_or_else(|e| panic!("{e}"));
    decode_index_js(&std::fs::read_to_string(&path).expect("read index"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Builds the book in `book_root` and rewrites its index; `None` (the test
/// skipped) without mdBook.
fn build(book_root: &Path, label: &str) -> Option<Built> {
    let mdbook = mdbook_for_test()?;
    let dir =
        std::env::temp_dir().join(format!("book-search-built-{label}-{}", std::process::id()));
    build_book(&mdbook, book_root, &dir).unwrap_or_else(|e| panic!("{e}"));
    let mdbook_index = read_index(&dir);
    rewrite_book_index(&dir).unwrap_or_else(|e| panic!("{e}"));
    let index = read_index(&dir);
    Some(Built {
        dir,
        mdbook_index,
        index,
    })
}

/// The pages (`ch07-epoll-edge.html`) of `sections` (doc refs).
fn pages<'a>(index: &Value, sections: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    sections
        .into_iter()
        .map(|r| {
            let url = index["doc_urls"][r.parse::<usize>().expect("numeric ref")]
                .as_str()
                .expect("doc url");
            url.split('#').next().unwrap_or(url).to_string()
        })
        .collect()
}

/// The sections the searcher lists for `query`.
fn found(index: &Value, query: &str) -> BTreeSet<String> {
    search(index, query)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// The sections whose text, as mdBook took it from the page (title, body
/// and breadcrumbs, kept in the index's document store), contains `word`.
fn sections_with(index: &Value, word: &str) -> BTreeSet<String> {
    index["index"]["documentStore"]["docs"]
        .as_object()
        .expect("the index keeps the sections' text")
        .iter()
        .filter(|(_, doc)| {
            ["title", "body", "breadcrumbs"]
                .iter()
                .any(|f| doc[*f].as_str().is_some_and(|t| t.contains(word)))
        })
        .map(|(r, _)| r.clone())
        .collect()
}

/// What both tests check: the index names no pipeline (the searcher would
/// trim the Chinese out of the query again), mdBook's own index finds
/// nothing for 边缘触发 while the rewritten one lists `edge_page`, and
/// `word` lists exactly the sections whose text has it.
fn check(built: &Built, edge_page: &str, word: &str) {
    assert_eq!(
        pipeline(&built.index),
        Vec::<String>::new(),
        "the rewritten index names a pipeline, which the searcher would run on every query"
    );
    // mdBook's index, searched with the query's tokens as they are (its own
    // pipeline would only trim them to nothing), finds nothing: the test
    // below could not pass on it.
    let before = search_tokens(&built.mdbook_index, &js_tokens("边缘触发"));
    assert!(
        before.is_empty(),
        "mdBook's own index finds 边缘触发 in {:?}: has mdBook learned Chinese?",
        pages(&built.mdbook_index, before.iter().map(|(r, _)| r))
    );

    let edge = found(&built.index, "边缘触发");
    assert!(
        pages(&built.index, &edge).contains(edge_page),
        "边缘触发 lists {:?}, not {edge_page}",
        pages(&built.index, &edge)
    );

    let wanted = sections_with(&built.mdbook_index, word);
    assert!(
        !wanted.is_empty(),
        "no section has {word}: pick another word"
    );
    let got = found(&built.index, word);
    assert_eq!(
        pages(&built.index, &got),
        pages(&built.index, &wanted),
        "{word} should list every page whose text has it, and no other"
    );
    assert_eq!(
        got, wanted,
        "{word} should list every section whose text has it, and no other"
    );
}

#[test]
fn a_small_chinese_book_is_searchable() {
    let book = std::env::temp_dir().join(format!("book-search-fixture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&book);
    std::fs::create_dir_all(book.join("src")).expect("fixture folder");
    let files = [
        (
            "book.toml",
            "[book]\ntitle = \"测试\"\nlanguage = \"zh-CN\"\nsrc = \"src\"\n",
        ),
        (
            "src/SUMMARY.md",
            "# 目录\n\n- [水平触发](ch06-epoll-level.md)\n- [边缘触发](ch07-epoll-edge.md)\n\
             - [别的](ch08-other.md)\n",
        ),
        (
            "src/ch06-epoll-level.md",
            "# 水平触发\n\n只要套接字还可读，`epoll_wait` 每次都报告它。\n",
        ),
        (
            "src/ch07-epoll-edge.md",
            "# 边缘触发\n\n## 思路\n\n边缘触发（edge-triggered）只在状态变化时通知一次，\
             所以要一直读到 `EAGAIN` 为止。\n\n## 小结\n\n读完整个套接字。\n",
        ),
        ("src/ch08-other.md", "# 别的\n\n这一页不谈那个词。\n"),
    ];
    for (name, text) in files {
        std::fs::write(book.join(name), text).expect("fixture file");
    }
    let built = build(&book, "fixture");
    let _ = std::fs::remove_dir_all(&book);
    let Some(built) = built else {
        return;
    };
    check(&built, "ch07-epoll-edge.html", "套接字");
    assert_eq!(
        pages(&built.index, &found(&built.index, "套接字")),
        BTreeSet::from([
            "ch06-epoll-level.html".into(),
            "ch07-epoll-edge.html".into()
        ])
    );
    let pages_of = |q: &str| pages(&built.index, &found(&built.index, q));
    assert_eq!(
        pages_of("状态"),
        BTreeSet::from(["ch07-epoll-edge.html".into()])
    );
    assert_eq!(
        pages_of("eagain"),
        BTreeSet::from(["ch07-epoll-edge.html".into()])
    );
    assert_eq!(
        pages_of("EPOLL_WAIT"),
        BTreeSet::from(["ch06-epoll-level.html".into()])
    );
    // Longer than the longest Chinese token indexed: the limit of this design.
    assert!(pages_of("只在状态变化时通知").is_empty());
}

#[test]
fn the_chinese_edition_is_searchable() {
    let root = workspace_root();
    let src = root.join("docs/zh/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).expect("docs/zh/src/SUMMARY.md");
    let missing: Vec<String> = book_tests::links(&summary)
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| !src.join(p).is_file())
        .collect();
    if mdbook_for_test().is_none() {
        return;
    }
    assert!(
        missing.is_empty(),
        "docs/zh/src/SUMMARY.md lists {} page(s) that do not exist yet (not translated yet?), so \
         mdBook cannot build the Chinese edition to search it: {}",
        missing.len(),
        missing.join(", ")
    );
    let Some(built) = build(&root.join("docs/zh"), "zh") else {
        return;
    };
    check(&built, "ch07-epoll-edge.html", "套接字");
}
