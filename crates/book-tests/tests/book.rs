//! The book in `docs/` against the workspace as it is: every excerpt and
//! transcript shown equals its source, every command shown names a real
//! package and real flags, every link and picture resolves, and every chapter
//! is in `SUMMARY.md` in order, and every command shown ends by itself. The
//! checks themselves, and why pages copy their listings instead of including
//! them, are in `src/`.
//!
//! The `zh_` tests run the same checks on the Chinese edition, `docs/zh/src`,
//! on the pages translated so far (`tests/parity.rs` lists the others).
//!
//! `BOOK_BLESS=1 cargo test -p book-tests` rewrites the pages' excerpts and
//! transcripts from their sources first (then review `git diff docs/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use book_tests::course::{
    CHINESE, CourseWords, ENGLISH, chapter_number, forward_references_in, in_short_problems_in,
    misnumbered_links_in,
};
use book_tests::translation::editions;
use book_tests::{
    Invocation, Runner, bless_page, check_commands_end, check_fragments_in, check_invocation,
    check_links_in, check_page, check_sections, fail_on, headings, invocations, links,
    svg_problems, transcripts,
};
use test_support::workspace_root;

/// The chapters, in the book's order, as `SUMMARY.md` must list them.
const CHAPTERS: &[&str] = &[
    "ch00-introduction.md",
    "ch01-blocking-threaded.md",
    "ch02-busy-nonblocking.md",
    "ch03-select-stdin.md",
    "ch04-select-queue.md",
    "ch05-poll-queue.md",
    "ch06-epoll-level.md",
    "ch07-epoll-edge.md",
    "ch08-epoll-threads.md",
    "ch09-uring-completion.md",
    "ch10-select-poll-epoll.md",
    "ch11-corrections-and-myths.md",
    "benchmarks.md",
    "exercises.md",
    "appendix-transcripts.md",
    "appendix-exercises.md",
];

/// The pages of the server chapters, which all have the same sections.
const SERVER_CHAPTERS: &[&str] = &[
    "ch01-blocking-threaded.md",
    "ch02-busy-nonblocking.md",
    "ch03-select-stdin.md",
    "ch04-select-queue.md",
    "ch05-poll-queue.md",
    "ch06-epoll-level.md",
    "ch07-epoll-edge.md",
    "ch08-epoll-threads.md",
    "ch09-uring-completion.md",
];

/// The sections of a server chapter, in order.
const SECTIONS: &[&str] = &[
    "The problem",
    "The idea",
    "The code",
    "Run it",
    "Things to try",
    "In short",
    "What is still wrong",
    "See also",
];

/// The sections of a server chapter in the Chinese edition, in order: the
/// same sections as [`SECTIONS`], translated.
const SECTIONS_ZH: &[&str] = &[
    "问题",
    "思路",
    "代码",
    "运行",
    "动手试试",
    "小结",
    "还有什么问题",
    "延伸阅读",
];

fn src_dir() -> PathBuf {
    workspace_root().join("docs/src")
}

/// The Chinese edition's pages (`docs/zh/src`, the same file names).
fn zh_src_dir() -> PathBuf {
    workspace_root().join("docs/zh/src")
}

/// The Chinese pages of `pages` that exist. The others are not translated
/// yet: said here, and listed as a failure by `tests/parity.rs` only, so
/// that each check here fails for problems of the pages that exist.
fn zh_pages<'a>(pages: &[&'a str]) -> Vec<&'a str> {
    let (there, missing): (Vec<&str>, Vec<&str>) =
        pages.iter().partition(|p| zh_src_dir().join(p).is_file());
    if !missing.is_empty() {
        eprintln!("not translated yet, so not checked: {missing:?}");
    }
    there
}

/// Every file under `dir` whose name ends with `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rel(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn excerpts_and_transcripts_equal_their_sources() {
    check_excerpts(&src_dir(), CHAPTERS.len());
}

/// The Chinese pages copy the same excerpts, transcripts and diffs, under
/// Chinese captions; `BOOK_BLESS=1` refills them too.
#[test]
fn zh_excerpts_and_transcripts_equal_their_sources() {
    check_excerpts(&zh_src_dir(), 1);
}

