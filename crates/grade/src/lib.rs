//! The grader for the exercises in `exercises/`.
//!
//! `cargo run -p grade -- 04` builds exercise 4, runs its checks against the
//! server it builds, and prints one line per check: `PASS` or `FAIL`, the
//! check's name and the figure it measured. Under the list it prints the
//! README hint tied to the first failing check. `--all` grades every
//! exercise and shows the progress as `n/N`; `--solution` grades the
//! reference solution instead of the student's code.
//!
//! A check may point to a ladder of hints, from a nudge to the answer: with
//! a [`HintMemory`], each run that fails the same check again shows the next
//! one, and `--hint` shows it without running the checks.
//!
//! The exercises, their packages, their checks and which hint goes with
//! which check are listed in `exercises/exercises.toml` ([`manifest`]); the
//! hints themselves are in each exercise's README ([`hints`]), in English and
//! in Chinese ([`lang`]); the checks are in [`checks`].
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod build;
pub mod checks;
pub mod class;
pub mod hints;
pub mod lang;
pub mod manifest;
pub mod memory;
pub mod probe;
pub mod starter;

use std::io::{self, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;

pub use lang::Lang;
pub use manifest::{Exercise, Manifest};
pub use memory::HintMemory;

/// Starter (the student's code) or reference solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Starter,
    Solution,
}

impl Variant {
    pub fn package(self, ex: &Exercise) -> &str {
        match self {
            Variant::Starter => &ex.package,
            Variant::Solution => &ex.solution,
        }
    }
}

/// The result of grading one exercise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    pub passed: usize,
    pub total: usize,
    /// The first failing check and the number of its hint.
    pub first_failure: Option<(String, usize)>,
}

impl Grade {
    pub fn is_pass(&self) -> bool {
        self.passed == self.total
    }
}

/// One check's result, as printed.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: String,
    pub outcome: checks::Outcome,
    /// Where the server panicked, if it did during this check.
    pub panic: Option<String>,
}

/// Runs one check against `program`, a server of `kind` (for the
/// conformance checks). A check that itself panics (a bug in the grader,
/// not in the server) is reported as a failure.
pub fn run_check(name: &str, program: &Path, kind: Option<&str>) -> CheckResult {
    let ctx = checks::Ctx::new(program);
    let run = || match name.strip_prefix(checks::CONFORMANCE) {
        Some(check) => checks::conformance(check, program, kind),
        None => match checks::find(name) {
            None => Err(format!("no check called {name:?} in the grader")),
            Some(def) => (def.run)(&ctx),
        },
    };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err("the check itself failed (a bug in the grader)".into()));
    CheckResult {
        name: name.to_string(),
        outcome,
        panic: checks::panic_message(&ctx.stderr()),
    }
}

/// One line per check: `  PASS  name  figure`, names padded to `width`,
/// and, when the server panicked, a second line saying where.
pub fn check_line(result: &CheckResult, width: usize) -> String {
    let (verdict, figure) = match &result.outcome {
        Ok(f) => ("PASS", f),
        Err(f) => ("FAIL", f),
    };
    let mut line = format!("  {verdict}  {:width$}  {figure}\n", result.name);
    if let (Err(_), Some(p)) = (&result.outcome, &result.panic) {
        line.push_str(&format!("  {:width$}        the server panicked {p}\n", ""));
    }
    line
}

/// Grades `ex` by running its checks against `program` (already built),
/// writing the report to `out` as it goes. `root` is the workspace root,
/// where the README with the hints is. Shows the first hint of the first
/// failing check's ladder, and remembers nothing.
pub fn grade(
    root: &Path,
    manifest: &Manifest,
    ex: &Exercise,
    variant: Variant,
    program: &Path,
    out: &mut dyn Write,
) -> io::Result<Grade> {
    grade_with_memory(root, manifest, ex, variant, program, out, None)
}

/// [`grade`], with the hint of the first failing check taken from `memory`:
/// the next step of its ladder. Checks that pass start over. The caller
/// saves the memory.
pub fn grade_with_memory(
    root: &Path,
    manifest: &Manifest,
    ex: &Exercise,
    variant: Variant,
    program: &Path,
    out: &mut dyn Write,
    memory: Option<&mut HintMemory>,
) -> io::Result<Grade> {
    let hints = HintOptions {
        memory,
        lang: Lang::En,
    };
    grade_with_hints(root, manifest, ex, variant, program, out, hints)
}

