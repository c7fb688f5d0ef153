//! The authoring rules of the exercises, as tests: every exercise is in the
//! manifest with its starter and solution, every starter still fails the
//! grader, every reference solution passes it, and the grader's report reads
//! the same from run to run.
//!
//! `GRADE_BLESS=1 cargo test -p grade` rewrites the expected reports in
//! `tests/expected/` after a deliberate change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use grade::build::{CargoOutput, build};
use grade::manifest::HintRef;
use grade::{
    Exercise, Grade, HintMemory, Lang, Manifest, Variant, checks, grade, grade_with_memory, hints,
    next_hint,
};

fn root() -> PathBuf {
    test_support::workspace_root()
}

fn manifest() -> Manifest {
    Manifest::load(&root()).unwrap()
}

fn exercise(name: &str) -> Exercise {
    manifest().find(name).unwrap().clone()
}

/// Every starter and solution, built once with one `cargo build`.
fn programs() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let m = manifest();
        let packages: Vec<&str> = m
            .exercises
            .iter()
            .flat_map(|e| [e.package.as_str(), e.solution.as_str()])
            .collect();
        build(&root(), &packages, CargoOutput::Capture).unwrap()
    })
}

/// Grades one variant of `ex`, returning the grade and the report.
fn run(ex: &Exercise, variant: Variant) -> (Grade, String) {
    let program = &programs()[variant.package(ex)];
    let mut out = Vec::new();
    let g = grade(&root(), &manifest(), ex, variant, program, &mut out).unwrap();
    (g, String::from_utf8(out).unwrap())
}

/// Checks the rule every exercise follows: the starter fails (at least one
/// check, and the report then shows a hint), the solution passes every check.
fn starter_fails_and_solution_passes(name: &str) -> (String, String) {
    let ex = exercise(name);
    let (starter, starter_report) = run(&ex, Variant::Starter);
    assert!(
        !starter.is_pass(),
        "the starter of {} passes every check: it teaches nothing\n{starter_report}",
        ex.dir
    );
    assert!(
        starter_report.contains("\nHint "),
        "no hint shown:\n{starter_report}"
    );
    let (solution, solution_report) = run(&ex, Variant::Solution);
    assert!(
        solution.is_pass(),
        "the reference solution of {} fails\n{solution_report}",
        ex.dir
    );
    (starter_report, solution_report)
}

/// The report with what varies from run to run (the figures after a
/// check's name) replaced: every number on a PASS or FAIL line becomes `N`.
fn normalise(report: &str) -> String {
    let mut out = String::new();
    for line in report.lines() {
        if line.starts_with("  PASS  ") || line.starts_with("  FAIL  ") {
            let mut masked = String::new();
            let mut in_number = false;
            for c in line.chars() {
                if c.is_ascii_digit() || (in_number && c == '.') {
                    if !in_number {
                        masked.push('N');
                    }
                    in_number = true;
                } else {
                    in_number = false;
                    masked.push(c);
                }
            }
            out.push_str(&masked);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Compares `report` (normalised) with `tests/expected/NAME`, or writes it
/// there under `GRADE_BLESS=1`.
fn assert_report(name: &str, report: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name);
    let got = normalise(report);
    if std::env::var_os("GRADE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GRADE_BLESS=1 writes it)", path.display()));
    assert_eq!(
        got,
        want,
        "the report differs from {} (GRADE_BLESS=1 rewrites it after a deliberate change)",
        path.display()
    );
}

#[test]
fn every_exercise_directory_is_in_the_manifest_with_both_packages() {
    let m = manifest();
    let root = root();
    let numbered = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        names.sort();
        names
    };
    let listed: Vec<String> = m.exercises.iter().map(|e| e.dir.clone()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        listed, sorted,
        "the manifest lists the exercises out of order"
    );
    assert_eq!(numbered(&root.join("exercises")), listed);
    assert_eq!(numbered(&root.join("exercises/solutions")), listed);
    for ex in &m.exercises {
        for (dir, package) in [
            (ex.starter_dir(), &ex.package),
            (ex.solution_dir(), &ex.solution),
        ] {
            let toml = std::fs::read_to_string(root.join(&dir).join("Cargo.toml")).unwrap();
            assert!(
                toml.contains(&format!("name = \"{package}\"")),
                "{} is not package {package}",
                dir.display()
            );
        }
        let n = ex.number().unwrap();
        assert!(
            ex.package.starts_with(&format!("ex{n:02}-")),
            "{}: starter packages are called exNN-...",
            ex.package
        );
        assert_eq!(ex.solution, format!("{}-solution", ex.package));
    }
}

