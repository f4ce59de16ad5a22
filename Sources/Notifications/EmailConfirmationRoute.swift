import Foundation
import Hummingbird
import NIOCore
import Registry

/// `GET /authrepoemail?code=…` (Quay's path): the link in the verification mail. Anyone holding
/// the code may open it (it was mailed to the address); it confirms that address for the
/// repository's e-mail notifications and answers with a small HTML page.
struct EmailConfirmationRoute: Sendable {
    let services: RegistryServices
    let store: NotificationStore

    func register(_ router: Router<SlipwayRequestContext>) {
        router.get("/authrepoemail") { request, _ in
            await self.confirm(code: request.uri.queryParameters["code"].map(String.init) ?? "")
        }
    }

    func confirm(code: String) async -> Response {
        guard !code.isEmpty, code.utf8.count <= 200 else {
            return Self.page(status: .badRequest, "Missing confirmation code", "The link is incomplete. Open the link from the e-mail again.")
        }
        do {
            guard let (email, repository) = try await store.confirmEmailAuthorization(code: code) else {
                return Self.page(status: .notFound, "Unknown confirmation link", "This link is not valid. Ask for a new verification e-mail.")
            }
            services.logger.info("notification e-mail address confirmed", metadata: ["repository": "\(repository)"])
            return Self.page(status: .ok, "E-mail address confirmed",
                             "\(email) will now receive the notifications of \(repository) that are sent to it.")
        } catch {
            services.logger.error("e-mail confirmation failed", metadata: ["error": "\(error)"])
            return Self.page(status: .internalServerError, "Something went wrong", "The address could not be confirmed. Try again later.")
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func page(status: HTTPResponse.Status, _ title: String, _ text: String) -> Response {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · Slipway</title></head>
            <body><h1>\(escape(title))</h1><p>\(escape(text))</p></body></html>
            """
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