/// Which hint a graded run shows, and in which language.
#[derive(Debug, Default)]
pub struct HintOptions<'a> {
    /// Where the run climbs the ladders (see [`grade_with_memory`]); `None`
    /// shows the first hint of a ladder and remembers nothing.
    pub memory: Option<&'a mut HintMemory>,
    /// The README the hint is taken from.
    pub lang: Lang,
}

/// [`grade_with_memory`], with the hint shown in `hints.lang`.
pub fn grade_with_hints(
    root: &Path,
    manifest: &Manifest,
    ex: &Exercise,
    variant: Variant,
    program: &Path,
    out: &mut dyn Write,
    hints: HintOptions<'_>,
) -> io::Result<Grade> {
    let HintOptions { mut memory, lang } = hints;
    let position = manifest
        .exercises
        .iter()
        .position(|e| e.dir == ex.dir)
        .map_or(0, |i| i + 1);
    let count = manifest.exercises.len();
    match variant {
        Variant::Starter => writeln!(
            out,
            "Exercise {} ({position} of {count}): {}",
            ex.dir, ex.title
        )?,
        Variant::Solution => writeln!(
            out,
            "Reference solution to exercise {} ({position} of {count}): {}",
            ex.dir, ex.title
        )?,
    }
    let width = ex.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut grade = Grade {
        passed: 0,
        total: ex.checks.len(),
        first_failure: None,
    };
    let mut step = None;
    for check in &ex.checks {
        if check.name.starts_with(checks::CONFORMANCE) && grade.first_failure.is_some() {
            // The conformance checks are the last gate: slow on a server
            // that stalls, and no help before the exercise's own checks pass.
            writeln!(
                out,
                "  SKIP  {:width$}  runs once the checks above pass",
                check.name
            )?;
            continue;
        }
        let result = run_check(&check.name, program, ex.kind.as_deref());
        out.write_all(check_line(&result, width).as_bytes())?;
        out.flush()?;
        if result.outcome.is_ok() {
            grade.passed += 1;
            if let Some(m) = memory.as_deref_mut() {
                m.passed(&ex.dir, &check.name);
            }
        } else if grade.first_failure.is_none() {
            let ladder = check.hint.ladder();
            let n = memory
                .as_deref_mut()
                .map_or(1, |m| m.next_step(&ex.dir, &check.name, ladder.len()));
            let hint = ladder.get(n.saturating_sub(1)).copied().unwrap_or(0);
            grade.first_failure = Some((check.name.clone(), hint));
            step = Some((n, ladder.len()));
        }
    }
    if grade.is_pass()
        && let Some(m) = memory
    {
        m.all_passed(&ex.dir);
    }
    writeln!(out)?;
    if let (Some((name, hint)), Some(step)) = (&grade.first_failure, step) {
        write_hint(root, ex, lang, (name, *hint), step, out)?;
        writeln!(out)?;
    }
    write!(out, "{}/{} checks pass.", grade.passed, grade.total)?;
    if grade.is_pass() && variant == Variant::Starter {
        match manifest.exercises.get(position) {
            Some(next) => write!(
                out,
                " Exercise {} is done; next: `cargo run -p grade -- {}`.",
                ex.dir,
                next.number()
                    .map_or(next.dir.clone(), |n| format!("{n:02}"))
            )?,
            None => write!(out, " Exercise {} is done; it was the last one.", ex.dir)?,
        }
    }
    writeln!(out)?;
    Ok(grade)
}

/// `--hint`: the next hint for the check that failed in the last graded run
/// of `ex`, without running anything, remembered as shown. `Ok(false)` if
/// `memory` remembers no failing check of `ex` (or one the manifest no
/// longer has): then there is nothing to go on but a graded run.
pub fn next_hint(
    root: &Path,
    ex: &Exercise,
    memory: &mut HintMemory,
    out: &mut dyn Write,
) -> io::Result<bool> {
    next_hint_in(root, ex, memory, Lang::En, out)
}

/// [`next_hint`], shown in `lang`.
pub fn next_hint_in(
    root: &Path,
    ex: &Exercise,
    memory: &mut HintMemory,
    lang: Lang,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let Some(check) = memory
        .last_failure(&ex.dir)
        .and_then(|name| ex.checks.iter().find(|c| c.name == name))
    else {
        return Ok(false);
    };
    let ladder = check.hint.ladder();
    let at_top = memory.shown(&ex.dir, &check.name) >= ladder.len();
    let n = memory.next_step(&ex.dir, &check.name, ladder.len());
    let hint = ladder.get(n.saturating_sub(1)).copied().unwrap_or(0);
    write_hint(root, ex, lang, (&check.name, hint), (n, ladder.len()), out)?;
    if at_top {
        // Asked for more than there is: say so, rather than let the same
        // text pass for a new hint.
        writeln!(out, "{}", lang.last_hint_note(&check.name))?;
    }
    Ok(true)
}

