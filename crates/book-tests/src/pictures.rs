//! Pictures: every image of the book is a hand-written SVG, and must be one
//! a browser shows and scales.

/// Why a picture would not show, if it would not: not well-formed XML, not
/// an `<svg>` root, or no `viewBox` to scale it to the page. Each problem
/// says what to fix.
pub fn svg_problems(text: &str) -> Vec<String> {
    match roxmltree::Document::parse(text) {
        Err(e) => vec![format!(
            "not well-formed XML: {e} (fix the markup there; browsers show nothing of a \
             broken SVG)"
        )],
        Ok(doc) => {
            let r = doc.root_element();
            let mut v = Vec::new();
            if r.tag_name().name() != "svg" {
                v.push("the root element is not <svg> (make the file an SVG picture)".to_string());
            }
            if r.attribute("viewBox").is_none() {
                v.push(
                    "no viewBox: it would not scale with the page (add \
                     viewBox=\"0 0 WIDTH HEIGHT\" to <svg>)"
                        .to_string(),
                );
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_check_fails_on_broken_svg() {
        let good = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="1" height="1"/></svg>"#;
        assert!(svg_problems(good).is_empty());
        assert!(svg_problems(&good.replace("</svg>", ""))[0].contains("well-formed"));
        assert!(svg_problems(&good.replace(" viewBox=\"0 0 10 10\"", ""))[0].contains("viewBox"));
        assert!(svg_problems("<html/>")[0].contains("not <svg>"));
    }
}
