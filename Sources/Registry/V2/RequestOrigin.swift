import Hummingbird

/// How the client addressed us: used for the token realm, the token service name (audience) and
/// absolute links. `server.publicURL` / `registry.serviceName` win over the Host header.
public struct RequestOrigin: Sendable {
    public let baseURL: String
    public let service: String

    public init(request: Request, config: SlipwayConfig) {
        let host = request.head.authority ?? "\(config.server.host):\(config.server.port)"
        if !config.server.publicURL.isEmpty {
            var base = config.server.publicURL
            while base.hasSuffix("/") { base.removeLast() }
            baseURL = base
        } else {
            let scheme = request.headers[.init("X-Forwarded-Proto")!] == "https" ? "https" : "http"
            baseURL = "\(scheme)://\(host)"
        }
        service = config.registry.serviceName.isEmpty ? host : config.registry.serviceName
    }

    /// `WWW-Authenticate` challenge for the Docker token flow. `error` is an RFC 6750 §3.1 code
    /// (`insufficient_scope`) with its description; the description must not contain quotes.
    func challenge(scope: String?, error: (code: String, description: String)? = nil) -> String {
        var value = "Bearer realm=\"\(baseURL)/v2/auth\",service=\"\(service)\""
        if let scope { value += ",scope=\"\(scope)\"" }
        if let error { value += ",error=\"\(error.code)\",error_description=\"\(error.description)\"" }
        return value
    }
}