/// Every captioned block of the pages in `dir` (at least `at_least` pages)
/// equals its source; with `BOOK_BLESS` set, rewritten from it first.
fn check_excerpts(dir: &Path, at_least: usize) {
    let root = workspace_root();
    let read_source = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    let bless = std::env::var_os("BOOK_BLESS").is_some();
    let pages = files(dir, ".md");
    assert!(pages.len() >= at_least, "pages: {pages:?}");
    let mut problems = BTreeMap::new();
    for page in pages {
        let mut text = read(&page);
        if bless {
            let (fresh, unfixable) = bless_page(&text, &read_source);
            let fresh = book_tests::diffs::bless_diffs(&fresh, &read_source);
            if fresh != text {
                std::fs::write(&page, &fresh).unwrap();
                eprintln!("rewrote the excerpts of {}", rel(&page));
                text = fresh;
            }
            problems.insert(rel(&page) + " (bless)", unfixable);
        }
        let mut found = check_page(&text, &read_source);
        found.extend(book_tests::diffs::check_diffs(&text, &read_source));
        problems.insert(rel(&page), found);
    }
    fail_on(problems);
}

/// A package's binaries, and the one `cargo run -p` runs without `--bin`.
#[derive(Clone)]
struct Package {
    bins: Vec<String>,
    default: Result<String, String>,
}

/// The workspace's packages.
fn packages() -> BTreeMap<String, Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "cargo metadata failed");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let bins: Vec<String> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect();
        let bin = match (p["default_run"].as_str(), &bins[..]) {
            (Some(d), _) => Ok(d.to_string()),
            (None, [one]) => Ok(one.clone()),
            (None, []) => Err("has no binary, so `cargo run -p` cannot run it".to_string()),
            (None, _) => Err(format!(
                "has several binaries ({bins:?}) and no default-run: `cargo run -p` needs --bin"
            )),
        };
        map.insert(name, Package { bins, default: bin });
    }
    map
}

/// The directory of the binaries of the build that runs this test
/// (`target/debug` or `target/release`, or under `CARGO_TARGET_DIR`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable directory");
    deps.parent().unwrap_or(deps).to_path_buf()
}

