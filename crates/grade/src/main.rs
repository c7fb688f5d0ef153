//! `cargo run -p grade -- 04`: builds exercise 4 and grades it.
//! `cargo run -p grade -- --all`: grades every exercise, progress as n/N.
//! `cargo run -p grade -- 04 --hint`: the next hint for the check that
//! failed last, without grading again.
//! `cargo run -p grade -- --solution 04`: grades the reference solution.
//! `cargo run -p grade -- --list`: the exercises and their checks.
//! `cargo run -p grade -- --class DIR`: grades every student's copy in DIR.
//! `cargo run -p grade -- --make-starters`: rewrites the starters from the
//! solutions' markers (see `grade::starter`).
//! `cargo run -p grade -- 04 --lang zh-CN`: the hints in Chinese, from
//! `README.zh-CN.md` (also the default when the locale is Chinese).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use grade::build::{CargoOutput, build};
use grade::class::Cell;
use grade::{
    Exercise, HintMemory, HintOptions, Lang, Manifest, Variant, grade, grade_with_hints,
    progress_line,
};

/// Grades the exercises in exercises/: builds one, runs its checks, and
/// prints one line per check and a hint for the first that fails.
#[derive(Parser)]
#[command(name = "grade")]
struct Args {
    /// The exercise: its number (4 or 04), its directory (04-select-queue)
    /// or its package (ex04-select-queue)
    name: Option<String>,
    /// Grade every exercise and show the progress
    #[arg(long, conflicts_with = "name")]
    all: bool,
    /// Grade the reference solution (exercises/solutions/) instead
    #[arg(long)]
    solution: bool,
    /// Show the next hint for the check that failed last, without grading
    /// again (each run that fails the same check again shows the next one
    /// anyway)
    #[arg(long, requires = "name", conflicts_with_all = ["all", "solution", "list"])]
    hint: bool,
    /// List the exercises and their checks
    #[arg(long, conflicts_with_all = ["name", "all"])]
    list: bool,
    /// The language of the hints: en, or zh-CN for the Chinese READMEs
    /// (README.zh-CN.md). Without it, Chinese when LC_ALL, LC_MESSAGES or
    /// LANG (the first one set) starts with zh, else English. The checks'
    /// lines are English in both
    #[arg(long, value_name = "LANG", value_parser = Lang::parse)]
    lang: Option<Lang>,
    /// Grade a class: DIR holds one folder per student, each a copy of
    /// exercises/ (or of some of its folders); prints a table
    #[arg(long, value_name = "DIR", conflicts_with_all = ["name", "all", "solution", "list", "hint"])]
    class: Option<PathBuf>,
    /// With --class, print the table as JSON
    #[arg(long, requires = "class")]
    json: bool,
    /// Rewrite every starter from its solution (the regions between
    /// `// BEGIN SOLUTION` and `// END SOLUTION`)
    #[arg(long, conflicts_with_all = ["name", "all", "solution", "list", "hint", "class"])]
    make_starters: bool,
    /// Grade this already built server as exercise NAME and print the grade
    /// as JSON: how --class grades each copy, in a process of its own
    #[arg(long, value_name = "PATH", requires = "name", hide = true)]
    grade_program: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Args = echo_common::parse_args();
    let root = test_support::workspace_root();
    let manifest = match Manifest::load(&root) {
        Ok(m) => m,
        Err(e) => echo_common::exit_with_error(e),
    };
    let variant = if args.solution {
        Variant::Solution
    } else {
        Variant::Starter
    };
    // Checks open many connections; a low soft limit must not fail them.
    let _ = echo_common::raise_fd_limit();
    if args.make_starters {
        let mut skipped = Vec::new();
        match grade::starter::make_starters(&root, &manifest, &mut skipped) {
            Ok(written) => {
                for dir in &skipped {
                    println!("left {dir} alone: its solution has no `// BEGIN SOLUTION` region");
                }
                for path in &written {
                    println!("wrote {}", path.display());
                }
                println!("{} starter file(s) rewritten", written.len());
                return ExitCode::SUCCESS;
            }
            Err(e) => echo_common::exit_with_error(e),
        }
    }
    let lang = Lang::choose(args.lang);
    let result = if let Some(dir) = &args.class {
        class(&root, &manifest, dir, args.json)
    } else if let (Some(program), Some(name)) = (&args.grade_program, &args.name) {
        match manifest.find(name) {
            Some(ex) => grade_program(&root, &manifest, ex, program),
            None => echo_common::exit_with_error(format_args!("no exercise called {name:?}")),
        }
    } else if args.list {
        list(&manifest)
    } else if args.all {
        all(&root, &manifest, variant)
    } else if let Some(name) = &args.name {
        match manifest.find(name) {
            Some(ex) if args.hint => hint(&root, &manifest, ex, lang),
            Some(ex) => one(&root, &manifest, ex, variant, lang),
            None => echo_common::exit_with_error(format_args!(
                "no exercise called {name:?}; `cargo run -p grade -- --list` lists them"
            )),
        }
    } else {
        let _ = list(&manifest);
        println!("\nGrade one with `cargo run -p grade -- NN`, all with `--all`.");
        Ok(true)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => echo_common::exit_with_error(e),
    }
}

fn list(manifest: &Manifest) -> io::Result<bool> {
    let mut out = io::stdout().lock();
    for ex in &manifest.exercises {
        writeln!(out, "{}  {}", ex.dir, ex.title)?;
        let names: Vec<&str> = ex.checks.iter().map(|c| c.name.as_str()).collect();
        writeln!(
            out,
            "    read {}; checks: {}",
            ex.chapter_page().display(),
            names.join(", ")
        )?;
    }
    Ok(true)
}

