//! `--class DIR`: grading every student's copy of the exercises.
//!
//! `DIR` holds one folder per student, each a copy of `exercises/` (or of
//! some of its `NN-name` folders). A copy cannot be built where it lies: its
//! `Cargo.toml` inherits keys from the workspace (`version.workspace = true`,
//! `clap.workspace = true`) and names crates by paths relative to the
//! workspace (`../../crates/epoll-edge`), and cargo has no flag to lend a
//! package a workspace it is not inside. So each copy is built in a scratch
//! workspace that [`scratch_workspace`] writes under the target directory:
//! a `Cargo.toml` with the real workspace's `[workspace]` tables (paths made
//! absolute), the real `Cargo.lock` (the versions the class was tested
//! with), and one member, the starter's `Cargo.toml` (paths made absolute)
//! with the student's `src/`. Only `src/` is the student's: the exercises
//! never ask for a new dependency, and a student's edit to `Cargo.toml`
//! must not change what is graded.
//!
//! Each student gets a target directory of their own,
//! `<target>/class/<student>/target`, so that one student's build never
//! reuses or overwrites another's binary; their exercises share it, so the
//! dependencies are compiled once per student.
//!
//! A student's code is not trusted to end: the build and the grading of each
//! exercise run in child processes of their own process group, which are
//! killed, group and all, after a time limit ([`BUILD_LIMIT`],
//! [`GRADE_LIMIT`]); the grading child is also killed if its memory passes
//! [`GRADE_MEMORY`] (a server that floods its output fills the grader's
//! memory with it), and only the first [`OUTPUT_LIMIT`] bytes of what a
//! child prints are kept. Any of these costs the one cell.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Exercise;

/// How long a build of one copy may take, dependencies included.
pub const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// How long the checks of one exercise may take in all; each check has its
/// own, shorter limits, so only a grader stuck in a way they miss hits it.
pub const GRADE_LIMIT: Duration = Duration::from_secs(300);

/// The most memory the grading of one exercise may hold.
pub const GRADE_MEMORY: u64 = 1 << 30;

/// The most bytes kept of what a child prints on stdout or on stderr.
pub const OUTPUT_LIMIT: usize = 256 << 10;

/// One student: their folder's name and path.
#[derive(Debug, Clone)]
pub struct Student {
    pub name: String,
    pub dir: PathBuf,
}

/// The students of the class in `class`: every folder in it, by name.
pub fn students(class: &Path) -> Result<Vec<Student>, String> {
    let entries =
        std::fs::read_dir(class).map_err(|e| format!("cannot read {}: {e}", class.display()))?;
    let mut students: Vec<Student> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| Student {
            name: e.file_name().to_string_lossy().into_owned(),
            dir: e.path(),
        })
        // Hidden folders (.git) are not students.
        .filter(|s| !s.name.starts_with('.'))
        .collect();
    students.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(students)
}

/// One cell of the table: how one student stands on one exercise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// The student has no copy of the exercise.
    Missing,
    /// The copy does not compile; the first error, if cargo named one.
    BuildFailed(String),
    Graded {
        passed: usize,
        total: usize,
    },
    /// The build or the grading was stopped: why.
    Stopped(String),
}

impl Cell {
    /// The text in the table: `done`, `k/n`, `-`, `build failed`, or why it
    /// was stopped (`timed out`, `too much memory`).
    pub fn text(&self) -> String {
        match self {
            Cell::Missing => "-".into(),
            Cell::BuildFailed(_) => "build failed".into(),
            Cell::Graded { passed, total } if passed == total => "done".into(),
            Cell::Graded { passed, total } => format!("{passed}/{total}"),
            Cell::Stopped(why) => why.clone(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "status": self.text() });
        match self {
            Cell::Graded { passed, total } => {
                v["passed"] = (*passed).into();
                v["total"] = (*total).into();
            }
            Cell::BuildFailed(why) if !why.is_empty() => v["error"] = why.as_str().into(),
            _ => {}
        }
        v
    }
}

/// The target directory of the workspace at `root`: `CARGO_TARGET_DIR` if
/// set (as cargo reads it), `root/target` otherwise.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Where a student's scratch workspaces and target directory go: a name
/// made safe as one path component.
pub fn student_work_dir(target: &Path, student: &str) -> PathBuf {
    let safe: String = student
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    target.join("class").join(safe.trim_start_matches('.'))
}

