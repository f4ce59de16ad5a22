import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Registry
import ScanService
import Triggers

/// One page request: the HTTP request, its viewer and query parameters.
struct PageRequest: Sendable {
    let request: Request
    let viewer: Viewer

    func query(_ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map(String.init)
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back here.
    func requireUser() throws(PageExit) -> Namespace {
        guard let user = viewer.user else { throw .signIn }
        return user
    }
}

/// Ways a page handler stops early. Access problems look exactly like the API's: a private
/// resource the viewer cannot read is "not found", and an anonymous viewer is sent to sign in.
enum PageExit: Error {
    case notFound
    case signIn
    case redirect(String)
}

/// Shared by every page handler: services, the template renderer and the response plumbing.
struct PageServer: Sendable {
    let services: RegistryServices
    /// Builds, for the builds tab and build pages.
    let builds: BuildStore
    /// Triggers, for the build sources and log sentences that name them.
    let triggers: TriggerStore
    /// Scan results, for the tags view's security column and the Security Scanner page.
    let scans: ScanStore
    let renderer: Result<PageRenderer, PageRenderer.LoadError>

    typealias Handler = @Sendable (PageRequest) async throws -> Page

    /// Adds a GET page route.
    func get(_ router: Router<SlipwayRequestContext>, _ path: RouterPath, _ handler: @escaping Handler) {
        router.get(path) { request, context in
            await respond(request, context, handler)
        }
    }

    func respond(_ request: Request, _ context: SlipwayRequestContext, _ handler: Handler) async -> Response {
        var viewer = Viewer.anonymous
        // Banners appear on every page, error pages included; failing to read them hides them.
        let messages = (try? await services.globalMessages.all()) ?? []
        do {
            viewer = try await Viewer.resolve(request, accounts: services.accounts)
            let page = try await handler(PageRequest(request: request, viewer: viewer))
            return render(page, request: request, viewer: viewer, messages: messages)
        } catch let exit as PageExit {
            switch exit {
            case .notFound:
                return render(Self.notFoundPage, request: request, viewer: viewer, messages: messages)
            case .signIn:
                return Self.redirect("/signin?redirect=" + Self.queryEscape(request.uri.description))
            case .redirect(let location):
                return Self.redirect(location)
            }
        } catch {
            context.logger.error("page failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path.prefix(200))"])
            return render(Self.errorPage, request: request, viewer: viewer, messages: messages)
        }
    }

    static var notFoundPage: Page {
        Page(title: "Not found", template: "error",
             model: ["heading": "Not found", "message": "There is nothing here, or you do not have access to it."], status: .notFound)
    }

    static var errorPage: Page {
        Page(title: "Error", template: "error",
             model: ["heading": "Something went wrong", "message": "The page could not be shown. Try again later."], status: .internalServerError)
    }

    func render(_ page: Page, request: Request, viewer: Viewer, messages: [GlobalMessage] = []) -> Response {
        guard case .success(let renderer) = renderer else {
            if case .failure(let error) = renderer { services.logger.error("web UI templates failed to load", metadata: ["error": "\(error)"]) }
            return Self.html("<!doctype html><title>Error</title><p>The web UI is unavailable.</p>", status: .internalServerError)
        }
        guard let body = renderer.render(page.template, page.model) else {
            services.logger.error("web UI template missing", metadata: ["template": "\(page.template)"])
            return Self.html("<!doctype html><title>Error</title><p>The web UI is unavailable.</p>", status: .internalServerError)
        }
        let layout = LayoutModel(
            title: page.title, user: viewer.user?.name, isSuperuser: viewer.user?.isSuperuser ?? false, csrfToken: viewer.csrfToken,
            readOnly: services.config.registry.readOnly,
            messages: messages.map {
                BannerModel(uuid: $0.uuid, severity: $0.severity.rawValue,
                            html: $0.mediaType == .markdown ? SafeMarkdown.html($0.content) : SafeMarkdown.plain($0.content))
            },
            signInURL: "/signin?redirect=" + Self.queryEscape(request.uri.description), scripts: ["common.js"] + page.scripts,
            navRepositories: page.nav == .repositories, navExplore: page.nav == .explore, navOrganizations: page.nav == .organizations,
            body: body, year: Calendar(identifier: .gregorian).component(.year, from: Date()))
        return Self.html(renderer.render("layout", layout) ?? body, status: page.status)
    }

    static func html(_ text: String, status: HTTPResponse.Status) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        SecurityHeaders.apply(to: &headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        SecurityHeaders.apply(to: &headers)
        return Response(status: .seeOther, headers: headers)
    }

    static func queryEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// Path segments escaped for use in a URL path (repository names only hold safe characters,
    /// tags and team names too, but escaping keeps that an invariant of this function).
    static func pathEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/+")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// Only same-site absolute paths are accepted as a return address (no `//host` or schemes).
    static func safeReturnPath(_ candidate: String?) -> String? {
        guard let candidate, candidate.hasPrefix("/"), !candidate.hasPrefix("//"), !candidate.hasPrefix("/\\"),
              !candidate.contains(where: { $0.isNewline }) else { return nil }
        return candidate
    }
}