fn build_one(
    root: &std::path::Path,
    package: &str,
    output: CargoOutput,
) -> Result<PathBuf, String> {
    let mut built = build(root, &[package], output)?;
    built
        .remove(package)
        .ok_or_else(|| format!("cargo built no binary called {package}"))
}

fn one(
    root: &std::path::Path,
    manifest: &Manifest,
    ex: &Exercise,
    variant: Variant,
    lang: Lang,
) -> io::Result<bool> {
    let package = variant.package(ex);
    eprintln!("Building {package} (cargo build -p {package})");
    let program = match build_one(root, package, CargoOutput::Show) {
        Ok(p) => p,
        Err(e) => {
            println!("FAIL  {package} does not build: {e}");
            return Ok(false);
        }
    };
    let mut out = io::stdout().lock();
    // Only the student's own runs climb the hint ladders: grading the
    // solution says nothing about where the student is.
    let mut memory = match variant {
        Variant::Starter => HintMemory::load(&HintMemory::default_path(root)),
        Variant::Solution => None,
    };
    let hints = HintOptions {
        memory: memory.as_mut(),
        lang,
    };
    let g = grade_with_hints(root, manifest, ex, variant, &program, &mut out, hints)?;
    if let Some(m) = &memory {
        // Without the memory the next run shows the same hint again, as
        // if there were no memory at all: not worth an error.
        let _ = m.save();
    }
    Ok(g.is_pass())
}

/// `NN --hint`: the next hint for the check that failed last, or, with no
/// failure remembered (or no memory), a graded run, which shows one.
fn hint(
    root: &std::path::Path,
    manifest: &Manifest,
    ex: &Exercise,
    lang: Lang,
) -> io::Result<bool> {
    if let Some(mut memory) = HintMemory::load(&HintMemory::default_path(root)) {
        let mut out = io::stdout().lock();
        if grade::next_hint_in(root, ex, &mut memory, lang, &mut out)? {
            // As in `one`: a memory that cannot be written only means the
            // next --hint shows this hint again.
            let _ = memory.save();
            return Ok(false);
        }
    }
    one(root, manifest, ex, Variant::Starter, lang)
}

fn all(root: &std::path::Path, manifest: &Manifest, variant: Variant) -> io::Result<bool> {
    let width = manifest
        .exercises
        .iter()
        .map(|e| e.dir.len())
        .max()
        .unwrap_or(0);
    let mut done = 0;
    let mut out = io::stdout().lock();
    for ex in &manifest.exercises {
        let package = variant.package(ex);
        let line = match build_one(root, package, CargoOutput::Capture) {
            Err(_) => progress_line(
                ex,
                width,
                Err(&format!("does not build: cargo build -p {package}")),
            ),
            Ok(program) => {
                let g = grade(root, manifest, ex, variant, &program, &mut io::sink())?;
                if g.is_pass() {
                    done += 1;
                }
                progress_line(ex, width, Ok(&g))
            }
        };
        out.write_all(line.as_bytes())?;
        out.flush()?;
    }
    let total = manifest.exercises.len();
    writeln!(out, "\nProgress: {done}/{total} exercises done.")?;
    Ok(done == total)
}

/// `--grade-program`: one line of JSON, `{"passed":k,"total":n}`, for
/// `--class`, which reads it from this process.
fn grade_program(
    root: &std::path::Path,
    manifest: &Manifest,
    ex: &Exercise,
    program: &std::path::Path,
) -> io::Result<bool> {
    let g = grade(
        root,
        manifest,
        ex,
        Variant::Starter,
        program,
        &mut io::sink(),
    )?;
    println!(
        "{}",
        serde_json::json!({ "passed": g.passed, "total": g.total })
    );
    Ok(true)
}

/// `--class DIR`: builds and grades each student's copy of each exercise,
/// with progress on stderr, then prints the table (or JSON) on stdout.
fn class(
    root: &std::path::Path,
    manifest: &Manifest,
    dir: &std::path::Path,
    json: bool,
) -> io::Result<bool> {
    let students = grade::class::students(dir).map_err(io::Error::other)?;
    if students.is_empty() {
        return Err(io::Error::other(format!(
            "{} holds no student folders",
            dir.display()
        )));
    }
    let grader = std::env::current_exe()?;
    let target = grade::class::target_dir(root);
    let mut rows = Vec::new();
    for student in &students {
        let work = grade::class::student_work_dir(&target, &student.name);
        let mut cells = Vec::new();
        for ex in &manifest.exercises {
            let copy = student.dir.join(&ex.dir);
            if !copy.is_dir() {
                cells.push(Cell::Missing);
                continue;
            }
            eprintln!("{}: building and grading {}", student.name, ex.dir);
            let cell = match grade::class::build_copy(root, ex, &copy, &work) {
                Ok(program) => grade::class::grade_in_child(&grader, ex, &program),
                Err(cell) => cell,
            };
            eprintln!("{}: {}: {}", student.name, ex.dir, cell.text());
            cells.push(cell);
        }
        rows.push((student.name.clone(), cells));
    }
    let mut out = io::stdout().lock();
    if json {
        let value = grade::class::json(&manifest.exercises, &rows);
        writeln!(out, "{value:#}")?;
    } else {
        out.write_all(grade::class::table(&manifest.exercises, &rows).as_bytes())?;
    }
    Ok(true)
}
