//! Search in the Chinese edition of the book.
//!
//! mdBook 0.5.4 indexes a section by splitting its text on whitespace and
//! `-`, then trimming from each token every character that is not an ASCII
//! letter, digit or `_` (the English pipeline's trimmer). A Chinese sentence
//! has no spaces: it is one token, which the trimmer empties, so the index of
//! a Chinese book holds its code and its English words and nothing else.
//!
//! The searcher mdBook ships (`searcher.js`, which this project leaves as it
//! is) loads `searchindex-HASH.js`, an elasticlunr index serialized as JSON
//! inside a line of JavaScript, and looks a query up as elasticlunr.js does:
//! lower case, split on whitespace and `-`, each token run through the
//! pipeline the index names, and, with prefix expansion, every indexed token
//! that starts with a query token counts as a match.
//!
//! So [`rebuild`] indexes the same sections again, from the text mdBook keeps
//! in the index's document store, with [`tokenize`]: a Latin word as before
//! (lower case, trimmed, but not stemmed), and a run of Chinese characters as
//! the substrings that start at each of its characters, at most
//! [`LONGEST_HAN_TOKEN`] characters long. Any Chinese query of up to that many
//! characters is then the start of an indexed token, and prefix expansion
//! finds it. The new index names an empty pipeline, so the searcher leaves
//! the query's tokens as they are instead of trimming the Chinese away.
//! [`searcher`] does in Rust what elasticlunr.js does with a query, for tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use elasticlunr::{IndexBuilder, Language, Pipeline};
use serde_json::Value;

pub mod searcher;

/// The longest Chinese token indexed, in characters: a query of more Chinese
/// characters in a row finds nothing. Chinese search terms are mostly two to
/// four characters (套接字, 边缘触发); six also covers short phrases. The
/// index grows with it: built from half of the book's pages, it is 1.6 MB at
/// 4, 2.1 MB at 6, 2.5 MB at 8 and 2.7 MB at 10 (0.6 MB as mdBook writes it,
/// without the Chinese text).
pub const LONGEST_HAN_TOKEN: usize = 6;

/// The longest Latin token indexed, in bytes, as mdBook drops longer ones.
const LONGEST_WORD: usize = 80;

/// Whether `c` is a Chinese character (CJK unified ideographs, extension A,
/// compatibility ideographs, and 〇).
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{3007}')
}

/// Whether `c` separates tokens: whitespace and `-`, as in elasticlunr.js;
/// punctuation outside ASCII (Chinese text puts `，` or `（` right against a
/// word); and characters outside the Basic Multilingual Plane, which the
/// searcher's JavaScript would see as two UTF-16 units where the index has
/// one character, so no query could reach them.
fn separates(c: char) -> bool {
    c.is_whitespace()
        || c == '-'
        || (!c.is_ascii() && !c.is_alphanumeric())
        || u32::from(c) > 0xFFFF
}

/// The tokens of `text` for the index: each run of Chinese characters as
/// the substrings that start at each of its characters (up to
/// [`LONGEST_HAN_TOKEN`] long), and each other word lower-cased, with the
/// punctuation at its ends trimmed.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for piece in text.split(separates).filter(|p| !p.is_empty()) {
        let mut rest = piece;
        while let Some(first) = rest.chars().next() {
            let han = is_han(first);
            let end = rest.find(|c| is_han(c) != han).unwrap_or(rest.len());
            let (run, after) = rest.split_at(end);
            if han {
                let chars: Vec<char> = run.chars().collect();
                for start in 0..chars.len() {
                    let stop = (start + LONGEST_HAN_TOKEN).min(chars.len());
                    tokens.push(chars[start..stop].iter().collect());
                }
            } else {
                let word = run
                    .trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .to_lowercase();
                if !word.is_empty() && word.len() <= LONGEST_WORD {
                    tokens.push(word);
                }
            }
            rest = after;
        }
    }
    tokens
}

/// The index's language: [`tokenize`], and an empty pipeline.
struct ChineseText;

impl Language for ChineseText {
    fn name(&self) -> String {
        "Chinese".into()
    }

    fn code(&self) -> String {
        "zh".into()
    }

    fn tokenize(&self, text: &str) -> Vec<String> {
        tokenize(text)
    }

    fn make_pipeline(&self) -> Pipeline {
        // The searcher runs the query through the pipeline the index names:
        // any trimmer there would empty a Chinese query again.
        Pipeline { queue: Vec::new() }
    }
}

/// What mdBook writes around the index's JSON in `searchindex-HASH.js`.
const JS_BEFORE: &str = "window.search = Object.assign(window.search, JSON.parse('";
const JS_AFTER: &str = "'));";

/// The object `searchindex-HASH.js` hands the searcher (`results_options`,
/// `search_options`, `doc_urls` and `index`), from the file's text.
pub fn decode_index_js(text: &str) -> Result<Value, String> {
    let literal = text
        .trim_end()
        .strip_prefix(JS_BEFORE)
        .and_then(|t| t.strip_suffix(JS_AFTER))
        .ok_or(
            "not the search index mdBook 0.5.4 writes (`window.search = ...JSON.parse('...'));`)",
        )?;
    // mdBook escapes `\` and `'` with a backslash to fit the JSON in a
    // single-quoted JavaScript string; nothing else.
    let mut json = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        json.push(if c == '\\' {
            chars
                .next()
                .ok_or("the string ends with a lone backslash")?
        } else {
            c
        });
    }
    serde_json::from_str(&json).map_err(|e| format!("the index is not JSON: {e}"))
}

