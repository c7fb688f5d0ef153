//! The book read as a course: chapters are numbered by their file names
//! (`chNN-...md` is chapter NN, the number mdBook shows), a chapter never
//! sends the reader forward for something it needs now, a link that names a
//! chapter names the right one, and every chapter sums itself up in three
//! points.

/// The chapter number in a page's file name: `ch07-epoll-edge.md` is 7.
pub fn chapter_number(file: &str) -> Option<u32> {
    let name = file.rsplit('/').next()?;
    let digits = name.strip_prefix("ch")?.get(..2)?;
    if name.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    digits.parse().ok()
}

/// Sections where pointing ahead is what the section is for.
pub const LOOKING_AHEAD: &[&str] = &[
    "Things to try",
    "In short",
    "What is still wrong",
    "See also",
];

/// The words of one edition that the course checks read: the sections
/// where pointing ahead is allowed, the section that sums a chapter up, and
/// how the text names a chapter by its number.
#[derive(Debug, Clone, Copy)]
pub struct CourseWords {
    pub looking_ahead: &'static [&'static str],
    pub in_short: &'static str,
    pub mentions: fn(&str) -> Vec<u32>,
}

/// The English edition: "Things to try"..., "In short", "chapter 7".
pub const ENGLISH: CourseWords = CourseWords {
    looking_ahead: LOOKING_AHEAD,
    in_short: "In short",
    mentions: chapter_mentions,
};

/// The Chinese edition: 动手试试..., 小结, 第 7 章 (and "chapter 7", should a
/// page keep it).
pub const CHINESE: CourseWords = CourseWords {
    looking_ahead: &["动手试试", "小结", "还有什么问题", "延伸阅读"],
    in_short: "小结",
    mentions: chapter_mentions_both,
};

fn chapter_mentions_both(text: &str) -> Vec<u32> {
    let mut found = chapter_mentions(text);
    found.extend(chapter_mentions_zh(text));
    found
}

/// The number at the start of `text` (ASCII or full-width digits, or
/// Chinese numerals up to 九十九), and what follows it.
fn leading_number(text: &str) -> Option<(u32, &str)> {
    let digit = |c: char| match c {
        '0'..='9' => c.to_digit(10),
        '０'..='９' => Some(u32::from(c) - u32::from('０')),
        _ => None,
    };
    let end = text.find(|c| digit(c).is_none()).unwrap_or(text.len());
    if end > 0 {
        let n = text[..end]
            .chars()
            .try_fold(0u32, |n, c| n.checked_mul(10)?.checked_add(digit(c)?))?;
        return Some((n, &text[end..]));
    }
    let value = |c: char| -> Option<u32> {
        Some(match c {
            '零' | '〇' => 0,
            '一' => 1,
            '二' | '两' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            _ => return None,
        })
    };
    let end = text
        .find(|c: char| c != '十' && value(c).is_none())
        .unwrap_or(text.len());
    let word = &text[..end];
    if word.is_empty() {
        return None;
    }
    let n = match word.split_once('十') {
        None if word.chars().count() == 1 => value(word.chars().next()?)?,
        None => return None,
        Some((tens, units)) => {
            let one = |s: &str| -> Option<u32> {
                let mut cs = s.chars();
                let v = value(cs.next()?)?;
                cs.next().is_none().then_some(v)
            };
            let tens = if tens.is_empty() { 1 } else { one(tens)? };
            let units = if units.is_empty() { 0 } else { one(units)? };
            tens * 10 + units
        }
    };
    Some((n, &text[end..]))
}

/// Each `第 N 章` (or `第 N、M 章`, `第 N 和第 M 章`, `第七章`) in `text`,
/// with N (and M).
pub fn chapter_mentions_zh(text: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut consumed = 0;
    for (i, _) in text.match_indices('第') {
        if i < consumed {
            continue;
        }
        let mut rest = &text[i + '第'.len_utf8()..];
        let mut numbers = Vec::new();
        while let Some((n, after)) = leading_number(rest.trim_start()) {
            numbers.push(n);
            rest = after.trim_start();
            // "、", "和", "到"... then perhaps 第, then the next number.
            let Some(joiner) = rest
                .chars()
                .next()
                .filter(|c| "、，,和与及或至到~".contains(*c))
            else {
                break;
            };
            let next = rest[joiner.len_utf8()..].trim_start();
            let next = next.strip_prefix('第').unwrap_or(next);
            if leading_number(next.trim_start()).is_none() {
                break;
            }
            rest = next;
        }
        if !numbers.is_empty() && rest.starts_with('章') {
            found.extend(numbers);
            consumed = text.len() - rest.len();
        }
    }
    found
}