/// Writes the scratch workspace for `copy` (a student's `NN-name` folder) of
/// exercise `ex` in `scratch`, and returns its `Cargo.toml`.
pub fn scratch_workspace(
    root: &Path,
    ex: &Exercise,
    copy: &Path,
    scratch: &Path,
) -> Result<PathBuf, String> {
    let read_toml = |path: &Path| -> Result<toml::Table, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.parse::<toml::Table>()
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());

    let mut workspace = read_toml(&root.join("Cargo.toml"))?;
    if let Some(toml::Value::Table(ws)) = workspace.get_mut("workspace") {
        ws.remove("exclude");
        ws.remove("default-members");
        ws.insert("members".into(), toml::Value::Array(vec!["member".into()]));
        if let Some(toml::Value::Table(deps)) = ws.get_mut("dependencies") {
            absolute_paths(deps, root);
        }
    }
    let starter = root.join(ex.starter_dir());
    let mut package = read_toml(&starter.join("Cargo.toml"))?;
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(toml::Value::Table(deps)) = package.get_mut(key) {
            absolute_paths(deps, &starter);
        }
    }

    let member = scratch.join("member");
    // A file the student has since deleted must not linger from last time.
    if member.exists() {
        std::fs::remove_dir_all(&member).map_err(|e| io("cannot clear", &member, e))?;
    }
    std::fs::create_dir_all(&member).map_err(|e| io("cannot create", &member, e))?;
    let src = copy.join("src");
    if !src.is_dir() {
        return Err(format!("{} has no src/ folder", copy.display()));
    }
    copy_dir(&src, &member.join("src"))?;
    let write = |path: PathBuf, table: &toml::Table| -> Result<(), String> {
        let text = toml::to_string(table).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| io("cannot write", &path, e))
    };
    write(member.join("Cargo.toml"), &package)?;
    let manifest = scratch.join("Cargo.toml");
    write(manifest.clone(), &workspace)?;
    let lock = root.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(&lock, scratch.join("Cargo.lock"))
            .map_err(|e| io("cannot copy", &lock, e))?;
    }
    Ok(manifest)
}

/// Makes every relative `path = "..."` of a dependency table absolute,
/// relative to `base`, the folder of the `Cargo.toml` it came from.
fn absolute_paths(deps: &mut toml::Table, base: &Path) {
    for (_, dep) in deps.iter_mut() {
        if let toml::Value::Table(dep) = dep
            && let Some(toml::Value::String(path)) = dep.get_mut("path")
            && Path::new(path.as_str()).is_relative()
        {
            *path = base.join(path.as_str()).to_string_lossy().into_owned();
        }
    }
}

/// Copies the folder `from` to `to`, following no symbolic links (a link in
/// a student's folder could point anywhere).
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Builds the student's copy of `ex` (the folder `copy`), with `work` as the
/// student's working folder; returns the server's executable, or the cell to
/// show if there is none.
pub fn build_copy(root: &Path, ex: &Exercise, copy: &Path, work: &Path) -> Result<PathBuf, Cell> {
    let scratch = work.join(&ex.dir);
    let manifest = scratch_workspace(root, ex, copy, &scratch).map_err(Cell::BuildFailed)?;
    let target = work.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .args(["--color", "never"]);
    let run = run_bounded(cmd, BUILD_LIMIT, None)
        .map_err(|e| Cell::BuildFailed(format!("cannot run cargo: {e}")))?;
    if let Some(why) = run.stopped {
        return Err(Cell::Stopped(format!("build {why}")));
    }
    if !run.status.is_some_and(|s| s.success()) {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let first = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or_default();
        return Err(Cell::BuildFailed(first.to_string()));
    }
    let program = target.join("debug").join(&ex.package);
    if program.is_file() {
        Ok(program)
    } else {
        Err(Cell::BuildFailed(format!(
            "cargo built no {}",
            program.display()
        )))
    }
}

/// Grades `program` as exercise `ex` in a child process, `grader` (this
/// program) run with `--grade-program`, which prints the grade as JSON.
pub fn grade_in_child(grader: &Path, ex: &Exercise, program: &Path) -> Cell {
    let mut cmd = Command::new(grader);
    cmd.arg(&ex.dir).arg("--grade-program").arg(program);
    let run = match run_bounded(cmd, GRADE_LIMIT, Some(GRADE_MEMORY)) {
        Ok(run) => run,
        Err(e) => return Cell::Stopped(format!("cannot grade: {e}")),
    };
    if let Some(why) = run.stopped {
        return Cell::Stopped(why);
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    let grade = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    let field =
        |g: &serde_json::Value, k: &str| g[k].as_u64().and_then(|n| usize::try_from(n).ok());
    match grade
        .as_ref()
        .and_then(|g| Some((field(g, "passed")?, field(g, "total")?)))
    {
        Some((passed, total)) => Cell::Graded { passed, total },
        None => Cell::Stopped("grader failed".into()),
    }
}

/// What a child printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// `None` when it was stopped.
    pub status: Option<ExitStatus>,
    /// At most [`OUTPUT_LIMIT`] bytes of each.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Why it was stopped: `timed out`, `too much memory`.
    pub stopped: Option<String>,
}