/// `BIN --help`, building `package` first if `cargo test` did not (packages
/// without integration tests do not get their binaries built).
fn help_text(package: &str, bin: &str) -> Result<String, String> {
    let dir = profile_dir();
    let path = dir.join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .current_dir(workspace_root());
        if let Some(target) = dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().map_err(|e| format!("cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("`cargo build -p {package}` failed"));
        }
    }
    let mut child = Command::new(&path)
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{bin} --help` did not finish in 20 s"));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("`{bin} --help` failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn commands_in_the_docs_name_real_packages_and_flags() {
    let root = workspace_root();
    let mut texts = reader_pages();
    texts.extend(files(&root.join("docs/transcripts"), ".txt"));
    texts.retain(|p| !p.starts_with(root.join("docs/book")));
    check_commands(&texts, true);
}

/// The Chinese pages show the same commands; their prose may name more.
#[test]
fn zh_commands_in_the_docs_name_real_packages_and_flags() {
    check_commands(&files(&zh_src_dir(), ".md"), false);
}

/// Every command in `texts` names a real package and flags its program
/// lists; with `flag_files`, so do the captures' `flags` files.
fn check_commands(texts: &[PathBuf], flag_files: bool) {
    let root = workspace_root();
    let packages = packages();
    let names: BTreeSet<String> = packages.keys().cloned().collect();
    let mut helps: BTreeMap<(String, Option<String>), Result<String, String>> = BTreeMap::new();
    let mut help = |package: &str, bin: Option<&str>| {
        helps
            .entry((package.to_string(), bin.map(String::from)))
            .or_insert_with(|| {
                let p = packages.get(package).ok_or("not a package")?;
                let bin = match bin {
                    Some(b) if p.bins.iter().any(|x| x == b) => b.to_string(),
                    Some(b) => return Err(format!("has no binary `{b}`")),
                    None => p.default.clone()?,
                };
                help_text(package, &bin)
            })
            .clone()
    };

    let mut problems = BTreeMap::new();
    let mut seen = 0;
    for file in texts {
        let invs = invocations(&read(file));
        seen += invs.len();
        let found: Vec<String> = invs
            .iter()
            .flat_map(|inv| check_invocation(inv, &names, &mut help))
            .collect();
        problems.insert(rel(file), found);
    }
    // A chapter's `flags` file holds extra server flags for its capture, and
    // a `package` file the server's package when it is not the folder's name.
    let flags_files = if flag_files {
        files(&root.join("docs/transcripts"), "/flags")
    } else {
        Vec::new()
    };
    for flags in flags_files {
        let dir = flags.parent().unwrap_or(&root);
        let chapter = std::fs::read_to_string(dir.join("package"))
            .map(|p| p.trim().to_string())
            .unwrap_or_else(|_| {
                dir.file_name()
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        let inv = Invocation {
            line: 1,
            runner: Runner::Demo,
            packages: vec![chapter],
            cargo_flags: Vec::new(),
            program_flags: read(&flags)
                .split_whitespace()
                .filter(|w| w.starts_with('-'))
                .map(|w| w.split('=').next().unwrap_or(w).to_string())
                .collect(),
            bin: None,
        };
        problems.insert(rel(&flags), check_invocation(&inv, &names, &mut help));
    }
    assert!(seen > 10, "only {seen} commands found: is the scan broken?");
    fail_on(problems);
}

#[test]
fn links_and_pictures_resolve_inside_the_book() {
    check_links_of_edition(0);
}

#[test]
fn zh_links_and_pictures_resolve_inside_the_book() {
    check_links_of_edition(1);
}

/// The links and pictures of edition `which` (0 English, 1 Chinese) of
/// [`editions`] resolve inside the built site: in the edition itself, or, for
/// the link each introduction has to the other edition, in that one.
fn check_links_of_edition(which: usize) {
    let all = editions(&workspace_root());
    let edition = &all[which];
    // A Chinese page not translated yet is counted as there: the link will
    // work once it is, and tests/parity.rs lists the pages still missing.
    let exists = |p: &Path| {
        p.is_file()
            || p.strip_prefix(&all[1].src_dir)
                .is_ok_and(|page| all[0].src_dir.join(page).is_file())
    };
    let mut problems = BTreeMap::new();
    for page in files(&edition.src_dir, ".md") {
        let text = read(&page);
        let mut found = check_links_in(&text, &page, edition, &all, &exists);
        found.extend(check_fragments_in(
            &text,
            &page,
            edition,
            &all,
            &|p: &Path| std::fs::read_to_string(p).ok(),
        ));
        problems.insert(rel(&page), found);
    }
    fail_on(problems);
}

#[test]
fn pictures_are_well_formed_svg() {
    let pictures = files(&src_dir().join("img"), ".svg");
    assert!(!pictures.is_empty(), "no pictures in docs/src/img");
    let mut problems = BTreeMap::new();
    for svg in pictures {
        let found = svg_problems(&read(&svg));
        problems.insert(rel(&svg), found);
    }
    fail_on(problems);
}

#[test]
fn summary_lists_every_page_in_chapter_order() {
    let src = src_dir();
    let summary = read(&src.join("SUMMARY.md"));
    let listed: Vec<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        listed, CHAPTERS,
        "SUMMARY.md must list the pages in this order (fix SUMMARY.md, or CHAPTERS in \
         crates/book-tests/tests/book.rs when a page is added)"
    );
    let on_disk: BTreeSet<String> = files(&src, ".md")
        .iter()
        .filter_map(|p| p.strip_prefix(&src).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p != "SUMMARY.md")
        .collect();
    let listed: BTreeSet<String> = listed.into_iter().collect();
    assert_eq!(
        on_disk, listed,
        "every page must be in SUMMARY.md, and every entry a page"
    );
}

/// The client prints the same twelve lines against every server, so its
/// transcript is shown once (`the_client_transcript_is_shown_once`); every
/// other captured transcript is shown on some page.
#[test]
fn every_captured_transcript_is_shown_in_the_book() {
    let root = workspace_root();
    let pages: Vec<String> = files(&src_dir(), ".md").iter().map(|p| read(p)).collect();
    let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
    let captured: Vec<String> = files(&root.join("docs/transcripts"), ".txt")
        .iter()
        .map(|p| rel(p))
        .filter(|p| !p.ends_with("/client.txt"))
        .collect();
    let problems = transcripts::check_all_shown(captured.iter().map(String::as_str), &pages);
    fail_on(BTreeMap::from([("docs/transcripts".to_string(), problems)]));
}

/// The pages a reader runs commands from: the book, the README and the
/// exercises' READMEs, English (`README.md`) and Chinese (`README.zh-CN.md`,
/// whose commands are the English ones, verbatim).
fn reader_pages() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut pages = files(&src_dir(), ".md");
    pages.push(root.join("README.md"));
    pages.push(root.join("exercises/README.md"));
    for readme in ["/README.md", "/README.zh-CN.md"] {
        pages.extend(
            files(&root.join("exercises"), readme)
                .into_iter()
                .filter(|p| !p.starts_with(root.join("exercises/solutions"))),
        );
    }
    pages.sort();
    pages.dedup();
    pages
}

#[test]
fn every_command_shown_ends_by_itself() {
    let mut problems = BTreeMap::new();
    for page in reader_pages() {
        problems.insert(rel(&page), check_commands_end(&read(&page)));
    }
    fail_on(problems);
}

/// A chapter's file name carries the number mdBook shows for it
/// (`ch07-...` is the seventh numbered chapter), so "chapter 7" in the text
/// and in a link can be checked against the page it means.
#[test]
fn chapter_files_are_numbered_as_the_book_numbers_them() {
    let numbered: Vec<&&str> = CHAPTERS
        .iter()
        .filter(|p| chapter_number(p).is_some())
        .collect();
    for (i, page) in numbered.iter().enumerate() {
        assert_eq!(
            chapter_number(page),
            Some(i as u32),
            "{page} is chapter {i} in SUMMARY.md order (the introduction is 0)"
        );
    }
}

/// The last chapter that teaches a server; the ones after it compare and
/// correct, and are there to be looked up.
const LAST_LESSON: u32 = 9;

/// The Chinese edition shows the English edition's pictures, through a
/// link to their folder, not copies that could drift apart.
#[test]
fn zh_pictures_are_the_english_ones() {
    let img = zh_src_dir().join("img");
    let link = std::fs::read_link(&img).unwrap_or_else(|e| {
        panic!("docs/zh/src/img should be a symbolic link to ../../src/img: {e}")
    });
    assert_eq!(
        link,
        Path::new("../../src/img"),
        "docs/zh/src/img should link to ../../src/img (relative, so it works in any clone)"
    );
    assert_eq!(
        img.canonicalize().expect("docs/zh/src/img resolves"),
        src_dir().join("img").canonicalize().expect("docs/src/img")
    );
}

#[test]
fn zh_summary_lists_every_page_in_chapter_order() {
    let src = zh_src_dir();
    let summary = read(&src.join("SUMMARY.md"));
    let listed: Vec<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        listed, CHAPTERS,
        "docs/zh/src/SUMMARY.md must list the pages in the English order, with the same file \
         names"
    );
    let on_disk: BTreeSet<String> = files(&src, ".md")
        .iter()
        .filter_map(|p| p.strip_prefix(&src).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p != "SUMMARY.md")
        .collect();
    let unlisted: Vec<&String> = on_disk.iter().filter(|p| !listed.contains(p)).collect();
    assert!(
        unlisted.is_empty(),
        "pages of docs/zh/src that SUMMARY.md does not list (every page has the file name of \
         its English page): {unlisted:?}"
    );
    // Pages listed but not translated yet: tests/parity.rs lists them.
    zh_pages(CHAPTERS);
}

/// Each translated page shows the transcripts its English page shows; once
/// every page is translated, every captured transcript is shown.
#[test]
fn zh_every_captured_transcript_is_shown_in_the_book() {
    let root = workspace_root();
    let pages = zh_pages(CHAPTERS);
    let mut problems = BTreeMap::new();
    let mut texts = Vec::new();
    for page in &pages {
        let chinese = read(&zh_src_dir().join(page));
        let english = read(&src_dir().join(page));
        let wanted = transcripts::shown_transcripts(&english);
        let shown = transcripts::shown_transcripts(&chinese);
        let missing: Vec<String> = wanted
            .difference(&shown)
            .map(|t| {
                format!(
                    "shows no `{t}` (its English page does): caption an empty `text` block \
                     `` `{t}`： `` where the English page has it, then run \
                     `BOOK_BLESS=1 cargo test -p book-tests`"
                )
            })
            .collect();
        problems.insert(format!("docs/zh/src/{page}"), missing);
        texts.push(chinese);
    }
    if pages.len() == CHAPTERS.len() {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let captured: Vec<String> = files(&root.join("docs/transcripts"), ".txt")
            .iter()
            .map(|p| rel(p))
            .filter(|p| !p.ends_with("/client.txt"))
            .collect();
        let not_shown = transcripts::check_all_shown(captured.iter().map(String::as_str), &texts);
        problems.insert("docs/transcripts (Chinese edition)".to_string(), not_shown);
    }
    fail_on(problems);
}

#[test]
fn zh_every_command_shown_ends_by_itself() {
    let mut problems = BTreeMap::new();
    for page in files(&zh_src_dir(), ".md") {
        problems.insert(rel(&page), check_commands_end(&read(&page)));
    }
    fail_on(problems);
}

/// One edition of the book, for the checks that run on both.
struct Edition {
    src: PathBuf,
    /// The sections of a server chapter, in order.
    sections: &'static [&'static str],
    /// How its text names chapters, and its sections that look ahead.
    words: CourseWords,
    /// How a caption that shows the client's transcript ends.
    client_captions: &'static [&'static str],
    chinese: bool,
}

impl Edition {
    fn english() -> Self {
        Edition {
            src: src_dir(),
            sections: SECTIONS,
            words: ENGLISH,
            client_captions: &["/client.txt`:"],
            chinese: false,
        }
    }

    fn chinese() -> Self {
        Edition {
            src: zh_src_dir(),
            sections: SECTIONS_ZH,
            words: CHINESE,
            client_captions: &["/client.txt`：", "/client.txt`:"],
            chinese: true,
        }
    }

    /// The pages of `pages` this edition has: all of them in English, the
    /// translated ones in Chinese.
    fn pages<'a>(&self, pages: &[&'a str]) -> Vec<&'a str> {
        if self.chinese {
            zh_pages(pages)
        } else {
            pages.to_vec()
        }
    }

    fn read(&self, page: &str) -> String {
        read(&self.src.join(page))
    }

    /// The name a page's problems are filed under.
    fn key(&self, page: &str) -> String {
        if self.chinese {
            format!("docs/zh/src/{page}")
        } else {
            page.to_string()
        }
    }
}

