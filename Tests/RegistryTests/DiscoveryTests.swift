import Foundation
import HTTPTypes
import NIOCore
@testable import Registry
import SlipwayTestSupport
import Testing

/// The discovery documents are generated from the route table: every registered route (a route
/// added later included) appears in both with its method, path parameters and permission; the
/// doc table names no route that does not exist; and the documented response schemas hold for
/// what the handlers really send.
@Suite("API v1: discovery (Swagger 2) and OpenAPI 3")
struct DiscoveryTests {
    static func document(_ c: RegistryClient, _ path: String) async throws -> [String: Any] {
        let response = try await c.send(.get, path)
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "application/json")
        return try #require(response.json as? [String: Any])
    }

    @Test(arguments: TestBackend.available)
    func everyRegisteredRouteIsInBothDocuments(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let routes = SlipwayApplication.apiRoutes(services: registry.services, modules: registry.modules).registered
            #expect(routes.count > 50)
            let swagger = try await Self.document(c, "/api/v1/discovery")
            let openAPI = try await Self.document(c, "/api/v1/openapi.json")
            #expect(swagger["swagger"] as? String == "2.0")
            #expect((openAPI["openapi"] as? String)?.hasPrefix("3.0") == true)
            for (name, document) in [("discovery", swagger), ("openapi", openAPI)] {
                let paths = try #require(document["paths"] as? [String: [String: Any]])
                var operations = 0
                for route in routes {
                    let operation = paths[route.path]?[route.method.rawValue.lowercased()] as? [String: Any]
                    guard let operation else {
                        Issue.record("\(name): \(route.method.rawValue) \(route.path) is not documented")
                        continue
                    }
                    operations += 1
                    #expect(operation["x-slipway-requires"] as? String == route.requirement.description, "\(name): \(route)")
                    let parameters = operation["parameters"] as? [[String: Any]] ?? []
                    let inPath = Set(parameters.filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String })
                    #expect(inPath == Set(APIRoutes.parameterNames(route.path)), "\(name): \(route)")
                }
                // Nothing documented that is not served.
                #expect(paths.values.map(\.count).reduce(0, +) == operations, "\(name): operations that are not registered routes")
            }
        }
    }

    @Test func theDocTableNamesOnlyRegisteredRoutes() async throws {
        let registry = try await TestRegistry.start(.sqlite)
        let registered = Set(SlipwayApplication.apiRoutes(services: registry.services, modules: registry.modules).registered
            .map { "\($0.method.rawValue) \($0.path)" })
        await registry.stop()
        let stale = Set(APIRouteDocs.table.keys).subtracting(registered).sorted()
        #expect(stale.isEmpty, "docs for routes that are not registered: \(stale)")
        let schemas = APISchemas.all(ref: { $0 })
        for (key, doc) in APIRouteDocs.table {
            for name in [doc.request, doc.response].compactMap({ $0 }) {
                #expect(schemas[name] != nil, "\(key) names schema \(name), which does not exist")
            }
        }
    }

    /// The required properties of each documented schema are what the handler really sends.
    @Test(arguments: TestBackend.available)
    func documentedSchemasMatchRealBodies(backend: TestBackend) async throws {
        try await TestRegistry.with(backend) { registry, c in
            let token = try await RepositoryAPITests.apiToken(registry, TestRegistry.adminName)
            let push = try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:admin/app:pull,push"]))
            try await c.pushImage("admin/app", tag: "v1", token: push)
            let openAPI = try await Self.document(c, "/api/v1/openapi.json")
            let schemas = try #require((openAPI["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
            func check(_ path: String, _ schema: String, status: HTTPResponse.Status = .ok) async throws -> [String: Any] {
                let response = try await c.send(.get, path, token: token)
                #expect(response.status == status, "\(path)")
                let body = try #require(response.json as? [String: Any], "\(path)")
                let required = schemas[schema]?["required"] as? [String] ?? []
                #expect(!required.isEmpty || schema == "TagUpdate")
                for key in required { #expect(body[key] != nil, "\(path): '\(key)' required by \(schema) is missing") }
                return body
            }
            let repository = try await check("/api/v1/repository/admin/app", "Repository")
            let tags = repository["tags"] as? [String: [String: Any]] ?? [:]
            for key in schemas["TagSummary"]?["required"] as? [String] ?? [] { #expect(tags["v1"]?[key] != nil, "TagSummary.\(key)") }
            let list = try await check("/api/v1/repository?namespace=admin", "RepositoryList")
            let entry = try #require((list["repositories"] as? [[String: Any]])?.first)
            for key in schemas["RepositoryListEntry"]?["required"] as? [String] ?? [] { #expect(entry[key] != nil, "RepositoryListEntry.\(key)") }
            let tagList = try await check("/api/v1/repository/admin/app/tag/", "TagList")
            let tag = try #require((tagList["tags"] as? [[String: Any]])?.first)
            for key in schemas["Tag"]?["required"] as? [String] ?? [] { #expect(tag[key] != nil, "Tag.\(key)") }
            _ = try await check("/api/v1/user/", "User")
            _ = try await check("/api/v1/repository/admin/nothing-here", "ApiError", status: .notFound)
        }
    }
}
