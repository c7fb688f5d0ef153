//! `cargo run -p grade -- 04`: builds exercise 4 and grades it.
//! `cargo run -p grade -- --all`: grades every exercise, progress as n/N.
//! `cargo run -p grade -- --solution 04`: grades the reference solution.
//! `cargo run -p grade -- --list`: the exercises and their checks.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use grade::build::{CargoOutput, build};
use grade::{Exercise, Manifest, Variant, grade, progress_line};

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
    /// List the exercises and their checks
    #[arg(long, conflicts_with_all = ["name", "all"])]
    list: bool,
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
    let result = if args.list {
        list(&manifest)
    } else if args.all {
        all(&root, &manifest, variant)
    } else if let Some(name) = &args.name {
        match manifest.find(name) {
            Some(ex) => one(&root, &manifest, ex, variant),
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
    let g = grade(root, manifest, ex, variant, &program, &mut out)?;
    Ok(g.is_pass())
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
