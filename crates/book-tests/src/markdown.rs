//! What the checkers read in a page: its fenced code blocks, which lines
//! they cover, and its `## ` sections.

use std::collections::BTreeSet;

/// A fenced code block of a Markdown page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The word after the fence (`rust`, `text`...), possibly empty.
    pub lang: String,
    /// The lines between the fences, without the fence's indentation, joined
    /// with `\n`, no final newline.
    pub content: String,
    /// The last non-blank line before the fence, if only blank lines separate
    /// them.
    pub caption: Option<String>,
    /// 0-based index of the first content line, and how many lines there are.
    pub(crate) lines: (usize, usize),
    pub(crate) indent: usize,
}

impl Block {
    /// Puts `text` in place of this block's content in `lines` (the page's
    /// lines), at the block's indentation. Blocks are replaced from the last
    /// up, so that the line numbers of the earlier ones stay valid.
    pub(crate) fn replace_in(&self, lines: &mut Vec<String>, text: &str) {
        let pad = " ".repeat(self.indent);
        let new: Vec<String> = text
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{pad}{l}")
                }
            })
            .collect();
        let (first, count) = self.lines;
        lines.splice(first..first + count, new);
    }
}

/// The fenced code blocks of `page`. An unclosed fence is an error.
pub fn blocks(page: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, fence, lang)) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let start = i;
        let mut end = None;
        for (j, l) in lines.iter().enumerate().skip(i + 1) {
            let t = l.trim();
            if t.len() >= fence.len() && t.chars().all(|c| fence.starts_with(c)) {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else {
            return Err(format!(
                "line {}: a code block is never closed (add the closing fence)",
                start + 1
            ));
        };
        let content: Vec<String> = lines[start + 1..end]
            .iter()
            .map(|l| strip_indent(l, indent).to_string())
            .collect();
        let caption = lines[..start]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string());
        out.push(Block {
            line: start + 1,
            lang,
            content: content.join("\n"),
            caption,
            lines: (start + 1, end - start - 1),
            indent,
        });
        i = end + 1;
    }
    Ok(out)
}

/// `(indent, fence, lang)` if `line` opens a fenced block.
fn opening_fence(line: &str) -> Option<(usize, String, String)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let fence: String = trimmed.chars().take_while(|c| *c == ch).collect();
    if fence.len() < 3 {
        return None;
    }
    let lang = trimmed[fence.len()..]
        .split([' ', ','])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    Some((indent, fence, lang))
}

pub(crate) fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

/// The 0-based numbers of the lines that belong to a fenced block of
/// `page`, fences included: prose checks leave them alone.
pub(crate) fn code_lines(page: &str) -> BTreeSet<usize> {
    blocks(page)
        .unwrap_or_default()
        .iter()
        .flat_map(|b| b.lines.0 - 1..=b.lines.0 + b.lines.1)
        .collect()
}

/// The `## ` headings of `page`, in order, outside code blocks.
pub fn headings(page: &str) -> Vec<String> {
    let code_lines = code_lines(page);
    page.lines()
        .enumerate()
        .filter(|(i, _)| !code_lines.contains(i))
        .filter_map(|(_, l)| l.strip_prefix("## "))
        .map(|h| h.trim().to_string())
        .collect()
}

/// Whether `wanted` appear among `headings` in this order (others may stand
/// between them); the first one missing or out of order otherwise.
pub fn check_sections(headings: &[String], wanted: &[&str]) -> Result<(), String> {
    let mut from = 0;
    for w in wanted {
        match headings[from..].iter().position(|h| h == w) {
            Some(p) => from += p + 1,
            None if headings.iter().any(|h| h == w) => {
                return Err(format!(
                    "section `## {w}` is out of order (move it after `## {}`)",
                    wanted[..wanted.iter().position(|x| x == w).unwrap_or(0)]
                        .last()
                        .unwrap_or(&"the title")
                ));
            }
            None => {
                return Err(format!(
                    "no section `## {w}` (every server chapter has one)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_block_fails() {
        let err = blocks("text\n```rust\nlet x = 1;\n").unwrap_err();
        assert!(err.contains("never closed"), "{err}");
    }

    #[test]
    fn blocks_keep_their_caption_and_lose_their_indentation() {
        let page = "Intro:\n\n   ```sh\n   a\n     b\n   ```\n";
        let b = blocks(page).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].caption.as_deref(), Some("Intro:"));
        assert_eq!(b[0].content, "a\n  b");
        assert_eq!(b[0].lang, "sh");
    }

    #[test]
    fn sections_must_all_be_there_in_order() {
        let h = headings("# T\n## The problem\n```\n## not a heading\n```\n## Run it\n");
        assert_eq!(h, ["The problem", "Run it"]);
        assert!(check_sections(&h, &["The problem", "Run it"]).is_ok());
        assert!(
            check_sections(&h, &["Run it", "The problem"])
                .unwrap_err()
                .contains("out of order")
        );
        assert!(
            check_sections(&h, &["The idea"])
                .unwrap_err()
                .contains("no section")
        );
    }
}