/// `searchindex-HASH.js`'s text for `search`, written as mdBook writes it.
pub fn encode_index_js(search: &Value) -> String {
    let json = search.to_string();
    format!(
        "{JS_BEFORE}{}{JS_AFTER}",
        json.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// The search index file of the book built in `book_dir`.
pub fn index_file(book_dir: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(book_dir)
        .map_err(|e| format!("{}: {e} (build the book first)", book_dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("searchindex") && n.ends_with(".js"))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "no searchindex*.js in {} (is it a book mdBook built, with search on?)",
            book_dir.display()
        )),
        _ => Err(format!(
            "several searchindex*.js in {}: {found:?} (build the book again into an empty folder)",
            book_dir.display()
        )),
    }
}

/// `search` (the object of `searchindex-HASH.js`) with its index made again
/// from the sections' text in its document store, with [`tokenize`] and an
/// empty pipeline. The sections, their numbers, `doc_urls` and the options
/// stay as they are.
pub fn rebuild(search: &Value) -> Result<Value, String> {
    let index = &search["index"];
    let strings = |v: &Value, what: &str| -> Result<Vec<String>, String> {
        v.as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
            .ok_or(format!("the index has no {what}"))
    };
    let fields = strings(&index["fields"], "field names")?;
    let ref_field = index["ref"]
        .as_str()
        .ok_or("the index names no ref field")?;
    let sections = search["doc_urls"]
        .as_array()
        .ok_or("the search index has no doc_urls")?
        .len();
    let docs = index["documentStore"]["docs"].as_object().ok_or(
        "the index keeps no sections' text (documentStore.docs), so it cannot be made again",
    )?;
    if docs.len() != sections {
        return Err(format!(
            "the index keeps the text of {} sections but has {sections} doc_urls",
            docs.len()
        ));
    }
    // One index per field, then put together: elasticlunr-rs 3.0.2 counts a
    // document's tokens across its fields as it adds them, so an index of
    // several fields would give `body` the title's tokens too, and
    // `breadcrumbs` every token of the section, about doubling the file.
    let mut out = search.clone();
    let mut inverted = serde_json::Map::new();
    let mut doc_info: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut template = Value::Null;
    for field in &fields {
        let mut one = IndexBuilder::with_language(Box::new(ChineseText))
            .set_ref(ref_field)
            .add_field(field)
            .save_docs(false)
            .build();
        for n in 0..sections {
            let doc_ref = n.to_string();
            let doc = docs
                .get(&doc_ref)
                .ok_or(format!("no text for section {doc_ref}"))?;
            one.add_doc(&doc_ref, [doc[field.as_str()].as_str().unwrap_or("")]);
        }
        let mut one = serde_json::to_value(&one).map_err(|e| e.to_string())?;
        inverted.insert(field.clone(), one["index"][field.as_str()].take());
        for (doc_ref, lengths) in one["documentStore"]["docInfo"]
            .as_object()
            .into_iter()
            .flatten()
        {
            doc_info
                .entry(doc_ref.clone())
                .or_default()
                .insert(field.clone(), lengths[field.as_str()].clone());
        }
        template = one;
    }
    let mut rebuilt = template;
    rebuilt["fields"] = serde_json::json!(fields);
    rebuilt["index"] = Value::Object(inverted);
    rebuilt["documentStore"] = serde_json::json!({
        "save": true,
        "docs": docs,
        "docInfo": doc_info,
        "length": sections,
    });
    out["index"] = rebuilt;
    Ok(out)
}

/// Rewrites the search index of the book built in `book_dir` with
/// [`rebuild`]; gives the file and its size before and after, in bytes.
pub fn rewrite_book_index(book_dir: &Path) -> Result<(PathBuf, usize, usize), String> {
    let path = index_file(book_dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let search = decode_index_js(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let fresh = encode_index_js(&rebuild(&search)?);
    std::fs::write(&path, &fresh).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, text.len(), fresh.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_runs_become_substrings_and_words_stay_words() {
        assert_eq!(
            tokenize("边缘触发（Edge-Triggered）的`epoll_wait`，"),
            [
                "边缘触发",
                "缘触发",
                "触发",
                "发",
                "edge",
                "triggered",
                "的",
                "epoll_wait"
            ]
        );
        let long = tokenize("一二三四五六七八");
        assert_eq!(long[0], "一二三四五六");
        assert_eq!(long[2], "三四五六七八");
        assert_eq!(long.len(), 8);
        assert_eq!(tokenize("127.0.0.1, select()"), ["127.0.0.1", "select"]);
    }

    #[test]
    fn the_index_file_round_trips() {
        let search = serde_json::json!({"doc_urls": ["a.html#x"], "s": "it's a \\ 套接字"});
        let js = encode_index_js(&search);
        assert!(js.starts_with(JS_BEFORE) && js.contains("it\\'s"), "{js}");
        assert_eq!(decode_index_js(&js).unwrap(), search);
        assert!(decode_index_js("var x = 1;").is_err());
    }
}