/// Each `chapter N` (or `chapters N and M`, `Chapter N`) in `text`, with N.
fn chapter_mentions(text: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let lower = text.to_lowercase();
    for (i, _) in lower.match_indices("chapter") {
        let rest = &lower[i + "chapter".len()..];
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        // Numbers, and the words that join them: "chapters 3 and 4", "5, 6".
        for word in rest.split_whitespace().take(6) {
            let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if let Ok(n) = word.parse::<u32>() {
                found.push(n);
            } else if !matches!(word, "and" | "to" | "or") {
                break;
            }
        }
    }
    found
}

/// Targets of the Markdown links on `line` (`[text](target)`), with the
/// link text.
fn line_links(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(close) = rest.find("](") {
        let text_start = rest[..close].rfind('[').map_or(0, |i| i + 1);
        let text = rest[text_start..close].to_string();
        let after = &rest[close + 2..];
        let Some(end) = after.find(')') else { break };
        out.push((text, after[..end].to_string()));
        rest = &after[end..];
    }
    out
}

/// Lines of `page` outside code blocks, with their line number and the
/// `##` section they are in.
fn prose_lines(page: &str) -> Vec<(usize, String, &str)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut in_code = false;
    for (i, line) in page.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
        }
        out.push((i + 1, section.clone(), line));
    }
    out
}

/// Where chapter `current` (file `page_file`) sends the reader to a later
/// lesson outside the sections that look ahead: by a link to a later
/// chapter's page, or by naming a later chapter's number. Chapters after
/// `last_lesson` are for reference (the comparison, the myths), and may be
/// pointed to from anywhere for the full story of what a page states.
pub fn forward_references(page_file: &str, page: &str, last_lesson: u32) -> Vec<String> {
    forward_references_in(&ENGLISH, page_file, page, last_lesson)
}

/// [`forward_references`] in a page written with `words`.
pub fn forward_references_in(
    words: &CourseWords,
    page_file: &str,
    page: &str,
    last_lesson: u32,
) -> Vec<String> {
    let Some(current) = chapter_number(page_file) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (number, section, line) in prose_lines(page) {
        if words.looking_ahead.contains(&section.as_str()) {
            continue;
        }
        let mut later: Vec<u32> = (words.mentions)(line)
            .into_iter()
            .filter(|&n| n > current && n <= last_lesson)
            .collect();
        later.extend(
            line_links(line)
                .iter()
                .filter_map(|(_, target)| chapter_number(target.split('#').next()?))
                .filter(|&n| n > current && n <= last_lesson),
        );
        later.sort_unstable();
        later.dedup();
        for n in later {
            problems.push(format!(
                "line {number}: section \"{section}\" sends the reader forward to chapter {n}; \
                 teach what is needed here, or move the pointer to {}",
                pointer_sections(words)
            ));
        }
    }
    problems
}

/// The sections a pointer ahead may move to: `"A", "B" or "C"`.
fn pointer_sections(words: &CourseWords) -> String {
    let names: Vec<String> = words
        .looking_ahead
        .iter()
        .filter(|s| **s != words.in_short)
        .map(|s| format!("\"{s}\""))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Links whose text names a chapter number that is not the number of the
/// page they point to (`[chapter 6](ch07-epoll-edge.md)`).
pub fn misnumbered_links(page: &str) -> Vec<String> {
    misnumbered_links_in(&ENGLISH, page)
}

/// [`misnumbered_links`] in a page written with `words`.
pub fn misnumbered_links_in(words: &CourseWords, page: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, _, line) in prose_lines(page) {
        for (text, target) in line_links(line) {
            let named = (words.mentions)(&text);
            let Some(file) = target.split('#').next() else {
                continue;
            };
            let Some(actual) = chapter_number(file) else {
                continue;
            };
            if let [n] = named[..]
                && n != actual
            {
                problems.push(format!(
                    "line {number}: [{text}]({target}) says chapter {n}, but that page is chapter {actual}"
                ));
            }
        }
    }
    problems
}

