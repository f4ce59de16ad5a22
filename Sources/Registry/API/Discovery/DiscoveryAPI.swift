import Foundation
import Hummingbird
import NIOCore

/// `GET /api/v1/discovery` (Quay's Swagger 2.0 document of the whole API) and
/// `GET /api/v1/openapi.json` (the same as OpenAPI 3.0), both generated on each request from the
/// routes registered at that point, so they list every route including those of other modules.
struct DiscoveryAPI {
    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/discovery", .anonymous) { [weak api] r in
            Self.serve(DiscoveryDocument(routes: api?.registered ?? [], baseURL: r.origin).swagger2())
        }
        api.add(.get, "/api/v1/openapi.json", .anonymous) { [weak api] r in
            Self.serve(DiscoveryDocument(routes: api?.registered ?? [], baseURL: r.origin).openAPI3())
        }
    }

    private static func serve(_ document: [String: Any]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: DiscoveryDocument.render(document))))
    }
}
