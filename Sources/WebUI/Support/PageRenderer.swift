import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache

/// Renders pages: a page template produces the body (every `{{value}}` HTML-escaped by
/// Mustache), then `layout.mustache` wraps it with the header, banners and footer. The layout
/// inserts the body with `{{{body}}}` because that string is already-escaped template output,
/// never user data.
///
/// Templates are read once from the `Templates` resource directory at start-up.
struct PageRenderer: Sendable {
    let library: MustacheLibrary

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Loads every `*.mustache` file below `directory` (partials such as `partials/repo_header`
    /// keep their sub-path as their name).
    static func load(directory: URL) throws -> PageRenderer {
        var library = MustacheLibrary()
        let root = directory.standardizedFileURL.path
        guard let enumerator = FileManager.default.enumerator(atPath: root) else {
            throw LoadError(description: "template directory \(root) is missing")
        }
        for case let relative as String in enumerator where relative.hasSuffix(".mustache") {
            let text = try String(contentsOfFile: root + "/" + relative, encoding: .utf8)
            do {
                try library.register(text, named: String(relative.dropLast(".mustache".count)))
            } catch {
                throw LoadError(description: "template \(relative): \(error)")
            }
        }
        return PageRenderer(library: library)
    }

    /// The bundled templates.
    static func bundled() throws -> PageRenderer {
        guard let url = Bundle.module.url(forResource: "Templates", withExtension: nil) else {
            throw LoadError(description: "the WebUI resource bundle has no Templates directory")
        }
        return try load(directory: url)
    }

    func render(_ template: String, _ model: Any) -> String? {
        library.render(model, withTemplate: template)
    }
}

/// What the layout shows around every page.
struct LayoutModel {
    let title: String
    let user: String?
    let isSuperuser: Bool
    let csrfToken: String
    let readOnly: Bool
    /// The superusers' messages (`/api/v1/messages`), each a banner on every page.
    let messages: [BannerModel]
    /// The sign-in link, returning to the current page.
    let signInURL: String
    /// Page scripts under /static/js/ (never inline: the CSP forbids inline scripts).
    let scripts: [String]
    /// Which top-level navigation entry to highlight.
    let navRepositories: Bool
    let navExplore: Bool
    let navOrganizations: Bool
    let body: String
    let year: Int
}

/// One message banner. `html` is `SafeMarkdown` output (escaped text with a few fixed tags),
/// which is why the layout may insert it unescaped.
struct BannerModel {
    let uuid: String
    let severity: String
    let html: String
}

/// A page to send: template + view model + the bits the layout needs.
struct Page: Sendable {
    var title: String
    var template: String
    var model: any Sendable
    var scripts: [String] = []
    var nav: Nav = .none
    var status: HTTPResponse.Status = .ok

    enum Nav { case none, repositories, explore, organizations }
}

/// Security headers on every HTML response. The CSP allows only same-origin scripts, styles and
/// fetches, so an injected `<script>` or inline handler would not run even if escaping failed.
enum SecurityHeaders {
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static func apply(to headers: inout HTTPFields) {
        headers[HTTPField.Name("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
    }
}
