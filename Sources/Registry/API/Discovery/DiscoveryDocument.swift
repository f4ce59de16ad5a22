import Foundation

/// The `/api/v1` API described from the route table itself (`APIRoutes.registered`), so the
/// description cannot drift from what is served: every route, method, path parameter and
/// required permission, plus whatever `APIRouteDocs` adds (summary, query parameters, bodies).
/// Rendered as Swagger 2.0 (Quay's `GET /api/v1/discovery`) and as OpenAPI 3.0.
struct DiscoveryDocument {
    let routes: [APIRouteInfo]
    /// Scheme and authority the API is served from (`RequestOrigin.baseURL`).
    let baseURL: String
    var docs: [String: APIRouteDoc] = APIRouteDocs.table

    static let securityScheme = "oauth2_implicit"

    /// Quay's OAuth scopes, as its discovery document names them.
    static let scopes: [String: String] = [
        "repo:read": "View all visible repositories", "repo:write": "Read/Write to any accessible repositories",
        "repo:admin": "Administer Repositories", "repo:create": "Create Repositories",
        "user:read": "Read User Information", "user:admin": "Administer User", "org:admin": "Administer Organization",
    ]

    // MARK: - Swagger 2.0

    func swagger2() -> [String: Any] {
        let ref = { (name: String) in "#/definitions/\(name)" }
        var paths: [String: [String: Any]] = [:]
        for route in routes {
            var operation = common(route)
            var parameters = pathParameters(route).map { ["name": $0, "in": "path", "required": true, "type": "string"] as [String: Any] }
            parameters += doc(route).query.map { ["name": $0.name, "in": "query", "required": false, "type": $0.type, "description": $0.description] as [String: Any] }
            if hasBody(route) {
                parameters.append(["name": "body", "in": "body", "required": doc(route).request != nil, "schema": requestSchema(route, ref: ref)] as [String: Any])
            }
            operation["parameters"] = parameters
            var responses: [String: Any] = ["default": ["description": "Error", "schema": ["$ref": ref("ApiError")]] as [String: Any]]
            for status in successStatuses(route) {
                var response: [String: Any] = ["description": "Success"]
                if status != "204", let name = doc(route).response { response["schema"] = ["$ref": ref(name)] }
                responses[status] = response
            }
            operation["responses"] = responses
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation
        }
        let url = URL(string: baseURL)
        return [
            "swagger": "2.0",
            "info": info,
            "host": url.map { u in u.port.map { "\(u.host ?? ""):\($0)" } ?? (u.host ?? "") } ?? "",
            "basePath": "/",
            "schemes": [url?.scheme ?? "http"],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": [Self.securityScheme: ["type": "oauth2", "flow": "implicit",
                                                          "authorizationUrl": "\(baseURL)/oauth/authorize", "scopes": Self.scopes] as [String: Any]],
            "paths": paths,
            "definitions": APISchemas.all(ref: ref),
        ]
    }

    // MARK: - OpenAPI 3.0

    func openAPI3() -> [String: Any] {
        let ref = { (name: String) in "#/components/schemas/\(name)" }
        func json(_ schema: [String: Any]) -> [String: Any] { ["application/json": ["schema": schema]] }
        var paths: [String: [String: Any]] = [:]
        for route in routes {
            var operation = common(route)
            var parameters = pathParameters(route).map { ["name": $0, "in": "path", "required": true, "schema": ["type": "string"]] as [String: Any] }
            parameters += doc(route).query.map { ["name": $0.name, "in": "query", "required": false, "schema": ["type": $0.type], "description": $0.description] as [String: Any] }
            operation["parameters"] = parameters
            if hasBody(route) {
                operation["requestBody"] = ["required": doc(route).request != nil, "content": json(requestSchema(route, ref: ref))] as [String: Any]
            }
            var responses: [String: Any] = ["default": ["description": "Error", "content": json(["$ref": ref("ApiError")])] as [String: Any]]
            for status in successStatuses(route) {
                var response: [String: Any] = ["description": "Success"]
                if status != "204", let name = doc(route).response { response["content"] = json(["$ref": ref(name)]) }
                responses[status] = response
            }
            operation["responses"] = responses
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation
        }
        return [
            "openapi": "3.0.3",
            "info": info,
            "servers": [["url": baseURL]],
            "paths": paths,
            "components": [
                "schemas": APISchemas.all(ref: ref),
                "securitySchemes": [Self.securityScheme: ["type": "oauth2", "flows": ["implicit": [
                    "authorizationUrl": "\(baseURL)/oauth/authorize", "scopes": Self.scopes] as [String: Any]]] as [String: Any]],
            ],
        ]
    }

    static func render(_ document: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    // MARK: - Shared parts

    private var info: [String: Any] {
        ["title": "Slipway", "version": "v1",
         "description": "Slipway's Quay-compatible API. Each operation states the permission it requires (x-slipway-requires)."]
    }

    private func doc(_ route: APIRouteInfo) -> APIRouteDoc {
        docs["\(route.method.rawValue) \(route.path)"] ?? APIRouteDoc()
    }

    private func pathParameters(_ route: APIRouteInfo) -> [String] { APIRoutes.parameterNames(route.path) }

    private func hasBody(_ route: APIRouteInfo) -> Bool { [.post, .put, .patch].contains(route.method) }

    private func requestSchema(_ route: APIRouteInfo, ref: (String) -> String) -> [String: Any] {
        doc(route).request.map { ["$ref": ref($0)] } ?? ["type": "object"]
    }

    /// Reads answer 200; writes answer 200, 201 (created), 202 (accepted, builds) or 204.
    private func successStatuses(_ route: APIRouteInfo) -> [String] {
        route.method == .get ? ["200"] : ["200", "201", "202", "204"]
    }

    /// Fields both formats share: id, tag, summary, the permission and its OAuth scope.
    private func common(_ route: APIRouteInfo) -> [String: Any] {
        let tail = route.path.dropFirst("/api/v1/".count)
        let id = route.method.rawValue.lowercased() + "_" + tail.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        var operation: [String: Any] = [
            "operationId": id,
            "tags": [tail.split(separator: "/").first.map(String.init) ?? "api"],
            "summary": doc(route).summary ?? "\(route.method.rawValue) \(route.path)",
            "description": "Requires: \(route.requirement).",
            "x-slipway-requires": route.requirement.description,
        ]
        if let scope = route.requirement.scope {
            // Public repositories are readable without a token.
            let anonymousToo = route.requirement == .repository(.read)
            operation["security"] = (anonymousToo ? [[String: [String]]()] : []) + [[Self.securityScheme: [scope]]]
            operation["x-slipway-scope"] = scope
        } else {
            operation["security"] = [[String: [String]]]()
        }
        return operation
    }
}