#[test]
fn every_check_exists_and_every_hint_is_in_its_readme() {
    for ex in manifest().exercises {
        let readme = std::fs::read_to_string(root().join(ex.readme())).unwrap();
        let hints = hints::parse(&readme).unwrap_or_else(|e| panic!("{}: {e}", ex.dir));
        assert!(!ex.checks.is_empty(), "{} has no checks", ex.dir);
        for c in &ex.checks {
            assert!(checks::exists(&c.name), "{}: no check {}", ex.dir, c.name);
            for hint in c.hint.ladder() {
                assert!(
                    (1..=hints.len()).contains(&hint),
                    "{}: check {} points to hint {hint}, the README has {}",
                    ex.dir,
                    c.name,
                    hints.len()
                );
            }
            // The README's table of checks names every check.
            assert!(
                readme.contains(&format!("`{}`", c.name)),
                "{}: the README does not describe check {}",
                ex.dir,
                c.name
            );
        }
        let page = ex.chapter_page();
        assert!(
            readme.contains(&format!("(../../{})", page.display())),
            "{}: the README does not link {}",
            ex.dir,
            page.display()
        );
        assert!(
            root().join(&page).is_file(),
            "{}: the chapter {} does not exist",
            ex.dir,
            page.display()
        );
        assert!(
            readme.contains(&format!(
                "cargo run -p grade -- {:02}",
                ex.number().unwrap()
            )),
            "{}: the README does not say how to grade it",
            ex.dir
        );
    }
}