/// Runs `cmd` in a process group of its own, keeping [`OUTPUT_LIMIT`] bytes
/// of its output; kills the group after `limit`, or as soon as the child
/// holds more than `memory` bytes.
pub fn run_bounded(
    mut cmd: Command,
    limit: Duration,
    memory: Option<u64>,
) -> std::io::Result<Finished> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let stdout = keep(child.stdout.take());
    let stderr = keep(child.stderr.take());
    let start = Instant::now();
    let mut stopped = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > limit {
            stopped = Some(format!("timed out ({} s)", limit.as_secs()));
        } else if memory
            .is_some_and(|m| test_support::procfs::rss_bytes(pid).is_some_and(|rss| rss > m))
        {
            stopped = Some("too much memory".to_string());
        }
        if stopped.is_some() {
            // The child is not reaped yet, so its pid is still its group's
            // id: the signal reaches its servers (or rustc) and nothing else.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Finished {
        status,
        stdout: stdout(),
        stderr: stderr(),
        stopped,
    })
}

/// Reads `pipe` to its end in a thread, keeping the first [`OUTPUT_LIMIT`]
/// bytes; returns a function that gives them, waiting at most a second for
/// the end (a process that left the group may hold the pipe open).
fn keep<R: Read + Send + 'static>(pipe: Option<R>) -> impl FnOnce() -> Vec<u8> {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let (done, ended) = mpsc::channel::<()>();
    if let Some(mut pipe) = pipe {
        let kept = Arc::clone(&kept);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Read to the end even past the limit, so that the child never
            // blocks on a full pipe.
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut kept) = kept.lock() {
                    let room = OUTPUT_LIMIT.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&buf[..room]);
                }
            }
            let _ = done.send(());
        });
    }
    move || {
        let _ = ended.recv_timeout(Duration::from_secs(1));
        kept.lock().map(|k| k.clone()).unwrap_or_default()
    }
}

/// The table: one row per student, one column per exercise (headed by its
/// number), and a legend.
pub fn table(exercises: &[Exercise], rows: &[(String, Vec<Cell>)]) -> String {
    let headers: Vec<String> = exercises
        .iter()
        .map(|e| e.number().map_or(e.dir.clone(), |n| format!("{n:02}")))
        .collect();
    let first = rows
        .iter()
        .map(|(name, _)| name.len())
        .chain([7])
        .max()
        .unwrap_or(7);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|(_, cells)| cells.get(i))
                .map(|c| c.text().len())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |first_cell: &str, cells: &[String]| -> String {
        let mut line = format!("{first_cell:first$}");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&format!("  {cell:width$}"));
        }
        line.trim_end().to_string() + "\n"
    };
    let mut out = line("student", &headers);
    for (name, cells) in rows {
        let texts: Vec<String> = cells.iter().map(Cell::text).collect();
        out.push_str(&line(name, &texts));
    }
    out.push_str(
        "\ndone: every check passes; k/n: k of n checks pass; -: no copy of the exercise;\nbuild failed: the copy does not compile\n",
    );
    out
}

/// The same as JSON: `{"exercises": [...], "students": [{"name": ...,
/// "exercises": {"01-blocking-threaded": {"status": "done", ...}}}]}`.
pub fn json(exercises: &[Exercise], rows: &[(String, Vec<Cell>)]) -> serde_json::Value {
    let students: Vec<serde_json::Value> = rows
        .iter()
        .map(|(name, cells)| {
            let by_exercise: serde_json::Map<String, serde_json::Value> = exercises
                .iter()
                .zip(cells)
                .map(|(e, c)| (e.dir.clone(), c.json()))
                .collect();
            serde_json::json!({ "name": name, "exercises": by_exercise })
        })
        .collect();
    let dirs: Vec<&str> = exercises.iter().map(|e| e.dir.as_str()).collect();
    serde_json::json!({ "exercises": dirs, "students": students })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_the_table_shows_them() {
        assert_eq!(Cell::Missing.text(), "-");
        assert_eq!(Cell::BuildFailed(String::new()).text(), "build failed");
        assert_eq!(
            Cell::Graded {
                passed: 3,
                total: 3
            }
            .text(),
            "done"
        );
        assert_eq!(
            Cell::Graded {
                passed: 1,
                total: 3
            }
            .text(),
            "1/3"
        );
    }

    #[test]
    fn output_past_the_limit_is_dropped_and_hangs_are_stopped() {
        let mut flood = Command::new("sh");
        flood.args(["-c", "yes | head -c 10000000"]);
        let run = run_bounded(flood, Duration::from_secs(30), None).unwrap();
        assert_eq!(run.stdout.len(), OUTPUT_LIMIT);
        assert!(run.status.unwrap().success());

        let mut hang = Command::new("sleep");
        hang.arg("30");
        let start = Instant::now();
        let run = run_bounded(hang, Duration::from_millis(300), None).unwrap();
        assert!(run.stopped.unwrap().starts_with("timed out"));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn student_names_stay_one_path_component() {
        let dir = student_work_dir(Path::new("/t"), "../a b");
        assert_eq!(dir, Path::new("/t/class/_a_b"));
    }
}
