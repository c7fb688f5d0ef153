//! The numbered hints under `## Hints` in an exercise's README, or under
//! `## 提示` in its Chinese README, and how they are printed.

use crate::lang::Lang;

/// The hints of an English README, in order: `hints[0]` is hint 1. Each
/// item of the numbered list under the `## Hints` heading is one hint; its
/// lines are joined with single spaces. Numbers must run 1, 2, 3... Text
/// before the list is left out; text after it, unless indented under the
/// last item, is an error (it would be lost).
pub fn parse(markdown: &str) -> Result<Vec<String>, String> {
    parse_in(markdown, Lang::En)
}

/// [`parse`] for the README in `lang`, whose hints are under
/// [`Lang::hints_heading`]. Lines that meet at a Chinese character are
/// joined without a space, as Chinese text is written.
pub fn parse_in(markdown: &str, lang: Lang) -> Result<Vec<String>, String> {
    let wanted = lang.hints_heading();
    let mut hints: Vec<String> = Vec::new();
    let mut in_section = false;
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_section = heading.trim().eq_ignore_ascii_case(wanted);
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
                    let next = line.trim();
                    let meet = (last.chars().next_back(), next.chars().next());
                    if !matches!(meet, (Some(a), Some(b)) if is_wide(a) || is_wide(b)) {
                        last.push(' ');
                    }
                    last.push_str(next);
                }
                Some(_) => return Err(format!("unexpected line under ## {wanted}: {line:?}")),
            },
        }
    }
    if hints.is_empty() {
        return Err(format!("no `## {wanted}` section with a numbered list"));
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

/// `text` broken into lines of at most `width` terminal columns (a Chinese
/// character takes two), each starting with `indent`. Lines break at spaces
/// and between Chinese characters, never before a closing mark such as `，`
/// or after an opening one such as `（`; a word longer than a line stays
/// whole.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut used = 0;
    for (spaced, piece) in pieces(text) {
        let columns: usize = piece.chars().map(columns).sum();
        let gap = usize::from(spaced && !line.is_empty());
        if !line.is_empty() && used + gap + columns > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
            used = 0;
        } else if gap == 1 {
            line.push(' ');
            used += 1;
        }
        line.push_str(&piece);
        used += columns;
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The pieces a line may break between, each with whether a space came
/// before it: the words of English text, and each Chinese character with
/// the marks that must stay beside it.
fn pieces(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut spaced = false;
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if c.is_whitespace() {
            if !piece.is_empty() {
                out.push((spaced, std::mem::take(&mut piece)));
            }
            spaced = true;
            prev = None;
            continue;
        }
        if let Some(p) = prev
            && (is_wide(p) || is_wide(c))
            && !OPENING.contains(p)
            && !CLOSING.contains(c)
        {
            out.push((spaced, std::mem::take(&mut piece)));
            spaced = false;
        }
        piece.push(c);
        prev = Some(c);
    }
    if !piece.is_empty() {
        out.push((spaced, piece));
    }
    out
}

/// Marks a line must not start with.
const CLOSING: &str = "，。、；：！？）」』》】”’…";

/// Marks a line must not end with.
const OPENING: &str = "（「『《【“‘";

/// Whether `c` takes two columns in a terminal: the Chinese, Japanese and
/// Korean scripts, and the full-width marks.
fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115F}'
        | '\u{2E80}'..='\u{A4CF}'
        | '\u{AC00}'..='\u{D7A3}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF00}'..='\u{FF60}'
        | '\u{FFE0}'..='\u{FFE6}'
        | '\u{20000}'..='\u{3FFFD}')
}

fn columns(c: char) -> usize {
    if is_wide(c) { 2 } else { 1 }
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
    fn chinese_hints_are_under_their_own_heading_and_joined_without_spaces() {
        let md = "## Hints\n\n1. English.\n\n## 提示\n\n1. 第一条\n   提示，`flag`\n   and more。\n2. 第二条。\n";
        assert_eq!(
            parse_in(md, Lang::ZhCn).unwrap(),
            vec!["第一条提示，`flag` and more。", "第二条。"]
        );
        assert_eq!(parse(md).unwrap(), vec!["English."]);
        assert!(parse_in("## Hints\n1. a\n", Lang::ZhCn).is_err());
    }

    #[test]
    fn chinese_text_wraps_between_characters_by_columns() {
        // A character takes two columns, so a line of eight holds four;
        // the comma stays with the character before it.
        let text = "一二三四，五六七八九";
        let wrapped = wrap(text, 8, "");
        assert_eq!(wrapped, "一二三\n四，五六\n七八九\n");
        for line in wrapped.lines() {
            assert!(line.chars().map(columns).sum::<usize>() <= 8, "{line}");
            assert!(!line.starts_with('，'), "{line}");
        }
        // Code stays whole, and the space before it is kept.
        assert_eq!(
            wrap("调用 `read_exact` 读取", 10, ""),
            "调用\n`read_exact`\n读取\n"
        );
        assert_eq!(wrap("（括号）内", 4, ""), "（括\n号）\n内\n");
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(
            wrap("aaa bbb ccc dddddddddd", 7, "  "),
            "  aaa bbb\n  ccc\n  dddddddddd\n"
        );
    }
}
