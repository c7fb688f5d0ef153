//! What the book's searcher finds for a query: a Rust copy of what
//! elasticlunr.js 0.9.5 (`Index.search`, which mdBook's `searcher.js` calls
//! with the index's `search_options`) does with an index, for tests that
//! search the built book without a browser.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The query's tokens as elasticlunr.js's tokenizer makes them: trimmed,
/// lower-cased, split on runs of whitespace and `-` (a separator at either
/// end leaves an empty token there, as JavaScript's `split` does).
pub fn js_tokens(query: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut after_separator = false;
    for c in query.trim().to_lowercase().chars() {
        if c.is_whitespace() || c == '-' {
            if !after_separator {
                tokens.push(std::mem::take(&mut current));
            }
            after_separator = true;
        } else {
            current.push(c);
            after_separator = false;
        }
    }
    tokens.push(current);
    tokens
}

/// The names of the pipeline functions the index runs a query through.
pub fn pipeline(search: &Value) -> Vec<String> {
    search["index"]["pipeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// The sections (doc refs, with their scores, best first) that the
/// searcher lists for `query` in `search`, the object of
/// `searchindex-HASH.js`. Only an index with an empty pipeline can be
/// searched like this: the English pipeline's stemmer is not copied here.
pub fn search(search: &Value, query: &str) -> Result<Vec<(String, f64)>, String> {
    let names = pipeline(search);
    if !names.is_empty() {
        return Err(format!(
            "the index runs queries through {names:?}; only an empty pipeline is emulated"
        ));
    }
    Ok(search_tokens(search, &js_tokens(query)))
}

/// The sections that `tokens`, taken as they are (no pipeline), find in
/// `search`, with their scores, best first.
pub fn search_tokens(search: &Value, tokens: &[String]) -> Vec<(String, f64)> {
    let options = &search["search_options"];
    let index = &search["index"];
    let global_bool = options["bool"].as_str().unwrap_or("OR");
    let global_expand = options["expand"].as_bool().unwrap_or(false);
    let store = &index["documentStore"];
    let doc_count = store["length"].as_f64().unwrap_or(0.0);
    let fields: Vec<(String, Value)> = match options["fields"].as_object() {
        Some(f) => f.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => index["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .map(|f| (f.to_string(), Value::Null))
            .collect(),
    };
    let mut total: BTreeMap<String, f64> = BTreeMap::new();
    for (field, config) in fields {
        let boost = config["boost"].as_f64().unwrap_or(1.0);
        if boost == 0.0 {
            continue;
        }
        let and = config["bool"].as_str().unwrap_or(global_bool) == "AND";
        let expand = config["expand"].as_bool().unwrap_or(global_expand);
        let root = &index["index"][&field]["root"];
        let mut scores: Option<BTreeMap<String, f64>> = None;
        let mut exact: BTreeMap<String, usize> = BTreeMap::new();
        for token in tokens {
            let keys = if expand {
                expand_token(root, token)
            } else {
                vec![token.clone()]
            };
            let mut these: BTreeMap<String, f64> = BTreeMap::new();
            for key in keys {
                let node = node(root, &key);
                let empty = Map::new();
                let docs = node.and_then(|n| n["docs"].as_object()).unwrap_or(&empty);
                let df = node.and_then(|n| n["df"].as_f64()).unwrap_or(0.0);
                let idf = 1.0 + (doc_count / (df + 1.0)).ln();
                for (doc, tf) in docs {
                    if and && scores.as_ref().is_some_and(|s| !s.contains_key(doc)) {
                        continue;
                    }
                    if key == *token {
                        *exact.entry(doc.clone()).or_default() += 1;
                    }
                    let length = store["docInfo"][doc][&field].as_f64().unwrap_or(0.0);
                    let norm = if length != 0.0 {
                        1.0 / length.sqrt()
                    } else {
                        1.0
                    };
                    let (k, t) = (key.chars().count() as f64, token.chars().count() as f64);
                    let partial = if key != *token {
                        0.15 * (1.0 - (k - t) / k)
                    } else {
                        1.0
                    };
                    *these.entry(doc.clone()).or_default() +=
                        tf["tf"].as_f64().unwrap_or(0.0) * idf * norm * partial;
                }
            }
            scores = Some(match scores {
                None => these,
                Some(before) if and => these
                    .into_iter()
                    .filter_map(|(d, s)| before.get(&d).map(|b| (d, b + s)))
                    .collect(),
                Some(mut before) => {
                    for (d, s) in these {
                        *before.entry(d).or_default() += s;
                    }
                    before
                }
            });
        }
        for (doc, score) in scores.unwrap_or_default() {
            let matched = exact.get(&doc).copied();
            let coord = matched.map_or(1.0, |m| m as f64 / tokens.len() as f64);
            *total.entry(doc).or_default() += score * coord * boost;
        }
    }
    let mut found: Vec<(String, f64)> = total.into_iter().collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    found
}

/// The trie node of `token` under `root`.
fn node<'a>(root: &'a Value, token: &str) -> Option<&'a Value> {
    let mut at = root;
    for c in token.chars() {
        at = at.get(c.to_string())?;
    }
    Some(at)
}

/// Every indexed token that starts with `token` (`token` itself included
/// if it is indexed), as `InvertedIndex.expandToken` finds them.
fn expand_token(root: &Value, token: &str) -> Vec<String> {
    fn walk(at: &Value, prefix: &mut String, out: &mut Vec<String>) {
        if at["df"].as_f64().unwrap_or(0.0) > 0.0 {
            out.push(prefix.clone());
        }
        for (key, child) in at.as_object().into_iter().flatten() {
            if key == "docs" || key == "df" {
                continue;
            }
            prefix.push_str(key);
            walk(child, prefix, out);
            prefix.truncate(prefix.len() - key.len());
        }
    }
    let mut out = Vec::new();
    if token.is_empty() {
        return out;
    }
    if let Some(at) = node(root, token) {
        walk(at, &mut token.to_string(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_split_as_elasticlunr_js_splits_them() {
        assert_eq!(
            js_tokens("  Edge-Triggered  epoll "),
            ["edge", "triggered", "epoll"]
        );
        assert_eq!(js_tokens("边缘触发"), ["边缘触发"]);
        assert_eq!(js_tokens("-a--b"), ["", "a", "b"]);
    }

    /// A two-section index as mdBook writes one, with this crate's tokens.
    fn index() -> Value {
        let built = crate::rebuild(&serde_json::json!({
            "doc_urls": ["a.html#x", "b.html"],
            "search_options": {"bool": "OR", "expand": true,
                               "fields": {"title": {"boost": 2}, "body": {"boost": 1}}},
            "index": {"fields": ["title", "body"], "ref": "id",
                      "documentStore": {"docs": {
                          "0": {"id": "0", "title": "边缘触发", "body": "只在状态变化时通知 epoll"},
                          "1": {"id": "1", "title": "水平触发", "body": "只要就绪就通知"}}}}
        }))
        .unwrap();
        assert!(pipeline(&built).is_empty());
        built
    }

    fn refs(found: Vec<(String, f64)>) -> Vec<String> {
        let mut r: Vec<String> = found.into_iter().map(|(d, _)| d).collect();
        r.sort();
        r
    }

    #[test]
    fn a_chinese_substring_finds_its_sections_and_no_other() {
        let idx = index();
        assert_eq!(refs(search(&idx, "触发").unwrap()), ["0", "1"]);
        assert_eq!(refs(search(&idx, "边缘").unwrap()), ["0"]);
        assert_eq!(refs(search(&idx, "状态变化").unwrap()), ["0"]);
        assert_eq!(refs(search(&idx, "EPOLL").unwrap()), ["0"]);
        assert!(search(&idx, "套接字").unwrap().is_empty());
        // Longer than the longest token indexed: not found.
        assert!(search(&idx, "只在状态变化时通知").unwrap().is_empty());
    }

    #[test]
    fn and_keeps_sections_with_every_token_and_or_any() {
        let mut idx = index();
        assert_eq!(refs(search(&idx, "边缘 就绪").unwrap()), ["0", "1"]);
        idx["search_options"]["bool"] = "AND".into();
        assert!(search(&idx, "边缘 就绪").unwrap().is_empty());
        assert_eq!(refs(search(&idx, "边缘 触发").unwrap()), ["0"]);
        // elasticlunr.js takes AND within each field: the title has one
        // word, the body the other.
        assert!(search(&idx, "边缘 epoll").unwrap().is_empty());
    }

    #[test]
    fn an_index_with_a_pipeline_is_refused() {
        let mut idx = index();
        idx["index"]["pipeline"] = serde_json::json!(["trimmer"]);
        assert!(search(&idx, "x").is_err());
    }
}
