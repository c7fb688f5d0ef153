//! `grade --class DIR` on a class of two: one student who handed in the
//! untouched starters of exercises 1 and 3, one who handed in the reference
//! solutions of the same two. The first has neither done, the second both.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Builds from scratch of two students' dependencies fit in this easily.
const LIMIT: Duration = Duration::from_secs(900);

const EXERCISES: [&str; 2] = ["01-blocking-threaded", "03-select-stdin"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A class folder in a fresh temporary folder (removed when dropped).
struct Class(PathBuf);

impl Drop for Class {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_class() -> Class {
    let root = test_support::workspace_root();
    let dir = std::env::temp_dir().join(format!("grade-class-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let class = Class(dir);
    for ex in EXERCISES {
        let starter = root.join("exercises").join(ex);
        // What a student is handed: the starter folder.
        copy_dir(&starter, &class.0.join("grade-test-starters").join(ex));
        let done = class.0.join("grade-test-solutions").join(ex);
        copy_dir(&starter, &done);
        // ... and the work done: the solution's src over the starter's.
        std::fs::remove_dir_all(done.join("src")).unwrap();
        copy_dir(
            &root.join("exercises/solutions").join(ex).join("src"),
            &done.join("src"),
        );
    }
    class
}

/// Runs the grader with `args`, at most [`LIMIT`], and returns its stdout.
fn grade(args: &[&std::ffi::OsStr]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_grade"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("grade {args:?} did not end in {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "grade {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_class_is_graded_one_cell_per_student_and_exercise() {
    let class = make_class();
    let table = grade(&["--class".as_ref(), class.0.as_os_str()]);
    println!("{table}");
    let row = |name: &str| -> Vec<String> {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        line.split_whitespace().skip(1).map(String::from).collect()
    };
    let header = row("student");
    assert_eq!(header[0], "01", "{table}");
    let column = |n: &str| header.iter().position(|h| h == n).unwrap();
    let starters = row("grade-test-starters");
    let solutions = row("grade-test-solutions");
    assert_eq!(starters.len(), header.len(), "{table}");
    for (i, h) in header.iter().enumerate() {
        let handed_in = h == "01" || h == "03";
        if handed_in {
            // k/n with k < n: graded, not done.
            let (k, n) = starters[i]
                .split_once('/')
                .unwrap_or_else(|| panic!("starter {h}: {:?} is not k/n:\n{table}", starters[i]));
            assert!(k.parse::<usize>().unwrap() < n.parse().unwrap(), "{table}");
            assert_eq!(solutions[i], "done", "solution {h}:\n{table}");
        } else {
            assert_eq!(starters[i], "-", "{table}");
            assert_eq!(solutions[i], "-", "{table}");
        }
    }
    assert!(column("03") > column("01"));

    let json: serde_json::Value = serde_json::from_str(&grade(&[
        "--class".as_ref(),
        class.0.as_os_str(),
        "--json".as_ref(),
    ]))
    .unwrap();
    let students = json["students"].as_array().unwrap();
    assert_eq!(students.len(), 2);
    for ex in EXERCISES {
        let starter = &students[1]["exercises"][ex];
        assert_eq!(students[1]["name"], "grade-test-starters");
        assert!(starter["passed"].as_u64().unwrap() < starter["total"].as_u64().unwrap());
        let solution = &students[0]["exercises"][ex];
        assert_eq!(solution["status"], "done", "{json:#}");
        assert_eq!(solution["passed"], solution["total"]);
    }
    assert_eq!(students[0]["exercises"]["04-select-queue"]["status"], "-");
}
