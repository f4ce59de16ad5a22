import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport

/// A browser-like session for page tests: signs in through `POST /api/v1/signin` and sends the
/// session cookie with every page request, as the browser does.
struct WebSession {
    let client: RegistryClient
    let cookie: String?
    let csrf: String?

    static func anonymous(_ client: RegistryClient) -> WebSession { WebSession(client: client, cookie: nil, csrf: nil) }

    static func signIn(_ client: RegistryClient, _ user: String, password: String = TestRegistry.password) async throws -> WebSession {
        let body = ByteBuffer(string: #"{"username":"\#(user)","password":"\#(password)"}"#)
        let response = try await client.send(.post, "/api/v1/signin", headers: [.contentType: "application/json"], body: body)
        guard response.status == .ok, let setCookie = response.headers[.setCookie],
              let pair = setCookie.split(separator: ";").first, let json = response.json as? [String: Any] else {
            throw TestFailure("sign-in of \(user) failed: \(response.status) \(String(buffer: response.body))")
        }
        return WebSession(client: client, cookie: String(pair), csrf: json["csrf_token"] as? String)
    }

    func get(_ path: String) async throws -> TestResponse {
        var headers = HTTPFields()
        if let cookie { headers[.cookie] = cookie }
        return try await client.send(.get, path, headers: headers)
    }

    /// An API call as the page's script makes it: cookie + CSRF header.
    func api(_ method: HTTPRequest.Method, _ path: String, json: String? = nil) async throws -> TestResponse {
        var headers = HTTPFields()
        if let cookie { headers[.cookie] = cookie }
        if let csrf { headers[HTTPField.Name("X-CSRF-Token")!] = csrf }
        if json != nil { headers[.contentType] = "application/json" }
        return try await client.send(method, path, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}
