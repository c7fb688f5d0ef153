//! Transcripts: the captured runs in `docs/transcripts/<chapter>/`, which
//! pages show whole under a caption naming the file, and which the chapters'
//! own tests compare with a fresh run. `scripts/transcripts.sh CHAPTER`
//! captures them again and then copies them into the pages.

use std::collections::BTreeSet;

use crate::excerpts::{Source, source_of};
use crate::markdown::blocks;

/// Where transcripts live, relative to the workspace root.
pub const TRANSCRIPTS: &str = "docs/transcripts/";

/// The folder of `docs/transcripts/` that `path` is in: the name that
/// `scripts/transcripts.sh` takes.
pub fn chapter_of(path: &str) -> Option<&str> {
    path.strip_prefix(TRANSCRIPTS)?
        .split('/')
        .next()
        .filter(|c| !c.is_empty())
}

/// The command that captures `path` again from a real run, and copies it
/// into the pages.
pub fn recapture_command(path: &str) -> String {
    format!(
        "scripts/transcripts.sh {}",
        chapter_of(path).unwrap_or("CHAPTER")
    )
}

/// Whether a block's text looks like a server's or the client's output.
pub fn looks_like_transcript(content: &str) -> bool {
    content.lines().any(|l| {
        let l = l.trim_start().trim_start_matches("$ ");
        l.starts_with("starting up on ")
            || l.starts_with("waiting for the next event")
            || l.starts_with("new connection from ")
            || l.starts_with("connecting to ")
            || l.contains("): sending \"")
            || l.contains("): received \"")
    })
}

/// The text a block captioned with transcript `path` must hold, read
/// through `read`, or what is wrong with the file and how to fix it.
pub(crate) fn expected_transcript(
    path: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let text = read(path).ok_or_else(|| {
        format!(
            "`{path}` does not exist (capture it with `{}`, or fix the caption)",
            recapture_command(path)
        )
    })?;
    if !text.starts_with("$ ") {
        return Err(format!(
            "`{path}` must start with the command that made it (`$ cargo run -p ...`); \
             `{}` writes it so",
            recapture_command(path)
        ));
    }
    Ok(text.trim_end_matches('\n').to_string())
}

/// The transcripts that `page` shows, by path.
pub fn shown_transcripts(page: &str) -> BTreeSet<String> {
    blocks(page)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|b| match b.caption.as_deref().map(source_of) {
            Some(Ok(Some(Source::Transcript { path }))) => Some(path),
            _ => None,
        })
        .collect()
}

/// Every captured transcript of `captured` (paths) that no page shows, as a
/// problem that says how to show it.
pub fn check_all_shown<'a>(
    captured: impl IntoIterator<Item = &'a str>,
    pages: &[&str],
) -> Vec<String> {
    let shown: BTreeSet<String> = pages.iter().flat_map(|p| shown_transcripts(p)).collect();
    captured
        .into_iter()
        .filter(|p| !shown.contains(*p))
        .map(|p| {
            format!(
                "`{p}` is captured but shown on no page: add an empty `text` block captioned \
                 `` `{p}`: `` to its chapter, then run `{}`",
                crate::BLESS
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_page;

    const TRANSCRIPT: &str = "$ cargo run -p demo\nstarting up on localhost port 10000\n\n\
                              waiting for the next event\n";

    fn read(path: &str) -> Option<String> {
        match path {
            "docs/transcripts/demo/server.txt" => Some(TRANSCRIPT.to_string()),
            "docs/transcripts/demo/bad.txt" => Some("starting up on x port 1\n".to_string()),
            _ => None,
        }
    }

    fn page(caption: &str, body: &str) -> String {
        format!("# A page\n\n{caption}\n\n```text\n{body}\n```\n\nMore prose.\n")
    }

    #[test]
    fn a_verbatim_transcript_passes_and_a_changed_one_fails() {
        let body = TRANSCRIPT.trim_end();
        let caption = "The server, `docs/transcripts/demo/server.txt`:";
        assert_eq!(
            check_page(&page(caption, body), &read),
            Vec::<String>::new()
        );
        let changed = body.replace("port 10000", "port 10001");
        let problems = check_page(&page(caption, &changed), &read);
        assert!(
            problems.len() == 1 && problems[0].contains("port 10001"),
            "{problems:?}"
        );
        // A line left out is a difference too.
        let shorter = body.replace("\n\nwaiting for the next event", "");
        assert_eq!(check_page(&page(caption, &shorter), &read).len(), 1);
    }

    #[test]
    fn a_stale_copy_names_both_commands_that_fix_it() {
        let caption = "`docs/transcripts/demo/server.txt`:";
        let problems = check_page(&page(caption, "starting up on x port 1"), &read);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(crate::BLESS), "{problems:?}");
        assert!(
            problems[0].contains("scripts/transcripts.sh demo"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_uncaptioned_or_misnamed_transcript_fails_and_says_what_to_do() {
        let body = TRANSCRIPT.trim_end();
        for (caption, why, fix) in [
            ("What you see:", "looks like a transcript", crate::BLESS),
            (
                "`docs/transcripts/nope/server.txt`:",
                "does not exist",
                "scripts/transcripts.sh nope",
            ),
            (
                "`docs/transcripts/demo/bad.txt`:",
                "must start with the command",
                "scripts/transcripts.sh demo",
            ),
            (
                "`docs/transcripts/demo/server.txt`, anchor `x`:",
                "shown whole",
                "drop",
            ),
        ] {
            let problems = check_page(&page(caption, body), &read);
            assert!(
                problems.len() == 1 && problems[0].contains(why) && problems[0].contains(fix),
                "{caption}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_transcript_shown_nowhere_is_reported_with_the_way_to_show_it() {
        let shown = page("`docs/transcripts/demo/server.txt`:", "x");
        let problems = check_all_shown(
            [
                "docs/transcripts/demo/server.txt",
                "docs/transcripts/demo/client.txt",
            ],
            &[&shown],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("demo/client.txt"), "{problems:?}");
        assert!(problems[0].contains(crate::BLESS), "{problems:?}");
    }

    #[test]
    fn the_chapter_is_the_folder_under_docs_transcripts() {
        assert_eq!(
            chapter_of("docs/transcripts/epoll-edge-level/server.txt"),
            Some("epoll-edge-level")
        );
        assert_eq!(chapter_of("docs/src/ch00.md"), None);
    }
}
