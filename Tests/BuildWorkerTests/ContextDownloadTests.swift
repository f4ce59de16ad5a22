import BuildProtocol
@testable import BuildWorker
import Foundation
import Testing

/// The worker's context download against a real HTTP server (python3 -m http.server).
@Suite(.timeLimit(.minutes(1)))
struct ContextDownloadTests {
    static func pack(_ source: BuildSource, allowPrivateTargets: Bool? = nil) -> BuildPack {
        BuildPack(buildID: "b-download", leaseID: "l1", attempt: 1, source: source, contextPath: "", dockerfilePath: "Dockerfile",
                  registry: "127.0.0.1:1", repository: "farm/app", tags: ["v1"],
                  pushCredentials: RegistryCredentials(username: "$token", password: "push-secret"), pullCredentials: nil,
                  tlsVerify: false, timeoutSeconds: 60, heartbeatIntervalSeconds: 10, allowPrivateTargets: allowPrivateTargets)
    }

    static func runner(_ scratch: Scratch, maxBytes: Int) -> BuildRunner {
        BuildRunner(configuration: .init(workRoot: scratch.sub("work"), extractionLimits: ExtractionLimits(maxTotalBytes: maxBytes)))
    }

    /// Fetches `url` the way an upload from the orchestrator is fetched.
    static func fetch(_ url: String, to file: URL, maxBytes: Int, scratch: Scratch) async throws {
        try await runner(scratch, maxBytes: maxBytes).downloadContext(of: pack(.upload(url: url)), from: url, to: file)
    }

    /// The flag is additive on the wire: packs of older orchestrators (no key) decode as nil,
    /// and a pack without it encodes no key, so older workers see what they always saw.
    @Test func buildPacksWithoutTheFlagStillDecode() throws {
        let old = try JSONEncoder().encode(Self.pack(.archiveURL(url: "https://example.com/x.tgz")))
        #expect(!String(decoding: old, as: UTF8.self).contains("allowPrivateTargets"))
        #expect(try JSONDecoder().decode(BuildPack.self, from: old).allowPrivateTargets == nil)
        let new = try JSONEncoder().encode(Self.pack(.archiveURL(url: "https://example.com/x.tgz"), allowPrivateTargets: true))
        #expect(try JSONDecoder().decode(BuildPack.self, from: new).allowPrivateTargets == true)
    }

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
        try await Self.fetch("\(base)/context.tar", to: out, maxBytes: 1 << 20, scratch: scratch)
        #expect(try Data(contentsOf: out) == payload)

        // A directory without its slash answers 301: not followed.
        await #expect { try await Self.fetch("\(base)/dir", to: out, maxBytes: 1 << 20, scratch: scratch) } throws: { error in
            String(describing: error).contains("redirects are not followed")
        }
        await #expect { try await Self.fetch("\(base)/missing.tar", to: out, maxBytes: 1 << 20, scratch: scratch) } throws: { error in
            String(describing: error).contains("HTTP 404")
        }
        await #expect { try await Self.fetch("\(base)/context.tar", to: out, maxBytes: 10_000, scratch: scratch) } throws: { error in
            String(describing: error).contains("limit")
        }
        #expect(!FileManager.default.fileExists(atPath: out.path), "a refused download leaves no file")
        await server.stop()
    }

    /// An uploaded context comes through the load balancer: a 502 for the request a dying
    /// replica held, or a dropped connection, is retried and the next replica serves it. A user's
    /// archive URL gets one attempt, and a 4xx is never retried.
    @Test func anUploadedContextIsRetriedAfterA502() async throws {
        let scratch = try Scratch("download-retry")
        let served = scratch.sub("www")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        let payload = Data("FROM scratch\n".utf8)
        try payload.write(to: served.appendingPathComponent("context"))
        // Answers 502 to the first two requests of each path, then serves the file; counts requests.
        let script = """
            import http.server, sys, collections
            seen = collections.Counter()
            class H(http.server.SimpleHTTPRequestHandler):
                def do_GET(self):
                    seen[self.path] += 1
                    open("requests.log", "a").write(self.path + "\\n")
                    if seen[self.path] <= 2:
                        self.send_response(502); self.send_header("Content-Length", "0"); self.end_headers(); return
                    super().do_GET()
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
            """
        try script.write(to: served.appendingPathComponent("flaky.py"), atomically: true, encoding: .utf8)
        let port = Ports.free()
        let server = ServerProcess(["python3", "flaky.py", String(port)], directory: served.path)
        defer { Task { await server.stop() } }
        try await Ports.waitUntilListening(port, what: "flaky server")
        let runner = Self.runner(scratch, maxBytes: 1 << 20)
        let out = scratch.sub("out")

        let upload = "http://127.0.0.1:\(port)/context"
        try await runner.downloadContext(of: Self.pack(.upload(url: upload)), from: upload, to: out)
        #expect(try Data(contentsOf: out) == payload)

        let archive = "http://127.0.0.1:\(port)/context?archive"
        await #expect { try await runner.downloadContext(of: Self.pack(.archiveURL(url: archive), allowPrivateTargets: true), from: archive, to: out) } throws: { error in
            String(describing: error).contains("HTTP 502")
        }
        let missing = "http://127.0.0.1:\(port)/missing"
        await #expect { try await runner.downloadContext(of: Self.pack(.upload(url: missing)), from: missing, to: out) } throws: { error in
            String(describing: error).contains("HTTP 404")  // after two 502s, the real answer
        }
        let log = try String(contentsOf: served.appendingPathComponent("requests.log"), encoding: .utf8).split(separator: "\n")
        #expect(log.filter { $0 == "/context" }.count == 3, "\(log)")
        #expect(log.filter { $0 == "/context?archive" }.count == 1, "\(log)")
        #expect(log.filter { $0 == "/missing" }.count == 3, "a 404 ends the retries: \(log)")
        await server.stop()
    }

    /// Upload URLs point at the orchestrator (often on loopback); a user's archive URL passes the
    /// SSRF gate unless the orchestrator says private targets are allowed.
    @Test func archiveURLsPassTheSSRFGateUploadsDoNot() async throws {
        let scratch = try Scratch("download-gate")
        let served = scratch.sub("www")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        try Data("FROM scratch\n".utf8).write(to: served.appendingPathComponent("Dockerfile"))
        let port = Ports.free()
        let server = ServerProcess(["python3", "-m", "http.server", "--bind", "127.0.0.1", String(port)], directory: served.path)
        defer { Task { await server.stop() } }
        try await Ports.waitUntilListening(port, what: "http.server")
        let url = "http://127.0.0.1:\(port)/Dockerfile"
        let runner = Self.runner(scratch, maxBytes: 1 << 20)
        let out = scratch.sub("out")

        try await runner.downloadContext(of: Self.pack(.upload(url: url)), from: url, to: out)
        #expect(FileManager.default.fileExists(atPath: out.path))

        // An orchestrator that predates the flag (nil), and one that forbids private targets.
        for allow in [nil, false] as [Bool?] {
            await #expect { try await runner.downloadContext(of: Self.pack(.archiveURL(url: url), allowPrivateTargets: allow), from: url, to: out) }
                throws: { error in String(describing: error).contains("refused") && String(describing: error).contains("loopback") }
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        try await runner.downloadContext(of: Self.pack(.archiveURL(url: url), allowPrivateTargets: true), from: url, to: out)
        #expect(try String(contentsOf: out, encoding: .utf8) == "FROM scratch\n")
        await server.stop()
    }
}
