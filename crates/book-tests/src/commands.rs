//! Commands shown to the reader: every `cargo run -p`, `cargo test -p`...,
//! `scripts/demo.sh` and `scripts/transcripts.sh` must name a real package
//! and flags its program lists, and no command may run for ever without
//! saying so.

use std::collections::BTreeSet;

/// How a command in the docs runs a program of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `cargo run -p NAME [cargo flags] [-- program flags]`
    CargoRun,
    /// `cargo test|build|check|bench|clippy -p NAME ...`: only the package is checked.
    CargoOther,
    /// `scripts/demo.sh NAME [server flags]`
    Demo,
    /// `scripts/transcripts.sh [NAME...]`
    Transcripts,
}

/// One command found in the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub line: usize,
    pub runner: Runner,
    /// The packages it names (one, except for `scripts/transcripts.sh`).
    pub packages: Vec<String>,
    /// Flags that go to cargo (before `--`).
    pub cargo_flags: Vec<String>,
    /// Flags that go to the program, without any `=value`.
    pub program_flags: Vec<String>,
    /// The binary named with `--bin`, if any.
    pub bin: Option<String>,
}

/// Cargo's own flags that may stand before `--` in a `cargo run` shown to the
/// reader. Any other flag there is a mistake: it would go to cargo, not to the
/// server.
pub const CARGO_RUN_FLAGS: &[&str] = &[
    "--bin",
    "--release",
    "--quiet",
    "-q",
    "--offline",
    "--locked",
    "--frozen",
];

/// Every `cargo run -p`, `cargo test -p`..., `scripts/demo.sh` and
/// `scripts/transcripts.sh` command in `text` (a page, a transcript, the
/// README), wherever it stands: in a code block, in inline code or in prose.
pub fn invocations(text: &str) -> Vec<Invocation> {
    // Join continued lines, keeping the number of the first.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, l) in text.lines().enumerate() {
        let (n, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match l.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((n, acc));
            }
            None => {
                acc.push_str(l);
                logical.push((n, acc));
            }
        }
    }
    logical.extend(pending);

    let mut out = Vec::new();
    for (n, line) in logical {
        for (pos, _) in line.match_indices("cargo ") {
            let words = shell_words(&line[pos + "cargo ".len()..]);
            if let Some(inv) = cargo_invocation(n, &words) {
                out.push(inv);
            }
        }
        for (script, runner) in [
            ("scripts/demo.sh", Runner::Demo),
            ("scripts/transcripts.sh", Runner::Transcripts),
        ] {
            for (pos, _) in line.match_indices(script) {
                let words = shell_words(&line[pos + script.len()..]);
                let (flags, names): (Vec<String>, Vec<String>) =
                    words.into_iter().partition(|w| w.starts_with('-'));
                let packages = match runner {
                    Runner::Demo => names.into_iter().take(1).collect(),
                    _ => names,
                };
                if runner == Runner::Demo && packages.is_empty() {
                    continue;
                }
                out.push(Invocation {
                    line: n,
                    runner: runner.clone(),
                    packages,
                    cargo_flags: Vec::new(),
                    program_flags: flags.iter().map(|f| flag_name(f)).collect(),
                    bin: None,
                });
            }
        }
    }
    out
}

fn cargo_invocation(line: usize, words: &[String]) -> Option<Invocation> {
    let (sub, rest) = words.split_first()?;
    let runner = match sub.as_str() {
        "run" => Runner::CargoRun,
        "test" | "build" | "check" | "bench" | "clippy" => Runner::CargoOther,
        _ => return None,
    };
    let mut package = None;
    let mut bin = None;
    let mut cargo_flags = Vec::new();
    let mut program_flags = Vec::new();
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        if w == "--" {
            program_flags = it
                .by_ref()
                .filter(|w| w.starts_with('-') && w.len() > 1 && w.parse::<f64>().is_err())
                .map(|w| flag_name(w))
                .collect();
            break;
        }
        if w == "-p" || w == "--package" {
            package = it.next().cloned();
        } else if let Some(p) = w.strip_prefix("--package=") {
            package = Some(p.to_string());
        } else if w == "--bin" {
            bin = it.next().cloned();
        } else if let Some(b) = w.strip_prefix("--bin=") {
            bin = Some(b.to_string());
        } else if w.starts_with('-') {
            cargo_flags.push(flag_name(w));
        }
    }
    Some(Invocation {
        line,
        runner,
        packages: vec![package?],
        cargo_flags,
        program_flags,
        bin,
    })
}

fn flag_name(w: &str) -> String {
    w.split('=').next().unwrap_or(w).to_string()
}

/// The words of a shell command at the start of `s`, up to the first
/// character that ends a simple command (or the end of a Markdown code span).
/// Quotes group words; their content is never taken for a flag by the caller
/// because it is one word.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let starts_word = !in_word;
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
                // A quoted word is a value, never a flag.
                if starts_word && word.starts_with('-') {
                    word.insert(0, '\u{0}');
                }
            }
            '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '#' => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Whether a program's `--help` text lists `flag`.
