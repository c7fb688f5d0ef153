//! Diffs between two listings: a ```` ```diff ```` block whose first two
//! lines are `--- PATH, anchor NAME` and `+++ PATH, anchor NAME` shows how
//! one chapter's code became the next one's. Its lines are made from the two
//! anchored excerpts (one hunk, every line shown), so a diff cannot drift
//! from the code any more than an excerpt can.

use crate::excerpts::anchored;
use crate::markdown::blocks;

/// The two sources a diff block names in its header, or `None` if the
/// block does not start with a `---`/`+++` pair.
fn sources(content: &str) -> Option<Result<[(String, String); 2], String>> {
    let mut lines = content.lines();
    let from = lines.next()?.strip_prefix("--- ")?;
    let Some(to) = lines.next().and_then(|l| l.strip_prefix("+++ ")) else {
        return Some(Err("a `---` line without a `+++` line after it".to_string()));
    };
    let parse = |side: &str| -> Result<(String, String), String> {
        side.split_once(", anchor ")
            .map(|(p, a)| (p.trim().to_string(), a.trim().to_string()))
            .ok_or_else(|| format!("`{side}` should read `PATH, anchor NAME`"))
    };
    Some(parse(from).and_then(|a| Ok([a, parse(to)?])))
}

/// A unified diff of `a` against `b` with every line as context: deletions
/// before insertions within a change, like `diff -u`.
pub fn unified(a: &str, b: &str, a_label: &str, b_label: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!(
        "--- {a_label}\n+++ {b_label}\n@@ -1,{} +1,{} @@\n",
        a.len(),
        b.len()
    );
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    // Blank lines of context carry the one-space prefix; trim it, as the
    // page stores them.
    out.lines()
        .map(|l| if l == " " { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the diff block `content` should hold, from its header's sources.
fn expected(
    content: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<String, String>> {
    let [(a_path, a_anchor), (b_path, b_anchor)] = match sources(content)? {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let excerpt = |path: &str, anchor: &str| -> Result<String, String> {
        let text = read(path).ok_or_else(|| format!("`{path}` does not exist"))?;
        anchored(&text, anchor)
    };
    Some((|| {
        let a = excerpt(&a_path, &a_anchor)?;
        let b = excerpt(&b_path, &b_anchor)?;
        Ok(unified(
            &a,
            &b,
            &format!("{a_path}, anchor {a_anchor}"),
            &format!("{b_path}, anchor {b_anchor}"),
        ))
    })())
}

/// The `diff` blocks of `page` that differ from their sources, or name none.
pub fn check_diffs(page: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let Ok(blocks) = blocks(page) else {
        return Vec::new(); // the excerpt check reports an unclosed fence
    };
    let mut problems = Vec::new();
    for b in blocks.iter().filter(|b| b.lang == "diff") {
        match expected(&b.content, read) {
            None => problems.push(format!(
                "line {}: a diff block starts with `--- PATH, anchor NAME` and \
                 `+++ PATH, anchor NAME`, so it can be checked",
                b.line
            )),
            Some(Err(e)) => problems.push(format!("line {}: {e}", b.line)),
            Some(Ok(want)) if want != b.content => problems.push(format!(
                "line {}: the diff differs from its two excerpts; run \
                 `BOOK_BLESS=1 cargo test -p book-tests`",
                b.line
            )),
            Some(Ok(_)) => {}
        }
    }
    problems
}

/// `page` with every diff block made again from its sources.
pub fn bless_diffs(page: &str, read: &dyn Fn(&str) -> Option<String>) -> String {
    let Ok(blocks) = blocks(page) else {
        return page.to_string();
    };
    let mut lines: Vec<String> = page.lines().map(str::to_string).collect();
    for b in blocks.iter().rev().filter(|b| b.lang == "diff") {
        let Some(Ok(text)) = expected(&b.content, read) else {
            continue;
        };
        b.replace_in(&mut lines, &text);
    }
    let mut out = lines.join("\n");
    if page.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "// ANCHOR: x\nfn a() {\n    one();\n\n    two();\n}\n// ANCHOR_END: x\n";
    const NEW: &str = "// ANCHOR: y\nfn a() {\n    one();\n\n    three();\n}\n// ANCHOR_END: y\n";

    fn read(path: &str) -> Option<String> {
        match path {
            "old.rs" => Some(OLD.to_string()),
            "new.rs" => Some(NEW.to_string()),
            _ => None,
        }
    }

    fn page(body: &str) -> String {
        format!("Text:\n\n```diff\n--- old.rs, anchor x\n+++ new.rs, anchor y\n{body}```\n")
    }

    #[test]
    fn a_diff_is_made_from_its_two_excerpts_and_checked_against_them() {
        let good =
            page("@@ -1,5 +1,5 @@\n fn a() {\n     one();\n\n-    two();\n+    three();\n }\n");
        assert_eq!(check_diffs(&good, &read), Vec::<String>::new());
        assert_eq!(bless_diffs(&page(""), &read), good);
        // A line the code does not have any more.
        let drifted = good.replace("-    two();", "-    zero();");
        assert_eq!(check_diffs(&drifted, &read).len(), 1);
        // A diff that names no sources cannot be checked.
        assert_eq!(check_diffs("```diff\n-a\n+b\n```\n", &read).len(), 1);
        let missing = good.replace("new.rs", "gone.rs");
        assert!(check_diffs(&missing, &read)[0].contains("does not exist"));
    }
}
