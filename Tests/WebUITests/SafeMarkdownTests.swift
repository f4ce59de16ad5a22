import Testing
@testable import WebUI

/// Banner messages: the Markdown subset renders, and nothing in a hostile message becomes live
/// HTML or a script link.
@Suite("Safe Markdown for banners")
struct SafeMarkdownTests {
    @Test func rendersTheSubset() {
        #expect(SafeMarkdown.html("**Maintenance** at *noon*, see `podman pull` and [docs](https://example.com/a?b=1&c=2)")
            == #"<p><strong>Maintenance</strong> at <em>noon</em>, see <code>podman pull</code> and <a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">docs</a></p>"#)
        #expect(SafeMarkdown.html("one\ntwo\n\nthree") == "<p>one<br>two</p><p>three</p>")
        #expect(SafeMarkdown.html("[home](/explore)") == #"<p><a href="/explore" rel="noopener noreferrer">home</a></p>"#)
    }

    @Test(arguments: [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](//evil.example/)",
        "[x](/\\evil.example/)",
        "[x](https://ok.example/\"onmouseover=\"alert(1))",
        "**<b onclick=alert(1)>bold</b>**",
    ])
    func hostileInputStaysText(_ input: String) {
        let html = SafeMarkdown.html(input)
        #expect(!html.contains("<script"), "\(html)")
        #expect(!html.contains("<img"), "\(html)")
        #expect(!html.contains("<b "), "\(html)")
        #expect(!html.lowercased().contains("href=\"javascript"), "\(html)")
        #expect(!html.contains("href=\"data"), "\(html)")
        #expect(!html.contains("href=\"//"), "\(html)")
        #expect(!html.contains("href=\"/\\"), "\(html)")
        #expect(!html.contains("\"onmouseover"), "\(html)")
        #expect(SafeMarkdown.plain(input) == SafeMarkdown.escape(input))
    }
}
