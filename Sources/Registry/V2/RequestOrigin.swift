import Hummingbird
import SlipwayCore

/// How the client addressed us: used for the token realm, the token service name (audience) and
/// absolute links. `server.publicURL` decides all three when set (Quay's `SERVER_HOSTNAME`): the
/// realm a client is sent to and the audience its token is checked against then never depend on
/// what one client put in its Host header. `registry.serviceName` overrides the service name.
public struct RequestOrigin: Sendable {
    public let baseURL: String
    public let service: String

    public init(request: Request, config: SlipwayConfig) {
        let host = Self.authority(request.head.authority ?? "\(config.server.host):\(config.server.port)")
        var publicHost: String?
        if !config.server.publicURL.isEmpty {
            var base = config.server.publicURL
            while base.hasSuffix("/") { base.removeLast() }
            baseURL = base
            publicHost = Self.authority(base)
        } else {
            let scheme = request.headers[.init("X-Forwarded-Proto")!] == "https" ? "https" : "http"
            baseURL = "\(scheme)://\(host)"
        }
        service = config.registry.serviceName.isEmpty ? (publicHost ?? host) : config.registry.serviceName
    }

    /// `host[:port]` of a Host header or URL. Some clients (pubtools-quay given a URL) send the
    /// scheme in the Host header: `Host: http://registry:8080`; it and any path are dropped so
    /// the realm never reads `http://http://…`.
    static func authority(_ value: String) -> String {
        var text = Substring(value)
        if let scheme = text.range(of: "://") { text = text[scheme.upperBound...] }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        return String(text)
    }

    /// The absolute URL of a `/v2` resource for `Location` headers. Quay sends absolute URLs and
    /// some clients (docker-registry-client-async) cannot follow a relative one.
    func location(_ name: String, _ suffix: String) -> String {
        baseURL + V2Route.location(name, suffix)
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
