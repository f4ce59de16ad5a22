// Points further tags at a manifest that is already in the registry: one GET of the manifest by
// digest, then one PUT per tag (the Distribution API's way to tag). A build with several tags
// uploads its layers once (the first `buildah push`) instead of running a whole push per tag,
// each spawning buildah, re-checking every blob and re-sending the config and manifest.
//
// Auth follows the registry's challenge: `GET /v2/` → 401 `WWW-Authenticate: Bearer realm=…,
// service=…` → the realm with the build's push credentials (Basic) for
// `repository:<repo>:pull,push`. The credentials go in a header, never in a URL or a log line.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public struct ManifestTagger: Sendable {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public var timeout: TimeInterval

    public init(timeout: TimeInterval = 60) {
        self.timeout = timeout
    }

    /// Makes `registry/repository:tag` name the manifest `digest` for every tag; returns the
    /// digest the registry reported for each (the same bytes, so the same digest).
    public func tag(registry: String, repository: String, digest: String, tags: [String], username: String, password: String,
                    tlsVerify: Bool) async throws -> [String: String] {
        let base = URL(string: "\(tlsVerify ? "https" : "http")://\(registry)")!
        let token = try await Self.bearerToken(base: base, scope: "repository:\(repository):pull,push", credentials: (username, password),
                                               timeout: timeout)
        let (mediaType, body) = try await manifest(base: base, repository: repository, reference: digest, token: token,
                                                   username: username, password: password)
        var digests: [String: String] = [:]
        for tag in tags {
            try Task.checkCancellation()
            var put = URLRequest(url: base.appendingPathComponent("v2/\(repository)/manifests/\(tag)"), timeoutInterval: timeout)
            put.httpMethod = "PUT"
            put.httpBody = body
            put.setValue(mediaType, forHTTPHeaderField: "Content-Type")
            Self.authorize(&put, token: token, username: username, password: password)
            let (status, headers, _) = try await Self.send(put)
            guard status == 201 else { throw Failure(description: "tagging \(tag) answered HTTP \(status)") }
            let stored = headers["docker-content-digest"] ?? digest
            guard stored == digest else { throw Failure(description: "tagging \(tag) stored \(stored), not \(digest)") }
            digests[tag] = stored
        }
        return digests
    }

    /// The media type and bytes of a manifest (or index) the registry holds, read with the
    /// build's push credentials (a multi-architecture build reads back the index it pushed).
    public func manifest(registry: String, repository: String, reference: String, username: String, password: String,
                         tlsVerify: Bool) async throws -> (mediaType: String, body: Data) {
        let base = URL(string: "\(tlsVerify ? "https" : "http")://\(registry)")!
        let token = try await Self.bearerToken(base: base, scope: "repository:\(repository):pull,push", credentials: (username, password),
                                               timeout: timeout)
        return try await manifest(base: base, repository: repository, reference: reference, token: token, username: username, password: password)
    }

    private func manifest(base: URL, repository: String, reference: String, token: String?, username: String,
                          password: String) async throws -> (mediaType: String, body: Data) {
        var get = URLRequest(url: base.appendingPathComponent("v2/\(repository)/manifests/\(reference)"), timeoutInterval: timeout)
        get.setValue(Self.accept, forHTTPHeaderField: "Accept")
        Self.authorize(&get, token: token, username: username, password: password)
        let (status, headers, body) = try await Self.send(get)
        guard status == 200, let mediaType = headers["content-type"], !body.isEmpty else {
            throw Failure(description: "reading the pushed manifest \(reference) answered HTTP \(status)")
        }
        return (mediaType, body)
    }

    static let accept = [
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    ].joined(separator: ", ")

    /// A bearer token for `scope` from the registry's challenge (anonymous without credentials);
    /// nil when `/v2/` needs no token (Basic or none).
    static func bearerToken(base: URL, scope: String, credentials: (username: String, password: String)?,
                            timeout: TimeInterval) async throws -> String? {
        let (status, headers, _) = try await Self.send(URLRequest(url: base.appendingPathComponent("v2/"), timeoutInterval: timeout))
        guard status == 401, let challenge = headers["www-authenticate"], challenge.lowercased().hasPrefix("bearer ") else { return nil }
        let parameters = Self.challengeParameters(String(challenge.dropFirst("bearer ".count)))
        guard let realm = parameters["realm"], let realmURL = URL(string: realm, relativeTo: base),
              var components = URLComponents(url: realmURL.absoluteURL, resolvingAgainstBaseURL: true) else {
            throw Failure(description: "the registry's token challenge names no realm")
        }
        var query = components.queryItems ?? []
        if let service = parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: scope))
        components.queryItems = query
        guard let url = components.url else { throw Failure(description: "the registry's token realm is not a URL") }
        var request = URLRequest(url: url.absoluteURL, timeoutInterval: timeout)
        if let credentials { Self.authorize(&request, token: nil, username: credentials.username, password: credentials.password) }
        let (tokenStatus, _, body) = try await Self.send(request)
        struct TokenAnswer: Decodable { let token: String?; let access_token: String? }
        guard tokenStatus == 200, let answer = try? JSONDecoder().decode(TokenAnswer.self, from: body),
              let token = answer.token ?? answer.access_token else {
            throw Failure(description: "the registry refused a token for \(scope) (HTTP \(tokenStatus))")
        }
        return token
    }

    /// `realm="…",service="…",scope="…"` → its values (quoted strings may hold commas).
    static func challengeParameters(_ text: String) -> [String: String] {
        var parameters: [String: String] = [:]
        var rest = Substring(text)
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: " ,")).lowercased()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let close = rest.firstIndex(of: "\"") ?? rest.endIndex
                value = String(rest[..<close])
                rest = close < rest.endIndex ? rest[rest.index(after: close)...] : ""
            } else {
                let comma = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<comma]).trimmingCharacters(in: .whitespaces)
                rest = rest[comma...]
            }
            parameters[key] = value
        }
        return parameters
    }

    static func authorize(_ request: inout URLRequest, token: String?, username: String, password: String) {
        if let token {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        } else {
            let basic = Data("\(username):\(password)".utf8).base64EncodedString()
            request.setValue("Basic \(basic)", forHTTPHeaderField: "Authorization")
        }
    }

    /// Status, lower-cased headers and body.
    static func send(_ request: URLRequest) async throws -> (Int, [String: String], Data) {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Int, [String: String], Data), any Error>) in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                    return
                }
                guard let http = response as? HTTPURLResponse else {
                    continuation.resume(throwing: Failure(description: "no HTTP answer from the registry"))
                    return
                }
                var headers: [String: String] = [:]
                for (key, value) in http.allHeaderFields {
                    if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
                }
                continuation.resume(returning: (http.statusCode, headers, data ?? Data()))
            }.resume()
        }
    }
}