fn check_sections_of(edition: &Edition) {
    let mut problems = BTreeMap::new();
    for page in edition.pages(SERVER_CHAPTERS) {
        let h = headings(&edition.read(page));
        problems.insert(
            edition.key(page),
            check_sections(&h, edition.sections)
                .err()
                .into_iter()
                .collect(),
        );
    }
    fail_on(problems);
}

#[test]
fn server_chapters_have_every_section_in_order() {
    check_sections_of(&Edition::english());
}

#[test]
fn zh_server_chapters_have_every_section_in_order() {
    check_sections_of(&Edition::chinese());
}

/// The full client transcript is printed once, in the first chapter that
/// runs the client; later chapters show only what differs.
fn check_client_transcript_once(edition: &Edition) {
    let pages = edition.pages(CHAPTERS);
    if !pages.contains(&"ch01-blocking-threaded.md") {
        return; // the page that shows it is not translated yet
    }
    let mut shown = Vec::new();
    for page in pages {
        for line in edition.read(page).lines() {
            let caption = line.trim_end();
            if edition
                .client_captions
                .iter()
                .any(|end| caption.ends_with(end))
                && caption.contains("`docs/transcripts/")
            {
                shown.push(format!("{page}: {caption}"));
            }
        }
    }
    assert_eq!(
        shown.len(),
        1,
        "the client's transcript should be shown in full on exactly one page of {}; it is \
         shown {} times:\n{}",
        edition.src.display(),
        shown.len(),
        shown.join("\n")
    );
    assert!(
        shown[0].starts_with("ch01-"),
        "shown first in {}, not chapter 1",
        shown[0]
    );
}

