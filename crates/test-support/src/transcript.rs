//! Transcripts as per-connection event sequences.
//!
//! Which connection the server serves first changes from run to run, and so
//! does the port each client gets; what each connection sees, in order, does
//! not. So a transcript is compared connection by connection: addresses are
//! replaced by `c1`, `c2`... in order of first appearance, lines are grouped
//! by the connection they mention, and the groups are compared as a set.

use std::collections::BTreeMap;

/// Lines that appear or not depending on timing alone: `output queue for X
/// is empty` is logged only if `select` reports the socket writable again
/// before the client's next message arrives.
pub const TIMING_DEPENDENT: &[&str] = &["output queue for c", "waiting for the next event"];

/// Replaces each Python-style address `('127.0.0.1', 55821)` with `c1`, `c2`...
/// by first appearance, and returns the lines.
pub fn normalise<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    lines
        .iter()
        .map(|line| {
            let mut out = String::new();
            let mut rest = line.as_ref();
            while let Some(start) = rest.find("('") {
                let Some(len) = rest[start..].find(')') else {
                    break;
                };
                let addr = &rest[start..start + len + 1];
                if !addr.contains("', ") {
                    out.push_str(&rest[..start + 2]);
                    rest = &rest[start + 2..];
                    continue;
                }
                let index = match names.iter().position(|n| n == addr) {
                    Some(i) => i,
                    None => {
                        names.push(addr.to_string());
                        names.len() - 1
                    }
                };
                out.push_str(&rest[..start]);
                out.push_str(&format!("c{}", index + 1));
                rest = &rest[start + len + 1..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// The lines of a normalised transcript grouped by connection, each line with
/// its connection's name replaced by `C`. Lines that name no connection, or
/// that start with one of `skip`, are left out.
pub fn per_connection<S: AsRef<str>>(
    normalised: &[S],
    skip: &[&str],
) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in normalised {
        let line = line.as_ref().trim();
        if line.is_empty() || skip.iter().any(|s| line.contains(s)) {
            continue;
        }
        if let Some(name) = connection_name(line) {
            let generic = replace_word(line, &name, "C");
            groups.entry(name).or_default().push(generic);
        }
    }
    groups
}

/// The first `cN` word in a line.
fn connection_name(line: &str) -> Option<String> {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() > 1 && w.starts_with('c') && w[1..].chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
}

fn replace_word(line: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(word) {
        let before_ok = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let after = &rest[i + word.len()..];
        let after_ok = after
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        out.push_str(&rest[..i]);
        out.push_str(if before_ok && after_ok { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A transcript reduced to what must not change between runs: the set of
/// per-connection event sequences, with timing-dependent lines removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// One sorted entry per connection.
    pub connections: Vec<Vec<String>>,
}

impl Transcript {
    pub fn from_lines<S: AsRef<str>>(lines: &[S]) -> Self {
        Self::from_lines_skipping(lines, TIMING_DEPENDENT)
    }

    pub fn from_lines_skipping<S: AsRef<str>>(lines: &[S], skip: &[&str]) -> Self {
        let mut connections: Vec<Vec<String>> = per_connection(&normalise(lines), skip)
            .into_values()
            .collect();
        connections.sort();
        Transcript { connections }
    }

    /// A readable account of how `self` (what ran) differs from `expected`.
    pub fn diff(&self, expected: &Transcript) -> Option<String> {
        if self == expected {
            return None;
        }
        let mut report = format!(
            "{} connections ran, {} expected\n",
            self.connections.len(),
            expected.connections.len()
        );
        for (i, (got, want)) in self
            .connections
            .iter()
            .zip(&expected.connections)
            .enumerate()
        {
            if got != want {
                report.push_str(&format!(
                    "connection {}:\n  got:      {got:?}\n  expected: {want:?}\n",
                    i + 1
                ));
            }
        }
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_names_by_first_appearance() {
        let lines = [
            "new connection from ('127.0.0.1', 55821)",
            "new connection from ('127.0.0.1', 55822)",
            "received \"a (b)\" from ('127.0.0.1', 55822)",
            "('127.0.0.1', 55821): sending \"x\"",
        ];
        assert_eq!(
            normalise(&lines),
            vec![
                "new connection from c1",
                "new connection from c2",
                "received \"a (b)\" from c2",
                "c1: sending \"x\"",
            ]
        );
    }

    #[test]
    fn interleaving_does_not_matter_but_order_within_a_connection_does() {
        let a = [
            "new connection from ('127.0.0.1', 1)",
            "new connection from ('127.0.0.1', 2)",
            "received \"x\" from ('127.0.0.1', 1)",
            "received \"x\" from ('127.0.0.1', 2)",
            "closing ('127.0.0.1', 1) after reading no data",
            "closing ('127.0.0.1', 2) after reading no data",
        ];
        let b = [
            "new connection from ('127.0.0.1', 7)",
            "received \"x\" from ('127.0.0.1', 7)",
            "new connection from ('127.0.0.1', 9)",
            "output queue for ('127.0.0.1', 7) is empty",
            "closing ('127.0.0.1', 7) after reading no data",
            "received \"x\" from ('127.0.0.1', 9)",
            "closing ('127.0.0.1', 9) after reading no data",
        ];
        assert_eq!(Transcript::from_lines(&a), Transcript::from_lines(&b));
        let swapped = [
            "new connection from ('127.0.0.1', 1)",
            "closing ('127.0.0.1', 1) after reading no data",
            "received \"x\" from ('127.0.0.1', 1)",
        ];
        let t = Transcript::from_lines(&swapped);
        assert!(t.diff(&Transcript::from_lines(&a)).is_some());
    }
}
