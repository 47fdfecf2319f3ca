//! Turns comment and description text (Markdown) into HTML that is safe to show.

use pulldown_cmark::{Event, Tag, TagEnd};

/// Renders Markdown and sanitises the result: raw HTML in the input is either
/// removed or escaped, links get `rel="noopener noreferrer nofollow"`, and an
/// image becomes a link to it: a remote image would load, unasked, in every
/// agent's browser and in notification mails (a tracking pixel).
pub fn markdown_to_safe_html(text: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(text, pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let events = parser.map(|event| match event {
        Event::Start(Tag::Image { dest_url, title, id, .. }) => {
            Event::Start(Tag::Link { link_type: pulldown_cmark::LinkType::Inline, dest_url, title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut html = String::with_capacity(text.len() + text.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    let mut tags = ammonia::Builder::default().clone_tags();
    tags.remove("img");
    ammonia::Builder::default().tags(tags).link_rel(Some("noopener noreferrer nofollow")).clean(&html).to_string()
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

    #[test]
    fn remote_images_become_links_and_links_do_not_leak_the_page() {
        let html = markdown_to_safe_html(
            "Voir ![capture](https://evil.example/pixel.gif) et <img src=\"https://evil.example/p.gif\">",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://evil.example/pixel.gif\" rel=\"noopener noreferrer nofollow\">capture</a>"
            ),
            "{html}"
        );
        let link = markdown_to_safe_html("[doc](https://ent.example/doc)");
        assert!(link.contains("rel=\"noopener noreferrer nofollow\""), "{link}");
    }
}