/// `Hint 2, for slow-reader (...):` and the hint, wrapped, or its Chinese
/// form for `lang` Chinese. `check` is the check's name and the hint's
/// number; `step` is (which, of how many) on the check's ladder, and a
/// ladder of one says nothing about steps. A Chinese hint that cannot be
/// had (no Chinese README yet) is shown in English, after a note that says
/// why.
fn write_hint(
    root: &Path,
    ex: &Exercise,
    lang: Lang,
    check: (&str, usize),
    step: (usize, usize),
    out: &mut dyn Write,
) -> io::Result<()> {
    let (name, hint) = check;
    let (lang, text) = match read_hint(root, ex, lang, hint) {
        Err(why) if lang != Lang::En => {
            let readme = ex.readme_in(lang).display().to_string();
            writeln!(out, "{}", Lang::fallback_note(&readme, why.as_deref()))?;
            (Lang::En, read_hint(root, ex, Lang::En, hint))
        }
        text => (lang, text),
    };
    let readme = ex.readme_in(lang);
    match text {
        Ok(text) => {
            let intro = lang.hint_intro(hint, name, step, &readme.display().to_string());
            writeln!(out, "{intro}")?;
            out.write_all(hints::wrap(&text, 72, "    ").as_bytes())
        }
        Err(why) => writeln!(
            out,
            "(cannot show hint {hint} of {}: {})",
            readme.display(),
            why.unwrap_or_else(|| "the file is missing".into())
        ),
    }
}

/// Hint `hint` of `ex`'s README in `lang`, or why not: `None` if the README
/// is missing, else the error.
fn read_hint(
    root: &Path,
    ex: &Exercise,
    lang: Lang,
    hint: usize,
) -> Result<String, Option<String>> {
    let markdown = match std::fs::read_to_string(root.join(ex.readme_in(lang))) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(None),
        Err(e) => return Err(Some(e.to_string())),
    };
    let all = hints::parse_in(&markdown, lang).map_err(Some)?;
    hint.checked_sub(1)
        .and_then(|i| all.get(i))
        .cloned()
        .ok_or_else(|| Some(format!("it has no hint {hint}")))
}

/// The `--all` line for one exercise: `  done  04-select-queue  4/4 checks`.
pub fn progress_line(ex: &Exercise, width: usize, grade: Result<&Grade, &str>) -> String {
    match grade {
        Ok(g) if g.is_pass() => format!(
            "  done  {:width$}  {}/{} checks\n",
            ex.dir, g.passed, g.total
        ),
        Ok(g) => format!(
            "  todo  {:width$}  {}/{} checks   cargo run -p grade -- {}\n",
            ex.dir,
            g.passed,
            g.total,
            ex.number().map_or(ex.dir.clone(), |n| format!("{n:02}"))
        ),
        Err(why) => format!("  todo  {:width$}  {why}\n", ex.dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exercise of one hint in a workspace of its own, with its English
    /// README only: a Chinese hint falls back to English, with a note,
    /// until the Chinese README is there.
    #[test]
    fn a_missing_chinese_readme_falls_back_to_english_with_a_note() {
        let root = std::env::temp_dir().join(format!("grade-lang-{}", std::process::id()));
        let manifest = Manifest::parse(
            "[[exercise]]\ndir = \"99-x\"\ntitle = \"t\"\npackage = \"ex99-x\"\n\
             solution = \"ex99-x-solution\"\nchapter = \"ch01\"\n\
             checks = [{ name = \"echo\", hint = 1 }]\n",
        )
        .unwrap();
        let ex = &manifest.exercises[0];
        let dir = root.join(ex.starter_dir());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("README.md"), "## Hints\n\n1. Read the log.\n").unwrap();
        let hint = |lang| {
            let mut out = Vec::new();
            write_hint(&root, ex, lang, ("echo", 1), (1, 1), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            hint(Lang::ZhCn),
            "（没有 exercises/99-x/README.zh-CN.md，下面是英文提示）\n\
             Hint 1, for echo (all the hints: exercises/99-x/README.md):\n    Read the log.\n"
        );
        std::fs::write(dir.join("README.zh-CN.md"), "## 提示\n\n1. 读日志。\n").unwrap();
        assert_eq!(
            hint(Lang::ZhCn),
            "提示 1，对应 echo（全部提示见 exercises/99-x/README.zh-CN.md）：\n    读日志。\n"
        );
        assert!(hint(Lang::En).starts_with("Hint 1, for echo"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
