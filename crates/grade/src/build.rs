//! Building an exercise with cargo and finding its executable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether cargo's own messages (progress, compiler errors) go to this
/// process's stderr, where the student sees them, or are kept to be shown
/// only if the build fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CargoOutput {
    Show,
    Capture,
}

/// `cargo build -p P1 -p P2 ...` in the workspace at `root`; returns each
/// package's executable (a package's binary has the package's name).
pub fn build(
    root: &Path,
    packages: &[&str],
    output: CargoOutput,
) -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--message-format=json-render-diagnostics"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    cmd.stderr(match output {
        CargoOutput::Show => Stdio::inherit(),
        CargoOutput::Capture => Stdio::piped(),
    });
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "`cargo build -p {}` failed{}",
            packages.join(" -p "),
            if stderr.is_empty() {
                " (its errors are above)".to_string()
            } else {
                format!(":\n{stderr}")
            }
        ));
    }
    let executables = executables(&String::from_utf8_lossy(&out.stdout));
    for p in packages {
        if !executables.contains_key(*p) {
            return Err(format!("`cargo build -p {p}` built no binary named {p}"));
        }
    }
    Ok(executables)
}

/// The binaries named in cargo's JSON messages, by target name.
fn executables(json_lines: &str) -> HashMap<String, PathBuf> {
    let mut found = HashMap::new();
    for line in json_lines.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let is_bin = msg["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if let (true, Some(name), Some(exe)) = (
            is_bin,
            msg["target"]["name"].as_str(),
            msg["executable"].as_str(),
        ) {
            found.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_read_from_cargo_messages() {
        let lines = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"echo_common"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"ex04-select-queue"},"executable":"/t/debug/ex04-select-queue"}
{"reason":"build-finished","success":true}"#;
        let found = executables(lines);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found["ex04-select-queue"],
            PathBuf::from("/t/debug/ex04-select-queue")
        );
    }
}