/// The points of the page's `## In short` section (list items), or why the
/// section is not as it should be: three points.
pub fn in_short_problems(page: &str) -> Vec<String> {
    in_short_problems_in(&ENGLISH, page)
}

/// [`in_short_problems`] for a page written with `words`.
pub fn in_short_problems_in(words: &CourseWords, page: &str) -> Vec<String> {
    let name = words.in_short;
    let heading = format!("\n## {name}\n");
    let Some(start) = page.find(&heading) else {
        return vec![format!("no \"## {name}\" section")];
    };
    let body = &page[start + heading.len()..];
    let body = body.split("\n## ").next().unwrap_or(body);
    let points = body.lines().filter(|l| l.starts_with("- ")).count();
    if points == 3 {
        Vec::new()
    } else {
        vec![format!(
            "\"{name}\" has {points} points; it should have three"
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_numbers_come_from_file_names() {
        assert_eq!(chapter_number("ch07-epoll-edge.md"), Some(7));
        assert_eq!(
            chapter_number("docs/src/ch10-select-poll-epoll.md"),
            Some(10)
        );
        assert_eq!(chapter_number("benchmarks.md"), None);
        assert_eq!(chapter_number("ch06x-draft.md"), None);
    }

    #[test]
    fn a_forward_pointer_in_a_teaching_section_is_found() {
        let page = "# x\n\n## The idea\n\nAs [chapter 7](ch07-epoll-edge.md#drain) explains, and chapters 8 and 9 too.\n\n## What is still wrong\n\nChapter 9 fixes it.\n";
        let problems = forward_references("ch05-poll-queue.md", page, 9);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("chapter 7"));
        assert!(forward_references("ch09-uring-completion.md", page, 9).is_empty());
        // Reference chapters may be pointed to from anywhere.
        assert_eq!(forward_references("ch05-poll-queue.md", page, 7).len(), 1);
        // Code blocks are not prose.
        let code = "## The code\n\n```text\nchapter 9\n```\n";
        assert!(forward_references("ch05-poll-queue.md", code, 9).is_empty());
    }

    #[test]
    fn a_link_that_names_the_wrong_chapter_is_found() {
        let page = "See [chapter 6](ch07-epoll-edge.md) and [chapter 7](ch07-epoll-edge.md#x).\n";
        let problems = misnumbered_links(page);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("says chapter 6"));
    }

    #[test]
    fn in_short_wants_three_points() {
        let three = "x\n## In short\n\n- a\n- b\n- c\n\n## What is still wrong\n\n- d\n";
        assert!(in_short_problems(three).is_empty());
        assert_eq!(in_short_problems(&three.replace("- c\n", "")).len(), 1);
        assert_eq!(in_short_problems("x\n## The idea\n").len(), 1);
    }

    #[test]
    fn chinese_chapter_numbers_are_found() {
        assert_eq!(chapter_mentions_zh("见第 7 章和第8章"), [7, 8]);
        assert_eq!(chapter_mentions_zh("第 3、4 章"), [3, 4]);
        assert_eq!(chapter_mentions_zh("第 5 和第 6 章"), [5, 6]);
        assert_eq!(chapter_mentions_zh("第七章，第十章，第十一章"), [7, 10, 11]);
        assert_eq!(
            chapter_mentions_zh("第 3 个客户端，第二次"),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn the_chinese_checks_read_chinese_sections() {
        let page = "# x\n\n## 思路\n\n如[第 7 章](ch07-epoll-edge.md#drain)所说。\n\n## 还有什么问题\n\n第 9 章解决它。\n";
        let problems = forward_references_in(&CHINESE, "ch05-poll-queue.md", page, 9);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("\"动手试试\", \"还有什么问题\" or \"延伸阅读\""));
        let wrong = "见[第 6 章](ch07-epoll-edge.md)。\n";
        assert_eq!(misnumbered_links_in(&CHINESE, wrong).len(), 1);
        let three = "x\n## 小结\n\n- 一\n- 二\n- 三\n\n## 还有什么问题\n";
        assert!(in_short_problems_in(&CHINESE, three).is_empty());
        assert_eq!(
            in_short_problems_in(&CHINESE, &three.replace("- 三\n", "")).len(),
            1
        );
        assert_eq!(in_short_problems_in(&CHINESE, "x\n## In short\n").len(), 1);
    }
}
