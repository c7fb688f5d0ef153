//! `exercises/exercises.toml`: the exercises in the order a class takes
//! them, each with its starter and solution packages, its checks, and the
//! hints each check points to.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the manifest lives, relative to the workspace root.
pub const MANIFEST: &str = "exercises/exercises.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "exercise")]
    pub exercises: Vec<Exercise>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// The directory under `exercises/` (and under `exercises/solutions/`),
    /// starting with the exercise's two-digit number: `04-select-queue`.
    pub dir: String,
    /// One line: what the student makes work.
    pub title: String,
    /// The starter's package (`cargo build -p ...`).
    pub package: String,
    /// The reference solution's package.
    pub solution: String,
    /// The book page to read first: `docs/src/<chapter>.md`.
    pub chapter: String,
    /// How the server multiplexes, for the conformance checks
    /// (`select`, `poll`, `epoll`, `threaded`, `busy`).
    #[serde(default)]
    pub kind: Option<String>,
    /// The checks, in the order they run.
    pub checks: Vec<CheckRef>,
}

/// One check of an exercise and the README hints that help with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRef {
    pub name: String,
    pub hint: HintRef,
}

/// `hint = 2`: the one hint for a check. `hint = [2, 5, 6]`: a ladder, from
/// a nudge to the answer, climbed one step each time the check fails again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HintRef {
    One(usize),
    Ladder(Vec<usize>),
}

impl HintRef {
    /// The hint numbers in the order they are shown; never empty, so that a
    /// check with `hint = []` is caught by the tests rather than shown
    /// nothing.
    pub fn ladder(&self) -> Vec<usize> {
        match self {
            HintRef::One(n) => vec![*n],
            HintRef::Ladder(v) if v.is_empty() => vec![0],
            HintRef::Ladder(v) => v.clone(),
        }
    }
}

impl Manifest {
    /// Reads the manifest under the workspace root `root`.
    pub fn load(root: &Path) -> Result<Manifest, String> {
        let path = root.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The exercise called `name`: its number (`4` or `04`), its directory
    /// (`04-select-queue`) or either of its packages.
    pub fn find(&self, name: &str) -> Option<&Exercise> {
        let name = name.trim().trim_end_matches('/');
        let name = name.strip_prefix("exercises/").unwrap_or(name);
        let name = name.strip_prefix("solutions/").unwrap_or(name);
        self.exercises.iter().find(|e| {
            e.dir == name
                || e.package == name
                || e.solution == name
                || name.parse::<u32>().is_ok_and(|n| Some(n) == e.number())
        })
    }
}

impl Exercise {
    /// The number the directory starts with.
    pub fn number(&self) -> Option<u32> {
        self.dir.split('-').next()?.parse().ok()
    }

    /// `exercises/<dir>`, relative to the workspace root.
    pub fn starter_dir(&self) -> PathBuf {
        Path::new("exercises").join(&self.dir)
    }

    /// `exercises/solutions/<dir>`, relative to the workspace root.
    pub fn solution_dir(&self) -> PathBuf {
        Path::new("exercises/solutions").join(&self.dir)
    }

    /// The README with the goal and the hints.
    pub fn readme(&self) -> PathBuf {
        self.starter_dir().join("README.md")
    }

    /// The book page to read first.
    pub fn chapter_page(&self) -> PathBuf {
        Path::new("docs/src").join(format!("{}.md", self.chapter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[exercise]]
dir = "04-select-queue"
title = "partial writes"
package = "ex04-select-queue"
solution = "ex04-select-queue-solution"
chapter = "select-queue"
checks = [{ name = "echo", hint = 1 }]
"#;

    #[test]
    fn exercises_are_found_by_number_directory_or_package() {
        let m = Manifest::parse(SAMPLE).unwrap();
        for name in [
            "4",
            "04",
            "04-select-queue",
            "exercises/04-select-queue/",
            "ex04-select-queue",
            "ex04-select-queue-solution",
        ] {
            assert_eq!(
                m.find(name).map(|e| e.dir.as_str()),
                Some("04-select-queue"),
                "{name}"
            );
        }
        assert!(m.find("5").is_none());
        assert!(m.find("select").is_none());
    }

    #[test]
    fn a_hint_is_one_number_or_a_ladder() {
        let m = Manifest::parse(&SAMPLE.replace("hint = 1", "hint = [1, 3, 2]")).unwrap();
        assert_eq!(m.exercises[0].checks[0].hint.ladder(), [1, 3, 2]);
        let m = Manifest::parse(SAMPLE).unwrap();
        assert_eq!(m.exercises[0].checks[0].hint.ladder(), [1]);
        assert!(Manifest::parse(&SAMPLE.replace("hint = 1", "hint = \"one\"")).is_err());
    }

    #[test]
    fn unknown_fields_are_errors() {
        let bad = SAMPLE.replace("chapter =", "chapterr =");
        assert!(Manifest::parse(&bad).is_err());
    }
}