#[test]
fn the_client_transcript_is_shown_once() {
    check_client_transcript_once(&Edition::english());
}

#[test]
fn zh_the_client_transcript_is_shown_once() {
    check_client_transcript_once(&Edition::chinese());
}

/// A learner reads the chapters in order: no chapter sends them forward to
/// a later one for something it needs now (pointing ahead belongs in
/// "Things to try", "What is still wrong" and "See also"), and a link that
/// names a chapter names the right one.
fn check_course_order(edition: &Edition) {
    let mut problems = BTreeMap::new();
    for page in edition.pages(CHAPTERS) {
        let text = edition.read(page);
        let mut found = misnumbered_links_in(&edition.words, &text);
        // The introduction's job is to say what is coming.
        if page != "ch00-introduction.md" {
            found.extend(forward_references_in(
                &edition.words,
                page,
                &text,
                LAST_LESSON,
            ));
        }
        problems.insert(edition.key(page), found);
    }
    fail_on(problems);
}

#[test]
fn no_chapter_sends_the_reader_forward_and_chapter_links_are_numbered_right() {
    check_course_order(&Edition::english());
}

#[test]
fn zh_no_chapter_sends_the_reader_forward_and_chapter_links_are_numbered_right() {
    check_course_order(&Edition::chinese());
}

/// Every server chapter ends with what it taught, in three points.
fn check_in_short(edition: &Edition) {
    let mut problems = BTreeMap::new();
    for page in edition.pages(SERVER_CHAPTERS) {
        problems.insert(
            edition.key(page),
            in_short_problems_in(&edition.words, &edition.read(page)),
        );
    }
    fail_on(problems);
}

#[test]
fn every_server_chapter_sums_itself_up_in_three_points() {
    check_in_short(&Edition::english());
}

#[test]
fn zh_every_server_chapter_sums_itself_up_in_three_points() {
    check_in_short(&Edition::chinese());
}
