//! Turns comment and description text (Markdown) into HTML that is safe to show.

/// Renders Markdown and sanitises the result: raw HTML in the input is either
/// removed or escaped, links get `rel="noopener noreferrer nofollow"`.
pub fn markdown_to_safe_html(text: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(text, pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let mut html = String::with_capacity(text.len() + text.len() / 4);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered() {
        assert_eq!(markdown_to_safe_html("**gras**"), "<p><strong>gras</strong></p>\n");
    }

    #[test]
    fn scripts_and_event_handlers_are_removed() {
        let html =
            markdown_to_safe_html("<script>alert(1)</script><img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))");
        assert!(!html.contains("<script") && !html.contains("onerror"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
    }
}
