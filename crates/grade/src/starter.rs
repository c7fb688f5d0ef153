//! Starters are made from their solutions, so that the two share every line
//! that is not the exercise. In a solution's source, a region
//!
//! ```text
//!     // BEGIN SOLUTION
//!     let n = stream.read(&mut buf)?;   (only in the solution)
//!     // STARTER
//!     //| // TODO: read what the client sent
//!     //| let n: usize = todo!("read");
//!     // END SOLUTION
//! ```
//!
//! becomes, in the starter file of the same path, the `//|` lines with the
//! marker (and one space after it) removed, indentation kept. The `STARTER`
//! part is optional. Everything outside a region is copied unchanged.
//! `cargo run -p grade -- --make-starters` rewrites every starter.

use std::fs;
use std::path::{Path, PathBuf};

use crate::manifest::{Exercise, Manifest};

const BEGIN: &str = "// BEGIN SOLUTION";
const STARTER: &str = "// STARTER";
const END: &str = "// END SOLUTION";
const STARTER_LINE: &str = "//|";

/// The starter text made from one solution file, or where its markers are
/// wrong (`name` is only for the message).
pub fn starter_from_solution(name: &str, solution: &str) -> Result<String, String> {
    enum Part {
        Shared,
        Solution,
        Starter,
    }
    let mut part = Part::Shared;
    let mut out = String::with_capacity(solution.len());
    let mut opened_at = 0;
    for (i, line) in solution.split_inclusive('\n').enumerate() {
        let number = i + 1;
        let trimmed = line.trim();
        let marker = [BEGIN, STARTER, END].contains(&trimmed);
        match part {
            Part::Shared => {
                if trimmed == BEGIN {
                    part = Part::Solution;
                    opened_at = number;
                } else if marker {
                    return Err(format!("{name}:{number}: `{trimmed}` outside a region"));
                } else {
                    out.push_str(line);
                }
            }
            Part::Solution | Part::Starter if trimmed == BEGIN => {
                return Err(format!(
                    "{name}:{number}: a region opened inside the one opened at line {opened_at}"
                ));
            }
            Part::Solution | Part::Starter if trimmed == END => part = Part::Shared,
            Part::Solution if trimmed == STARTER => part = Part::Starter,
            Part::Solution => {}
            Part::Starter => {
                let indent = &line[..line.len() - line.trim_start().len()];
                let Some(rest) = line.trim_start().strip_prefix(STARTER_LINE) else {
                    return Err(format!(
                        "{name}:{number}: a starter part holds only `//|` lines"
                    ));
                };
                let text = rest.strip_prefix(' ').unwrap_or(rest);
                if text.trim().is_empty() {
                    out.push_str(if line.ends_with('\n') { "\n" } else { "" });
                } else {
                    out.push_str(indent);
                    out.push_str(text);
                }
            }
        }
    }
    match part {
        Part::Shared => Ok(out),
        _ => Err(format!("{name}:{opened_at}: region never ended")),
    }
}

/// Every `.rs` file under `dir`, as paths relative to it, sorted.
fn sources(dir: &Path) -> Result<Vec<PathBuf>, String> {
    fn walk(base: &Path, dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                walk(base, &path, found)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found)?;
    found.sort();
    Ok(found)
}

/// One starter file: where it lives, what the solution makes of it, and what
/// is there now (`None` if it does not exist).
pub struct StarterFile {
    pub path: PathBuf,
    pub generated: String,
    pub current: Option<String>,
}

/// The starter files of `ex`, made from its solution. A starter source that
/// no solution source makes is an error too: it could drift.
pub fn starter_files(root: &Path, ex: &Exercise) -> Result<Vec<StarterFile>, String> {
    let solution_src = root.join(ex.solution_dir()).join("src");
    let starter_src = root.join(ex.starter_dir()).join("src");
    let solution_files = sources(&solution_src)?;
    if let Ok(starter_only) = sources(&starter_src)
        && let Some(extra) = starter_only.iter().find(|p| !solution_files.contains(p))
    {
        return Err(format!(
            "{}: {} has no counterpart in the solution",
            ex.dir,
            starter_src.join(extra).display()
        ));
    }
    let mut files = Vec::new();
    for rel in solution_files {
        let from = solution_src.join(&rel);
        let text = fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        let generated = starter_from_solution(&from.display().to_string(), &text)?;
        let path = starter_src.join(&rel);
        let current = fs::read_to_string(&path).ok();
        files.push(StarterFile {
            path,
            generated,
            current,
        });
    }
    Ok(files)
}

/// Whether any of `ex`'s solution sources has a region: without one, the
/// starter would be the solution.
pub fn has_regions(root: &Path, ex: &Exercise) -> Result<bool, String> {
    let solution_src = root.join(ex.solution_dir()).join("src");
    for rel in sources(&solution_src)? {
        let path = solution_src.join(rel);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if text.lines().any(|l| l.trim() == BEGIN) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Rewrites every starter that differs from what its solution makes; returns
/// the files written. An exercise whose solution has no region is left alone
/// (and named in `skipped`): its starter would otherwise become the solution.
pub fn make_starters(
    root: &Path,
    manifest: &Manifest,
    skipped: &mut Vec<String>,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for ex in &manifest.exercises {
        if !has_regions(root, ex)? {
            skipped.push(ex.dir.clone());
            continue;
        }
        for file in starter_files(root, ex)? {
            if file.current.as_deref() != Some(file.generated.as_str()) {
                if let Some(dir) = file.path.parent() {
                    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                fs::write(&file.path, &file.generated)
                    .map_err(|e| format!("{}: {e}", file.path.display()))?;
                written.push(file.path);
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_becomes_its_starter_part() {
        let solution = "fn main() {\n    // BEGIN SOLUTION\n    let n = 1;\n    // STARTER\n    //| // TODO: choose n\n    //|\n    //|     let n = todo!();\n    // END SOLUTION\n    println!(\"{n}\");\n}\n";
        let starter = starter_from_solution("t", solution).unwrap();
        assert_eq!(
            starter,
            "fn main() {\n    // TODO: choose n\n\n        let n = todo!();\n    println!(\"{n}\");\n}\n"
        );
    }

    #[test]
    fn a_region_without_a_starter_part_disappears() {
        let solution = "a\n// BEGIN SOLUTION\nb\n// END SOLUTION\nc\n";
        assert_eq!(starter_from_solution("t", solution).unwrap(), "a\nc\n");
    }

    #[test]
    fn wrong_markers_are_errors() {
        for bad in [
            "// BEGIN SOLUTION\nx\n",
            "// END SOLUTION\n",
            "// STARTER\n",
            "// BEGIN SOLUTION\n// BEGIN SOLUTION\n// END SOLUTION\n",
            "// BEGIN SOLUTION\n// STARTER\nnot a starter line\n// END SOLUTION\n",
        ] {
            assert!(starter_from_solution("t", bad).is_err(), "{bad:?} accepted");
        }
    }
}
