//! `book-search BOOK_DIR`: rewrites the search index of the book mdBook
//! built in BOOK_DIR (`docs/book/zh` for the Chinese edition) so that its
//! searcher finds Chinese words; see the library's documentation for how.
//! `scripts/book.sh` runs it after `mdbook build docs/zh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = &args[..] else {
        eprintln!("usage: book-search BOOK_DIR (the folder mdBook built, e.g. docs/book/zh)");
        return ExitCode::from(2);
    };
    if dir == "--help" || dir == "-h" {
        println!(
            "usage: book-search BOOK_DIR\n\nRewrites BOOK_DIR/searchindex-*.js, the search index \
             mdBook built, so that its searcher finds Chinese words (any run of up to {} Chinese \
             characters).",
            book_search::LONGEST_HAN_TOKEN
        );
        return ExitCode::SUCCESS;
    }
    match book_search::rewrite_book_index(&PathBuf::from(dir)) {
        Ok((path, before, after)) => {
            println!(
                "rewrote {}: {} KiB (mdBook wrote {} KiB)",
                path.display(),
                after / 1024,
                before / 1024
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