#[test]
fn starters_leave_work_marked_and_solutions_leave_none() {
    for ex in manifest().exercises {
        let src = |dir: PathBuf| -> String {
            let mut text = String::new();
            for entry in std::fs::read_dir(root().join(dir).join("src")).unwrap() {
                text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
            text
        };
        let starter = src(ex.starter_dir());
        // A starter marks the work with `// TODO`; where it needs code to
        // compile, that is a `todo!()` or a naive version the grader fails.
        assert!(
            starter.contains("// TODO"),
            "{}: the starter marks no work with // TODO",
            ex.dir
        );
        // The starter's lines inside a solution (`//| ...`) are comments.
        let solution: String = src(ex.solution_dir())
            .lines()
            .filter(|l| !l.trim_start().starts_with("//|"))
            .collect();
        assert!(
            !solution.contains("todo!(") && !solution.contains("TODO"),
            "{}: the solution still has a TODO",
            ex.dir
        );
    }
}

/// A starter is made from its solution (`grade::starter`): one edited by
/// hand, or a solution changed without `--make-starters`, fails here.
#[test]
fn every_starter_is_made_from_its_solution() {
    let mut stale = Vec::new();
    for ex in manifest().exercises {
        assert!(
            grade::starter::has_regions(&root(), &ex).unwrap(),
            "{}: the solution marks no region for the starter",
            ex.dir
        );
        let files = grade::starter::starter_files(&root(), &ex).unwrap_or_else(|e| panic!("{e}"));
        assert!(!files.is_empty(), "{}: no solution sources", ex.dir);
        for file in files {
            if file.current.as_deref() != Some(file.generated.as_str()) {
                stale.push(file.path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "these starters differ from what their solutions make; \
         run `cargo run -p grade -- --make-starters`:\n{}",
        stale.join("\n")
    );
}

#[test]
fn exercise_04_starter_fails_solution_passes_and_reports_read_the_same() {
    let (starter, solution) = starter_fails_and_solution_passes("04");
    assert_report("04-starter.txt", &starter);
    assert_report("04-solution.txt", &solution);
}

/// One graded run of `program` as the student's code, as `cargo run -p
/// grade -- NN` does it: the memory read from `memory`, used, written back.
/// Returns the line that names the hint shown, if one is.
fn remembered_run(ex: &Exercise, program: &Path, memory: &Path) -> Option<String> {
    let mut m = HintMemory::load(memory).unwrap();
    let mut out = Vec::new();
    grade_with_memory(
        &root(),
        &manifest(),
        ex,
        Variant::Starter,
        program,
        &mut out,
        Some(&mut m),
    )
    .unwrap();
    m.save().unwrap();
    hint_line(&out)
}

fn hint_line(report: &[u8]) -> Option<String> {
    String::from_utf8_lossy(report)
        .lines()
        .find(|l| l.starts_with("Hint "))
        .map(|l| l.split(" (").next().unwrap_or(l).to_string())
}

/// Exercise 1 with its `refuse-when-full` check (the starter's first failure)
/// given a ladder of all three hints: successive failures climb it, `--hint`
/// climbs it without a run, and a pass starts it over. The memory is a file
/// of this test's own, never the one in the target directory.
#[test]
fn failing_the_same_check_again_shows_the_next_hint_of_its_ladder() {
    let mut ex = exercise("01");
    let check = ex
        .checks
        .iter_mut()
        .find(|c| c.name == "refuse-when-full")
        .unwrap();
    check.hint = HintRef::Ladder(vec![1, 2, 3]);
    let memory =
        std::env::temp_dir().join(format!("grade-hints-{}-ladder.json", std::process::id()));
    let _ = std::fs::remove_file(&memory);
    let starter = &programs()[&ex.package];
    let solution = &programs()[&ex.solution];
    let shown: Vec<Option<String>> = (0..3)
        .map(|_| remembered_run(&ex, starter, &memory))
        .collect();
    let want = |n: usize| Some(format!("Hint {n}, for refuse-when-full"));
    assert_eq!(shown, [want(1), want(2), want(3)]);
    // The top of the ladder is where it stays.
    assert_eq!(remembered_run(&ex, starter, &memory), want(3));

    // A pass starts the check over with a nudge.
    let passed = remembered_run(&ex, solution, &memory);
    assert_eq!(passed, None, "the solution passes: no hint");
    assert_eq!(remembered_run(&ex, starter, &memory), want(1));

    // `--hint` shows the next one at once, and a run goes on from there.
    let mut m = HintMemory::load(&memory).unwrap();
    let mut out = Vec::new();
    assert!(next_hint(&root(), &ex, &mut m, &mut out).unwrap());
    m.save().unwrap();
    assert_eq!(hint_line(&out), want(2));
    assert!(String::from_utf8_lossy(&out).contains("(step 2 of 3; all the hints:"));
    assert_eq!(remembered_run(&ex, starter, &memory), want(3));
    let mut m = HintMemory::load(&memory).unwrap();
    let mut out = Vec::new();
    assert!(next_hint(&root(), &ex, &mut m, &mut out).unwrap());
    assert_eq!(hint_line(&out), want(3));
    assert!(String::from_utf8_lossy(&out).contains("(that is the last hint for refuse-when-full)"));
    std::fs::remove_file(&memory).unwrap();

    // With nothing remembered, `--hint` has nothing to show.
    let mut empty = HintMemory::load(&memory).unwrap();
    assert!(!next_hint(&root(), &ex, &mut empty, &mut Vec::new()).unwrap());
}

/// Why io_uring cannot be used here, if it cannot: exercise 9 needs it, and
/// where the kernel or a container refuses it, its test says so and passes,
/// as the uring-completion chapter's own tests do. The chapter's server
/// asks the kernel, and names the cause in its one error line.
fn io_uring_refused() -> Option<String> {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let mut child = std::process::Command::new(test_support::bin_path("uring-completion"))
        .args(["--host", "127.0.0.1", "--port", "0", "--quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (!status.success() && err.contains("io_uring")).then(|| err.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still running: io_uring works.
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// One test per exercise (so they run in parallel), and the list of them,
/// which must cover the manifest.
macro_rules! exercise_tests {
    ($($test:ident => $number:literal),* $(,)?) => {
        const TESTED: &[&str] = &["04", $($number),*];
        $(
            #[test]
            fn $test() {
                if $number == "09" && let Some(why) = io_uring_refused() {
                    eprintln!("skipping exercise 09: {why}");
                    return;
                }
                starter_fails_and_solution_passes($number);
            }
        )*
    };
}

exercise_tests! {
    exercise_01_starter_fails_solution_passes => "01",
    exercise_02_starter_fails_solution_passes => "02",
    exercise_03_starter_fails_solution_passes => "03",
    exercise_05_starter_fails_solution_passes => "05",
    exercise_06_starter_fails_solution_passes => "06",
    exercise_07_starter_fails_solution_passes => "07",
    exercise_08_starter_fails_solution_passes => "08",
    exercise_09_starter_fails_solution_passes => "09",
    exercise_10_starter_fails_solution_passes => "10",
}

#[test]
fn every_exercise_in_the_manifest_has_a_test() {
    for ex in manifest().exercises {
        let n = format!("{:02}", ex.number().unwrap());
        assert!(TESTED.contains(&n.as_str()), "exercise {n} is not tested");
    }
}

/// The report shown in the book (`docs/src/exercises.md`, the block after
/// "the grader prints:") is the one the grader prints today, numbers aside.
#[test]
fn the_book_shows_the_report_the_grader_prints() {
    let page = std::fs::read_to_string(root().join("docs/src/exercises.md")).unwrap();
    let mut lines = page
        .lines()
        .skip_while(|l| !l.ends_with("the grader prints:"));
    assert!(lines.next().is_some(), "no report in docs/src/exercises.md");
    let block: Vec<&str> = lines
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    let shown = normalise(&(block.join("\n") + "\n"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/04-starter.txt");
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        shown,
        want,
        "docs/src/exercises.md shows a report that differs from {} (paste a fresh \
         `cargo run -p grade -- 04` on the starter)",
        path.display()
    );
}

/// Whether `nc` is OpenBSD netcat, which the READMEs' demos use (`-N`).
fn openbsd_netcat() -> bool {
    std::process::Command::new("nc")
        .arg("-h")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).contains("OpenBSD"))
}

/// Runs `pipeline` in `sh` (at most 60 s) and returns what it printed.
fn run_pipeline(pipeline: &str) -> String {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new("sh")
        .args(["-c", pipeline])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`{pipeline}` did not end in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

/// The README of exercise 4 promises a netcat command that shows the quota
/// at work: a right server, started with the README's `--quota`, returns the
/// quota and its line, and the starter, which has no quota yet, does not.
#[test]
fn exercise_04_readme_demo_shows_the_quota() {
    let readme =
        std::fs::read_to_string(root().join("exercises/04-select-queue/README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().map(str::trim).collect();
    let demos: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("| nc -N 127.0.0.1 10000 |"))
        .collect();
    let [at] = demos[..] else {
        panic!("the README should show one netcat demo, found {demos:?}");
    };
    let demo = lines[at];
    let sent: usize = demo
        .strip_prefix("head -c ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the demo should start with `head -c N`: {demo}"));
    // The quota is the last one the README starts the server with before
    // the demo, and the count it promises comes after it.
    let option = "-p ex04-select-queue -- --quota ";
    let before = lines[..at].join(" ");
    let quota: usize = before
        .rsplit_once(option)
        .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{option}N` before the demo"));
    let after = lines[at..].join(" ");
    let promised: usize = after
        .split_once("A right server prints `")
        .and_then(|(_, r)| r.split('`').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"A right server prints `N`\" after the demo"));
    let line = format!("quota of {quota} bytes used up\n");
    assert!(quota < sent, "the demo sends no more than the quota");
    assert_eq!(promised, quota + line.len(), "the README's count is wrong");
    if !openbsd_netcat() {
        let why = "`nc` is not OpenBSD netcat (apt-get install netcat-openbsd)";
        assert!(
            std::env::var_os("EXERCISE_DEMO_REQUIRED").is_none(),
            "EXERCISE_DEMO_REQUIRED is set, but {why}"
        );
        eprintln!("skipped: the README's demo is not run: {why}");
        return;
    }
    let ex = exercise("04");
    let returned = |variant: Variant| -> usize {
        let quota = quota.to_string();
        let server = test_support::ServerProcess::start(
            &programs()[variant.package(&ex)],
            &["--quiet", "--quota", &quota],
        );
        let pipeline = demo.replace("10000", &server.port.to_string());
        let out = run_pipeline(&pipeline);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("`{pipeline}` printed {out:?}, not a count"))
    };
    for _ in 0..2 {
        assert_eq!(
            returned(Variant::Solution),
            promised,
            "the solution did not return what the README promises: {demo}"
        );
    }
    let starter = returned(Variant::Starter);
    assert_ne!(
        starter, promised,
        "the starter already returns what the README promises: {demo}"
    );
}

/// The names in the first column of a README's tables (the checks, and in
/// exercise 3 the console's commands too), in order.
fn table_names(readme: &str) -> Vec<String> {
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The indented code blocks of a README (commands, and lines a server
/// prints), in order: runs of lines indented by four spaces after a blank
/// line. Lines of a list item never follow a blank line, so they are not
/// taken for code.
fn code_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    let mut after_blank = true;
    for line in readme.lines() {
        let code = line.strip_prefix("    ");
        match (&mut block, code) {
            (Some(b), Some(text)) => {
                b.push('\n');
                b.push_str(text);
            }
            (None, Some(text)) if after_blank => block = Some(text.to_string()),
            (Some(_), None) => blocks.extend(block.take()),
            _ => {}
        }
        after_blank = line.trim().is_empty();
    }
    blocks.extend(block);
    blocks
}

/// Whether `path` is a file, or a page of the Chinese edition not translated
/// yet: one whose English page exists. The link works once it is, and
/// book-tests' `tests/parity.rs` lists the pages still missing, as the
/// book's own link check does.
fn exists_or_pending(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    let root = root();
    let lexical: PathBuf = path.components().fold(PathBuf::new(), |mut p, c| {
        match c {
            std::path::Component::ParentDir => {
                p.pop();
            }
            std::path::Component::CurDir => {}
            c => p.push(c),
        }
        p
    });
    lexical
        .strip_prefix(root.join("docs/zh/src"))
        .is_ok_and(|page| root.join("docs/src").join(page).is_file())
}

/// Each exercise has a Chinese README beside the English one, the same
/// README in Chinese: as many hints (the manifest's hint numbers name the
/// same hint in both), the same tables of checks, the same commands, its
/// chapter in the Chinese edition, and a link to the other README under
/// each title. `exercises/README.md` has its Chinese version too.
#[test]
fn every_exercise_has_a_chinese_readme_with_the_same_hints_and_checks() {
    const TO_ZH: &str = "中文：[README.zh-CN.md](README.zh-CN.md)";
    const TO_EN: &str = "English: [README.md](README.md)";
    let root = root();
    let mut problems = Vec::new();
    // The link to the other README is the first line under the title.
    let under_title = |text: &str| -> String {
        text.lines()
            .skip_while(|l| !l.starts_with("# "))
            .skip(1)
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string()
    };
    let mut pairs = vec![(
        PathBuf::from("exercises/README.md"),
        PathBuf::from("exercises/README.zh-CN.md"),
    )];
    pairs.extend(
        manifest()
            .exercises
            .iter()
            .map(|ex| (ex.readme(), ex.readme_in(Lang::ZhCn))),
    );
    for (en_path, zh_path) in &pairs {
        let en = std::fs::read_to_string(root.join(en_path)).unwrap();
        let Ok(zh) = std::fs::read_to_string(root.join(zh_path)) else {
            problems.push(format!(
                "{} is missing: translate {}",
                zh_path.display(),
                en_path.display()
            ));
            continue;
        };
        if under_title(&en) != TO_ZH {
            problems.push(format!(
                "{}: the line under the title is not `{TO_ZH}`",
                en_path.display()
            ));
        }
        if under_title(&zh) != TO_EN {
            problems.push(format!(
                "{}: the line under the title is not `{TO_EN}`",
                zh_path.display()
            ));
        }
        if code_blocks(&en) != code_blocks(&zh) {
            problems.push(format!(
                "{}: the code blocks are {:?}, the English README's {:?} (copied verbatim, in order)",
                zh_path.display(),
                code_blocks(&zh),
                code_blocks(&en)
            ));
        }
        if table_names(&en) != table_names(&zh) {
            problems.push(format!(
                "{}: its tables name {:?}, the English README's {:?}",
                zh_path.display(),
                table_names(&zh),
                table_names(&en)
            ));
        }
    }
    for ex in manifest().exercises {
        let zh_path = ex.readme_in(Lang::ZhCn);
        let Ok(zh) = std::fs::read_to_string(root.join(&zh_path)) else {
            continue; // said above
        };
        let en = std::fs::read_to_string(root.join(ex.readme())).unwrap();
        let en_hints = hints::parse(&en).unwrap_or_else(|e| panic!("{}: {e}", ex.dir));
        match hints::parse_in(&zh, Lang::ZhCn) {
            Err(e) => problems.push(format!("{}: {e}", zh_path.display())),
            Ok(h) if h.len() != en_hints.len() => problems.push(format!(
                "{}: {} hints under `## 提示`, the English README has {} (the manifest's \
                 numbers must name the same hint in both)",
                zh_path.display(),
                h.len(),
                en_hints.len()
            )),
            Ok(_) => {}
        }
        let names = table_names(&zh);
        for c in &ex.checks {
            if !names.contains(&c.name) {
                problems.push(format!(
                    "{}: its table of checks does not name `{}`",
                    zh_path.display(),
                    c.name
                ));
            }
        }
        let page = ex.chapter_page_zh();
        if !zh.contains(&format!("(../../{})", page.display())) {
            problems.push(format!(
                "{}: does not link {}",
                zh_path.display(),
                page.display()
            ));
        }
        if !exists_or_pending(&root.join(&page)) {
            problems.push(format!(
                "{}: links {}, which does not exist",
                zh_path.display(),
                page.display()
            ));
        }
        let grade = format!("cargo run -p grade -- {:02}", ex.number().unwrap());
        if !zh.contains(&grade) {
            problems.push(format!("{}: does not say `{grade}`", zh_path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every relative link of the exercises' READMEs, English and Chinese,
/// names a file that exists (or a Chinese page not translated yet), and a
/// `#fragment` one of its headings.
#[test]
fn every_link_of_the_exercise_readmes_resolves() {
    let root = root();
    let mut readmes = Vec::new();
    for dir in [root.join("exercises")].into_iter().chain(
        manifest()
            .exercises
            .iter()
            .map(|e| root.join(e.starter_dir())),
    ) {
        for name in ["README.md", "README.zh-CN.md"] {
            if dir.join(name).is_file() {
                readmes.push(dir.join(name));
            }
        }
    }
    let mut problems = Vec::new();
    let mut seen = 0;
    for readme in &readmes {
        let text = std::fs::read_to_string(readme).unwrap();
        for (line, target) in book_tests::links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            seen += 1;
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let path = readme.parent().unwrap().join(file);
            let at = format!(
                "{}:{line}: `{target}`",
                readme.strip_prefix(&root).unwrap().display()
            );
            let Ok(page) = std::fs::read_to_string(&path) else {
                if !exists_or_pending(&path) {
                    problems.push(format!("{at}: no such file"));
                }
                continue;
            };
            if !fragment.is_empty() && !book_tests::heading_ids(&page).contains(fragment) {
                problems.push(format!(
                    "{at}: no heading of {file} has the anchor #{fragment}"
                ));
            }
        }
    }
    assert!(seen > 20, "only {seen} links found: is the scan broken?");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
