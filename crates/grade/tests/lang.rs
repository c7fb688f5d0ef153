//! The grader shows the hints of the Chinese README when asked with
//! `--lang zh-CN` or by a Chinese locale, and `--lang en` keeps them English
//! whatever the locale. Each test grades the untouched starter of exercise
//! 7, whose first check fails within a second, as a student would: the
//! `grade` binary, with a hint memory of its own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use grade::{Lang, Manifest, hints};

/// A cold build of the starter fits in this easily.
const LIMIT: Duration = Duration::from_secs(600);

/// The intro line and the text of hint 1 of exercise 7, for `broadcast`
/// (the first step of its ladder of two), as the grader prints them in
/// `lang`.
fn first_hint(lang: Lang) -> String {
    let root = test_support::workspace_root();
    let manifest = Manifest::load(&root).unwrap();
    let ex = manifest.find("07").unwrap();
    let check = &ex.checks[0];
    assert_eq!(check.name, "broadcast");
    let ladder = check.hint.ladder();
    let readme = ex.readme_in(lang);
    let markdown = std::fs::read_to_string(root.join(&readme)).unwrap();
    let text = &hints::parse_in(&markdown, lang).unwrap()[ladder[0] - 1];
    let intro = lang.hint_intro(
        ladder[0],
        &check.name,
        (1, ladder.len()),
        &readme.display().to_string(),
    );
    format!("{intro}\n{}", hints::wrap(text, 72, "    "))
}

/// Removes its file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `grade 07 ARGS` with the locale variables `locale` (and no other), at
/// most [`LIMIT`]; returns its stdout.
fn grade_07(args: &[&str], locale: &[(&str, &str)], tag: &str) -> String {
    let memory = TempFile(
        std::env::temp_dir().join(format!("grade-hints-{}-{tag}.json", std::process::id())),
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_grade"));
    command
        .arg("07")
        .args(args)
        .env("GRADE_HINTS_FILE", &memory.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for name in grade::lang::LOCALE_VARS {
        command.env_remove(name);
    }
    command.envs(locale.iter().copied());
    let mut child = command.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("grade 07 {args:?} did not end in {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the starter of exercise 7 should fail"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The report shows `hint` and its check lines stay English.
fn assert_shows(report: &str, hint: &str) {
    assert!(
        report.contains(hint),
        "the report does not show\n{hint}\nit is:\n{report}"
    );
    assert!(
        report.contains("  FAIL  broadcast "),
        "the check lines should stay English:\n{report}"
    );
}

#[test]
fn lang_zh_cn_shows_the_chinese_hint() {
    let report = grade_07(&["--lang", "zh-CN"], &[], "flag");
    assert_shows(&report, &first_hint(Lang::ZhCn));
    assert!(!report.contains("\nHint "), "{report}");
}

#[test]
fn a_chinese_locale_shows_the_chinese_hint() {
    let report = grade_07(&[], &[("LANG", "zh_CN.UTF-8")], "locale");
    assert_shows(&report, &first_hint(Lang::ZhCn));
}

#[test]
fn lang_en_wins_over_a_chinese_locale() {
    let report = grade_07(&["--lang", "en"], &[("LANG", "zh_CN.UTF-8")], "en");
    assert_shows(&report, &first_hint(Lang::En));
    assert!(!report.contains("提示"), "{report}");
}
