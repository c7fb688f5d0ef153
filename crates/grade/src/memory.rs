//! What the grader remembers between runs: for each exercise, how far down
//! its hint ladder each failing check has gone, and which check failed last.
//! A run that fails a check again shows the next hint of its ladder, from a
//! nudge to the answer; a check that passes starts over.
//!
//! The memory is a small JSON file (`grade-hints.json` in the target
//! directory, or `GRADE_HINTS_FILE`). It is a convenience: a file that
//! cannot be read or written leaves the grader as it is without it, one
//! hint per check, so no error about it is ever shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The variable that moves the memory elsewhere (tests give each their own).
pub const ENV: &str = "GRADE_HINTS_FILE";

/// The memory of every exercise, and where it is kept.
#[derive(Debug)]
pub struct HintMemory {
    path: PathBuf,
    state: State,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    exercises: BTreeMap<String, ExerciseMemory>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ExerciseMemory {
    /// The check whose hint the last graded run showed, for `--hint`.
    #[serde(default)]
    last_failure: Option<String>,
    /// How many hints of its ladder each failing check has shown.
    #[serde(default)]
    shown: BTreeMap<String, usize>,
}

impl HintMemory {
    /// `GRADE_HINTS_FILE` if set, else `grade-hints.json` in the target
    /// directory of the workspace at `root`.
    pub fn default_path(root: &Path) -> PathBuf {
        match std::env::var_os(ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => crate::class::target_dir(root).join("grade-hints.json"),
        }
    }

    /// The memory kept at `path`: empty if there is no file yet, `None` if
    /// there is one that cannot be read or parsed (then the grader goes
    /// without, rather than overwrite what it does not understand).
    pub fn load(path: &Path) -> Option<HintMemory> {
        let state = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).ok()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(_) => return None,
        };
        Some(HintMemory {
            path: path.to_path_buf(),
            state,
        })
    }

    /// Writes the memory back. It goes to a file of its own first and is
    /// then renamed over the old one, so that a grader run at the same time
    /// reads either the old memory or the new, never half of one.
    pub fn save(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(&self.state).map_err(std::io::Error::other)?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, &self.path)
    }

    /// How many hints `check` of `exercise` has shown since it last passed.
    pub fn shown(&self, exercise: &str, check: &str) -> usize {
        self.state
            .exercises
            .get(exercise)
            .and_then(|e| e.shown.get(check))
            .copied()
            .unwrap_or(0)
    }

    /// The check of `exercise` whose hint the last run showed.
    pub fn last_failure(&self, exercise: &str) -> Option<&str> {
        self.state
            .exercises
            .get(exercise)
            .and_then(|e| e.last_failure.as_deref())
    }

    /// `check` failed (again) and gets a hint: the next step of a ladder of
    /// `steps` hints, 1-based, staying on the last once it is reached.
    /// Remembers it, and that this is the check whose hint is showing.
    pub fn next_step(&mut self, exercise: &str, check: &str, steps: usize) -> usize {
        let step = (self.shown(exercise, check) + 1).min(steps.max(1));
        let memory = self
            .state
            .exercises
            .entry(exercise.to_string())
            .or_default();
        memory.shown.insert(check.to_string(), step);
        memory.last_failure = Some(check.to_string());
        step
    }

    /// `check` passed: its next failure starts again with a nudge.
    pub fn passed(&mut self, exercise: &str, check: &str) {
        if let Some(memory) = self.state.exercises.get_mut(exercise) {
            memory.shown.remove(check);
            if memory.last_failure.as_deref() == Some(check) {
                memory.last_failure = None;
            }
        }
    }

    /// Every check of `exercise` passed: no hint is showing.
    pub fn all_passed(&mut self, exercise: &str) {
        self.state.exercises.remove(exercise);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory file of the test's own, removed first.
    fn temp(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("grade-hints-{}-{name}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn repeated_failures_climb_the_ladder_and_stop_at_its_top() {
        let mut m = HintMemory::load(&temp("climb")).unwrap();
        let steps: Vec<usize> = (0..4).map(|_| m.next_step("04", "half-close", 3)).collect();
        assert_eq!(steps, [1, 2, 3, 3]);
        // Another check has a ladder of its own.
        assert_eq!(m.next_step("04", "echo", 3), 1);
        assert_eq!(m.next_step("05", "half-close", 3), 1);
        assert_eq!(m.last_failure("05"), Some("half-close"));
    }

    #[test]
    fn a_pass_starts_the_check_over() {
        let mut m = HintMemory::load(&temp("pass")).unwrap();
        m.next_step("04", "echo", 3);
        m.next_step("04", "echo", 3);
        m.passed("04", "echo");
        assert_eq!(m.shown("04", "echo"), 0);
        assert_eq!(m.last_failure("04"), None);
        assert_eq!(m.next_step("04", "echo", 3), 1);
        m.all_passed("04");
        assert_eq!(m.next_step("04", "echo", 3), 1);
    }

    #[test]
    fn the_memory_survives_a_save_and_a_load() {
        let path = temp("save");
        let mut m = HintMemory::load(&path).unwrap();
        m.next_step("04", "echo", 3);
        m.save().unwrap();
        let mut again = HintMemory::load(&path).unwrap();
        assert_eq!(again.shown("04", "echo"), 1);
        assert_eq!(again.next_step("04", "echo", 3), 2);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_that_cannot_be_parsed_means_no_memory() {
        let path = temp("bad");
        std::fs::write(&path, "not json").unwrap();
        assert!(HintMemory::load(&path).is_none());
        // And it is left alone.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not json");
        std::fs::remove_file(&path).unwrap();
    }
}
