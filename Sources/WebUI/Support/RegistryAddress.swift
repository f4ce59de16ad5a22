import Hummingbird
import Registry

/// The registry address the pages' copyable commands name (`podman pull HOST/ns/repo:tag`,
/// `podman login ... HOST`), and whether podman must be told that the server speaks plain HTTP.
/// podman refuses a registry without TLS unless it gets `--tls-verify=false`, so a command
/// copied from a plain-HTTP server must carry the flag; over https it must not. This is the one
/// place that decides: from the configured public URL, or the request's scheme when none is
/// set (`RequestOrigin`, the same origin the token challenge names).
struct RegistryAddress: Sendable {
    /// `host[:port]` as clients type it (`RequestOrigin.service`, as the API's pull commands use).
    let host: String
    let plainHTTP: Bool

    init(host: String, plainHTTP: Bool) {
        self.host = host
        self.plainHTTP = plainHTTP
    }

    init(request: Request, config: SlipwayConfig) {
        let origin = RequestOrigin(request: request, config: config)
        self.init(host: origin.service, plainHTTP: !origin.baseURL.lowercased().hasPrefix("https://"))
    }

    /// `podman <verb> [--tls-verify=false] <arguments>`.
    func podman(_ verb: String, _ arguments: String) -> String {
        "podman \(verb)" + (plainHTTP ? " --tls-verify=false" : "") + " " + arguments
    }
}
