//! The numbered hints under `## Hints` in an exercise's README.

/// The hints of a README, in order: `hints[0]` is hint 1. Each item of the
/// numbered list under the `## Hints` heading is one hint; its lines are
/// joined with single spaces. Numbers must run 1, 2, 3... Text before the
/// list is left out; text after it, unless indented under the last item, is
/// an error (it would be lost).
pub fn parse(markdown: &str) -> Result<Vec<String>, String> {
    let mut hints: Vec<String> = Vec::new();
    let mut in_section = false;
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_section = heading.trim().eq_ignore_ascii_case("hints");
            continue;
        }
        if !in_section || line.trim().is_empty() {
            continue;
        }
        match numbered_item(line) {
            Some((n, text)) => {
                if n != hints.len() + 1 {
                    return Err(format!("hint {n} follows hint {}", hints.len()));
                }
                hints.push(text.trim().to_string());
            }
            None => match hints.last_mut() {
                // Text before the list introduces it.
                None => {}
                Some(last) if line.starts_with(' ') || line.starts_with('\t') => {
                    last.push(' ');
                    last.push_str(line.trim());
                }
                Some(_) => return Err(format!("unexpected line under ## Hints: {line:?}")),
            },
        }
    }
    if hints.is_empty() {
        return Err("no `## Hints` section with a numbered list".into());
    }
    Ok(hints)
}

/// `12. text` as `(12, "text")`.
fn numbered_item(line: &str) -> Option<(usize, &str)> {
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let n = line[..digits].parse().ok()?;
    let text = line[digits..].strip_prefix(". ")?;
    Some((n, text))
}

/// `text` broken into lines of at most `width` characters (words longer than
/// that stay whole), each starting with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_items_under_the_heading_are_the_hints() {
        let md = "# Title\n\n1. not a hint\n\n## Hints\n\nIntro.\n\n1. First\n   goes on.\n2. Second.\n\n## Next\n3. no\n";
        assert_eq!(parse(md).unwrap(), vec!["First goes on.", "Second."]);
    }

    #[test]
    fn gaps_in_the_numbering_are_errors() {
        assert!(parse("## Hints\n1. a\n3. c\n").is_err());
        assert!(parse("## Hints\n").is_err());
        assert!(parse("## Hints\n1. a\nloose text\n").is_err());
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(
            wrap("aaa bbb ccc dddddddddd", 7, "  "),
            "  aaa bbb\n  ccc\n  dddddddddd\n"
        );
    }
}
