import HTTPTypes
import Hummingbird
import NIOCore
@testable import Registry
import SlipwayCore
import Testing

/// The realm, service (token audience) and links come from one place. With `server.publicURL`
/// set they never depend on the Host header: pubtools-quay sends `Host: http://host:port`, and a
/// token fetched through one Host must still be accepted under another.
@Suite("Request origin")
struct RequestOriginTests {
    static func origin(host: String?, publicURL: String = "", serviceName: String = "") -> RequestOrigin {
        var config = SlipwayConfig()
        config.server.publicURL = publicURL
        config.registry.serviceName = serviceName
        let head = HTTPRequest(method: .get, scheme: "http", authority: host, path: "/v2/")
        return RequestOrigin(request: Request(head: head, body: .init(buffer: ByteBuffer())), config: config)
    }

    @Test func aSchemeInTheHostHeaderIsDropped() {
        let origin = Self.origin(host: "http://registry.test:8080")
        #expect(origin.baseURL == "http://registry.test:8080")
        #expect(origin.service == "registry.test:8080")
        #expect(origin.challenge(scope: nil) == #"Bearer realm="http://registry.test:8080/v2/auth",service="registry.test:8080""#)
        #expect(Self.origin(host: "registry.test:8080").service == "registry.test:8080")
    }

    @Test func thePublicURLDecidesRealmAndAudience() {
        for host in ["10.0.0.5:8080", "http://10.0.0.5:8080", "localhost", nil] {
            let origin = Self.origin(host: host, publicURL: "https://registry.example.com/")
            #expect(origin.baseURL == "https://registry.example.com", "\(host ?? "no host")")
            #expect(origin.service == "registry.example.com", "\(host ?? "no host")")
        }
        #expect(Self.origin(host: "x", publicURL: "https://registry.example.com:5443").service == "registry.example.com:5443")
        #expect(Self.origin(host: "x", publicURL: "https://registry.example.com", serviceName: "quay").service == "quay")
    }
}
