@testable import BuildWorker
import Foundation
import Testing

/// The worker's context download against a real HTTP server (python3 -m http.server).
@Suite(.timeLimit(.minutes(1)))
struct ContextDownloadTests {
    @Test func downloadsRefusesRedirectsAndCapsSize() async throws {
        let scratch = try Scratch("download")
        let served = scratch.sub("www")
        try FileManager.default.createDirectory(at: served.appendingPathComponent("dir"), withIntermediateDirectories: true)
        let payload = Data((0..<50_000).map { UInt8($0 % 251) })
        try payload.write(to: served.appendingPathComponent("context.tar"))
        let port = Ports.free()
        let server = ServerProcess(["python3", "-m", "http.server", "--bind", "127.0.0.1", String(port)], directory: served.path)
        defer { Task { await server.stop() } }
        try await Ports.waitUntilListening(port, what: "http.server")
        let base = "http://127.0.0.1:\(port)"

        let out = scratch.sub("out")
        try await ContextDownload.fetch("\(base)/context.tar", to: out, maxBytes: 1 << 20)
        #expect(try Data(contentsOf: out) == payload)

        // A directory without its slash answers 301: not followed.
        await #expect { try await ContextDownload.fetch("\(base)/dir", to: out, maxBytes: 1 << 20) } throws: { error in
            String(describing: error).contains("redirects are not followed")
        }
        await #expect { try await ContextDownload.fetch("\(base)/missing.tar", to: out, maxBytes: 1 << 20) } throws: { error in
            String(describing: error).contains("HTTP 404")
        }
        await #expect { try await ContextDownload.fetch("\(base)/context.tar", to: out, maxBytes: 10_000) } throws: { error in
            String(describing: error).contains("limit")
        }
        await server.stop()
    }
}