pub fn help_lists(help: &str, flag: &str) -> bool {
    if flag == "--help" || flag == "-h" {
        return true;
    }
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().last();
        let after = help[i + flag.len()..].chars().next();
        before.is_none_or(|c| c.is_whitespace() || c == ',' || c == '[')
            && after.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    })
}

/// Gives the `--help` text of a package's binary (the one named, or the one
/// `cargo run -p` picks), or why there is none.
pub type HelpFn<'a> = &'a mut dyn FnMut(&str, Option<&str>) -> Result<String, String>;

/// Every problem with `inv`: `packages` holds the workspace's packages, and
/// `help(package, bin)` gives the `--help` text of the binary that `cargo run
/// -p package [--bin bin]` would run, or why there is none.
pub fn check_invocation(
    inv: &Invocation,
    packages: &BTreeSet<String>,
    help: HelpFn,
) -> Vec<String> {
    let mut problems = Vec::new();
    for p in &inv.packages {
        if !packages.contains(p) {
            problems.push(format!(
                "line {}: `{p}` is not a package of the workspace (fix the name; \
                 `cargo metadata --no-deps` lists the packages)",
                inv.line
            ));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    if inv.runner == Runner::CargoRun {
        for f in &inv.cargo_flags {
            if !CARGO_RUN_FLAGS.contains(&f.as_str()) {
                problems.push(format!(
                    "line {}: `{f}` stands before `--`, so it goes to cargo, not to `{}` \
                     (move it after `--`)",
                    inv.line, inv.packages[0]
                ));
            }
        }
    }
    if matches!(inv.runner, Runner::CargoRun | Runner::Demo) {
        let package = &inv.packages[0];
        match help(package, inv.bin.as_deref()) {
            Err(e) => problems.push(format!("line {}: `{package}`: {e}", inv.line)),
            Ok(text) => {
                for f in &inv.program_flags {
                    if !help_lists(&text, f) {
                        problems.push(format!(
                            "line {}: `{package} --help` does not list `{f}` (fix the flag \
                             on the page, or give the program that flag)",
                            inv.line
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// The shell commands of `text`: the lines of its fenced `sh` (or
/// unlabelled) blocks and of its indented code blocks, and its inline code
/// spans, each with its 1-based line.
pub fn shell_commands(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut in_code: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    for b in crate::markdown::blocks(text).unwrap_or_default() {
        let (first, count) = b.lines;
        in_code.extend(first - 1..=first + count);
        if matches!(b.lang.as_str(), "sh" | "bash" | "shell" | "") {
            for (k, l) in b.content.lines().enumerate() {
                out.push((first + k + 1, l.to_string()));
            }
        }
    }
    let mut previous_blank = true;
    let mut in_indented = false;
    for (i, l) in lines.iter().enumerate() {
        if in_code.contains(&i) {
            previous_blank = false;
            in_indented = false;
            continue;
        }
        // An indented code block starts after a blank line with four spaces
        // (list items are indented less, or start with a marker).
        let indented = l.starts_with("    ") && !l.trim().is_empty();
        in_indented = indented && (in_indented || previous_blank);
        previous_blank = l.trim().is_empty();
        if in_indented {
            out.push((i + 1, l.trim().to_string()));
            continue;
        }
        for (k, span) in l.split('`').enumerate() {
            if k % 2 == 1 && !span.is_empty() {
                out.push((i + 1, span.to_string()));
            }
        }
    }
    out
}

/// Why `command` would never end by itself, if it would not: a pipeline
/// into `sleep N` (once `sleep` is gone, whatever writes into the pipe
/// blocks or, if it had stopped reading its own input, waits for ever), or
/// an endless source (`yes`, `cat /dev/zero`) that nothing cuts short. A
/// `timeout` in the pipeline, or a `head` after the endless source, ends it.
pub fn never_ending(command: &str) -> Option<String> {
    for list_item in command.split([';', '&', '(', ')']) {
        let stages: Vec<Vec<&str>> = list_item
            .split('|')
            .map(|s| s.split_whitespace().collect())
            .filter(|w: &Vec<&str>| !w.is_empty())
            .collect();
        if stages.len() < 2 || stages.iter().any(|s| s[0] == "timeout") {
            continue;
        }
        let last = &stages[stages.len() - 1];
        if last[0] == "sleep" {
            return Some(format!(
                "`{}` does not end by itself: the pipeline into `sleep` is still blocked when \
                 `sleep` exits (put `timeout N` in front of the command that would wait, or \
                 say how to stop it and drop the `| sleep`)",
                list_item.trim()
            ));
        }
        let endless = |s: &Vec<&str>| {
            s[0] == "yes"
                || (s[0] == "cat"
                    && s[1..]
                        .iter()
                        .any(|a| matches!(*a, "/dev/zero" | "/dev/urandom" | "/dev/random")))
        };
        if let Some(k) = stages.iter().position(endless)
            && !stages[k + 1..].iter().any(|s| s[0] == "head")
        {
            return Some(format!(
                "`{}` does not end by itself: `{}` never stops writing (cut it with \
                 `| head -c N`, or run it under `timeout N`)",
                list_item.trim(),
                stages[k].join(" ")
            ));
        }
    }
    None
}

/// Every command of `text` that would never end by itself, as
/// `line N: why`.
pub fn check_commands_end(text: &str) -> Vec<String> {
    shell_commands(text)
        .into_iter()
        .filter_map(|(line, c)| never_ending(&c).map(|why| format!("line {line}: {why}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packages() -> BTreeSet<String> {
        ["select-queue", "multiclient", "conformance"]
            .map(String::from)
            .into()
    }

    fn help(package: &str, bin: Option<&str>) -> Result<String, String> {
        match (package, bin) {
            ("conformance", Some("broken-echo")) => return Ok("      --port\n".into()),
            (_, Some(_)) => return Err("no such binary".into()),
            _ => {}
        }
        match package {
            "select-queue" => Ok("Options:\n      --host <HOST>\n      --port <PORT>\n      \
                                  --quiet\n  -h, --help\n"
                .into()),
            "multiclient" => Ok("      --sockets <SOCKETS>\n".into()),
            _ => Err("no binary".into()),
        }
    }

    fn problems_of(text: &str) -> Vec<String> {
        invocations(text)
            .iter()
            .flat_map(|inv| check_invocation(inv, &packages(), &mut help))
            .collect()
    }

    #[test]
    fn real_commands_and_flags_pass() {
        let text = "Run `cargo run -p select-queue -- --port 10001 --quiet`, then\n\
                    ```sh\ncargo run --release -p multiclient -- --sockets=100 2>&1 | tee out\n\
                    PORT=10001 scripts/demo.sh select-queue --quiet\n\
                    cargo test -p conformance -- --nocapture\n\
                    cargo run -p conformance --bin broken-echo -- --port 1\n\
                    cargo run -p select-queue -- \\\n    --host 127.0.0.1 -h\n```\n";
        let invs = invocations(text);
        assert_eq!(invs.len(), 6, "{invs:#?}");
        assert_eq!(invs[4].bin.as_deref(), Some("broken-echo"));
        assert_eq!(invs[5].program_flags, ["--host", "-h"]);
        assert_eq!(problems_of(text), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_package_or_flag_fails() {
        for (text, why) in [
            ("`cargo run -p select-qeue`", "not a package"),
            ("`cargo test -p nope`", "not a package"),
            ("`scripts/demo.sh poll-queue`", "not a package"),
            (
                "`scripts/transcripts.sh select-queue nope`",
                "not a package",
            ),
            (
                "`cargo run -p select-queue -- --level`",
                "does not list `--level`",
            ),
            (
                "`scripts/demo.sh select-queue --pool 2`",
                "does not list `--pool`",
            ),
            (
                "`cargo run -p select-queue --quiet --port 1`",
                "goes to cargo",
            ),
            ("`cargo run -p conformance`", "no binary"),
            ("`cargo run -p conformance --bin nope`", "no such binary"),
        ] {
            let problems = problems_of(text);
            assert!(
                problems.len() == 1 && problems[0].contains(why),
                "{text}: {problems:?}"
            );
        }
    }

    #[test]
    fn quoted_words_are_values_not_flags() {
        assert_eq!(
            shell_words("run -p x -- --server-cmd \"--port 1\" 'a b'` and more"),
            [
                "run",
                "-p",
                "x",
                "--",
                "--server-cmd",
                "\u{0}--port 1",
                "a b"
            ]
        );
        assert!(help_lists("  -p, --port <PORT>", "--port"));
        assert!(!help_lists("  --ports", "--port"));
        assert!(!help_lists("  --no-port", "--port"));
    }

    #[test]
    fn a_pipeline_into_sleep_or_from_an_endless_source_never_ends() {
        let page = "Try:\n\n```sh\nhead -c 50000000 /dev/zero | nc localhost 10000 | sleep 30\n```\n\n\
                    and then `yes hello | nc -N 127.0.0.1 10000 > /dev/null`, or\n\n    \
                    cat /dev/urandom | nc localhost 10000 | wc -c\n";
        let problems = check_commands_end(page);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 4:") && problems[0].contains("`sleep`"));
        assert!(problems[1].starts_with("line 7:") && problems[1].contains("`yes hello`"));
        assert!(problems[2].starts_with("line 9:") && problems[2].contains("/dev/urandom"));
        for p in &problems {
            assert!(p.contains("timeout N"), "{p}");
        }
    }

    #[test]
    fn commands_that_end_pass() {
        for c in [
            "head -c 50000000 /dev/zero | timeout 30 nc localhost 10000 | sleep 30",
            "for i in $(seq 50); do sleep 60 | nc -N localhost 10000 & done",
            "head -c 5000000 /dev/zero | nc -N 127.0.0.1 10000 | (sleep 1; wc -c)",
            "yes hello | head -c 1000000 | nc -N 127.0.0.1 10000 > /dev/null",
            "timeout 10 cat /dev/zero | wc -c",
            "sleep 1",
            "cat /proc/sys/fs/file-max",
            "cat /dev/null | wc -c",
        ] {
            assert_eq!(never_ending(c), None, "{c}");
        }
    }
}
