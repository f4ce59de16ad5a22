import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import Registry

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry server.",
        discussion: """
            On first start an admin user is created: SLIPWAY_ADMIN_USER / SLIPWAY_ADMIN_PASSWORD when set,
            otherwise user 'admin' with a generated password that is printed once.
            """)

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Address to bind (default 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "TCP port (default 8080; 0 picks a free port).")
    var port: Int?

    func run() async throws {
        var extra: [String: String] = [:]
        if let host { extra["server.host"] = host }
        if let port { extra["server.port"] = String(port) }
        let config = try options.load(extra: extra)
        let logger = makeLogger(config)
        let built = try await SlipwayApplication.makeServices(config: config, logger: logger)
        let boot = built.bootstrap
        let app = SlipwayApplication.application(services: built.services) { channel in
            let port = channel.localAddress?.port ?? config.server.port
            let url = config.server.publicURL.isEmpty ? "http://\(config.server.host):\(port)" : config.server.publicURL
            var lines = ["Slipway is ready at \(url)"]
            let registryHost = url.replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "https://", with: "")
            if let admin = boot.adminName {
                if let password = boot.generatedPassword {
                    lines.append("Admin user '\(admin)' was created with password: \(password)  (shown once; store it now)")
                }
                lines.append("Log in with: podman login --tls-verify=false -u \(admin) \(registryHost)")
            }
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
        try await app.runService()
    }
}
