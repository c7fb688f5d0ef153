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
    let Some(current) = chapter_number(page_file) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (number, section, line) in prose_lines(page) {
        if LOOKING_AHEAD.contains(&section.as_str()) {
            continue;
        }
        let mut later: Vec<u32> = chapter_mentions(line)
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
                 teach what is needed here, or move the pointer to \"Things to try\", \
                 \"What is still wrong\" or \"See also\""
            ));
        }
    }
    problems
}

/// Links whose text names a chapter number that is not the number of the
/// page they point to (`[chapter 6](ch07-epoll-edge.md)`).
pub fn misnumbered_links(page: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, _, line) in prose_lines(page) {
        for (text, target) in line_links(line) {
            let named = chapter_mentions(&text);
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
    let Some(start) = page.find("\n## In short\n") else {
        return vec!["no \"## In short\" section".to_string()];
    };
    let body = &page[start + "\n## In short\n".len()..];
    let body = body.split("\n## ").next().unwrap_or(body);
    let points = body.lines().filter(|l| l.starts_with("- ")).count();
    if points == 3 {
        Vec::new()
    } else {
        vec![format!(
            "\"In short\" has {points} points; it should have three"
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
}
