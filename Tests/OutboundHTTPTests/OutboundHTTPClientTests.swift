import Foundation
import NIOCore
import NIOPosix
import NIOSSL
@testable import OutboundHTTP
import Synchronization
import Testing

/// The outbound client against real servers on 127.0.0.1 (NIO, port 0): what it sends, what it
/// refuses, and every limit it promises.
@Suite(.timeLimit(.minutes(3)))
struct OutboundHTTPClientTests {
    /// Limits not under test are generous: a loaded two-core CI machine can be very slow.
    static func client(allowPrivate: Bool = true, timeout: Duration = .seconds(30), idle: Duration? = nil,
                       maxBody: Int64 = 16 * 1024, tls: OutboundTLS = .systemRoots,
                       resolver: HostResolver = .system) -> OutboundHTTPClient {
        OutboundHTTPClient(.init(allowPrivateTargets: allowPrivate, timeout: timeout, idleTimeout: idle, maxResponseBodyBytes: maxBody, tls: tls),
                           resolver: resolver)
    }

    /// Runs `body`, returning the failure it threw (nil when it did not throw).
    static func failure<T>(_ body: () async throws(OutboundHTTPClient.Failure) -> T) async -> OutboundHTTPClient.Failure? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error
        }
    }

    static func scratchFile() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outbound-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("download")
    }

    static func exists(_ file: URL) -> Bool { FileManager.default.fileExists(atPath: file.path) }

    /// "Well before the server would have given up": the stalled servers here wait an hour. The
    /// margin over the limits under test (1 s, 0.5 s) is for a loaded two-core CI machine.
    static let promptly: Duration = .seconds(20)

    // MARK: Requests

    @Test func sendsTheBodyWithItsHeadersAndCredentialsAndReportsTheStatus() async throws {
        try await TestServer.with(answer: { _ in .respond(status: 201, body: Array("created".utf8)) }) { server in
            let reply = try await Self.client().send(
                .put, to: "http://u:p%40ss@127.0.0.1:\(server.port)/hook?x=1", body: Array(#"{"ok":true}"#.utf8),
                headers: [("X-Slipway-Event", "repo_push")])
            #expect(reply == .init(status: 201, excerpt: ""), "2xx replies carry no excerpt")
            let request = try #require(server.requests.first)
            #expect(request.method == "PUT")
            #expect(request.target == "/hook?x=1")
            #expect(request.headers["host"] == "127.0.0.1:\(server.port)")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.headers["x-slipway-event"] == "repo_push")
            #expect(request.headers["user-agent"] == "Slipway")
            // Credentials in the URL become Basic auth, decoded once.
            #expect(request.headers["authorization"] == "Basic " + Data("u:p@ss".utf8).base64EncodedString())
            #expect(request.body == Array(#"{"ok":true}"#.utf8))
        }
    }

    @Test func errorRepliesCarryAShortSanitisedExcerpt() async throws {
        let text = "receiver says no \u{1}\u{7}\n\n  because   " + String(repeating: "z", count: 1000)
        try await TestServer.with(answer: { _ in .respond(status: 500, body: Array(text.utf8)) }) { server in
            let reply = try await Self.client().send(to: server.base + "/hook", body: [])
            #expect(reply.status == 500)
            #expect(reply.excerpt.hasPrefix("receiver says no because zzz"))
            #expect(reply.excerpt.count == OutboundHTTPClient.excerptLimit)
            #expect(reply.excerpt.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7f })
        }
    }

    @Test func aNonHTTPAnswerIsReportedAsSuch() async throws {
        try await TestServer.with(answer: { _ in .raw(Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8)) }) { server in
            let reply = try await Self.client().send(to: server.base + "/", body: [])
            #expect(reply == .init(status: 0, excerpt: "not an HTTP response"))
        }
    }

    @Test func onSentFiresOnceTheRequestIsOnTheWire() async throws {
        try await TestServer.with(answer: { _ in .hang }) { server in
            let (sent, signal) = AsyncStream<Void>.makeStream()
            let call = Task { await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(timeout: .seconds(120)).send(to: server.base + "/", body: [1, 2, 3], onSent: { signal.yield() })
            } }
            // The server never answers, so only the written request can have fired the hook.
            for await _ in sent { break }
            let deadline = ContinuousClock.now + .seconds(30)
            while server.requests.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.requests.count == 1, "the request that fired the hook reached the server")
            call.cancel()
            #expect(await call.value == .cancelled)
        }
    }

    // MARK: The SSRF gate

    @Test func refusesInternalTargetsBeforeConnecting() async throws {
        try await TestServer.with(answer: { _ in .respond(status: 200) }) { server in
            let gated = Self.client(allowPrivate: false)
            let file = try Self.scratchFile()
            for url in ["http://127.0.0.1:\(server.port)/hook", "http://localhost:\(server.port)/", "http://[::1]:\(server.port)/",
                        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://metadata.google.internal/",
                        "http://0x7f000001:\(server.port)/"] {
                guard case .refused? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
                    try await gated.send(to: url, body: [])
                }) else {
                    Issue.record("\(url) was not refused")
                    continue
                }
                guard case .refused? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
                    try await gated.download(url, to: file)
                }) else {
                    Issue.record("the download of \(url) was not refused")
                    continue
                }
            }
            #expect(server.connections == 0, "a refused URL is never connected to")
            #expect(!Self.exists(file))
            // The scheme rule holds even when private targets are allowed.
            guard case .refused? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(allowPrivate: true).send(to: "file:///etc/passwd", body: [])
            }) else {
                Issue.record("file:// was not refused")
                return
            }
            // Allowed when configured.
            #expect(try await Self.client(allowPrivate: true).send(to: "http://127.0.0.1:\(server.port)/hook", body: []).status == 200)
            #expect(server.requests.count == 1)
        }
    }

    /// A resolver that answers the first lookup with `first` and every later one with `later`,
    /// as a DNS-rebinding attacker's name server would.
    final class RebindingResolver: Sendable {
        let lookups = Atomic<Int>(0)
        let first: SocketAddress
        let later: SocketAddress
        init(first: SocketAddress, later: SocketAddress) {
            self.first = first
            self.later = later
        }
        var resolver: HostResolver {
            HostResolver { _, _ in
                self.lookups.add(1, ordering: .relaxed).oldValue == 0 ? [self.first] : [self.later]
            }
        }
    }

    @Test func connectsOnlyToTheAddressTheGateApproved() async throws {
        try await TestServer.with(answer: { _ in .respond(status: 200) }) { approved in
            try await TestServer.with(answer: { _ in .respond(status: 200) }) { rebound in
                let names = RebindingResolver(first: try SocketAddress(ipAddress: "127.0.0.1", port: approved.port),
                                              later: try SocketAddress(ipAddress: "127.0.0.1", port: rebound.port))
                let reply = try await Self.client(allowPrivate: true, resolver: names.resolver)
                    .send(to: "http://rebind.example:\(approved.port)/hook", body: [])
                #expect(reply.status == 200)
                #expect(names.lookups.load(ordering: .relaxed) == 1, "the name is resolved once")
                #expect(approved.requests.first?.headers["host"] == "rebind.example:\(approved.port)")
                #expect(rebound.connections == 0)
            }
        }
    }

    @Test func aRebindingNameCannotReachLoopbackPastTheGate() async throws {
        try await TestServer.with(answer: { _ in .respond(status: 200) }) { inside in
            // The check sees a public address; a second lookup would say loopback.
            let names = RebindingResolver(first: try SocketAddress(ipAddress: "198.51.100.7", port: inside.port),
                                          later: try SocketAddress(ipAddress: "127.0.0.1", port: inside.port))
            let gated = Self.client(allowPrivate: false, timeout: .seconds(1), resolver: names.resolver)
            // 198.51.100.0/24 is documentation space: refused outright, never resolved again.
            guard case .refused? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
                try await gated.send(to: "http://rebind.example:\(inside.port)/", body: [])
            }) else {
                Issue.record("expected a refusal")
                return
            }
            let publicFirst = RebindingResolver(first: try SocketAddress(ipAddress: "93.184.216.34", port: 9),
                                                later: try SocketAddress(ipAddress: "127.0.0.1", port: inside.port))
            _ = await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(allowPrivate: false, timeout: .seconds(1), resolver: publicFirst.resolver)
                    .send(to: "http://rebind.example:\(inside.port)/", body: [])
            }
            // Whatever happened at the public address (no network, nothing listening, a proxy in
            // between), it was the only place the client went.
            #expect(publicFirst.lookups.load(ordering: .relaxed) == 1)
            #expect(inside.connections == 0)
        }
    }

    // MARK: Redirects

    @Test func redirectsAreReportedNeverFollowed() async throws {
        try await TestServer.with(answer: { request in
            request.target == "/target" ? .respond(status: 200, body: Array("payload".utf8))
                : .respond(status: request.method == "GET" ? 301 : 302, headers: [("Location", "/target")])
        }) { server in
            #expect(try await Self.client().send(to: server.base + "/redirect", body: []).status == 302)
            let file = try Self.scratchFile()
            let download = try await Self.client().download(server.base + "/redirect", to: file)
            #expect(download.status == 301)
            #expect(!Self.exists(file), "a redirect leaves no file")
            #expect(server.requests.map(\.target) == ["/redirect", "/redirect"])
        }
    }

    // MARK: Time limits

    @Test func oneDeadlineCoversTheWholeExchange() async throws {
        try await TestServer.with(answer: { request in
            switch request.target {
            case "/never": return .hang
            case "/slow-error": return .partial(status: 503, announced: 1000, body: Array("busy".utf8), stall: true)
            default: return .partial(status: 200, announced: 100_000, body: [UInt8](repeating: 1, count: 5000), stall: true)
            }
        }) { server in
            let client = Self.client(timeout: .seconds(1))
            var started = ContinuousClock.now
            #expect(await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await client.send(to: server.base + "/never", body: [])
            } == .timedOut)
            #expect(ContinuousClock.now - started < Self.promptly)

            // The status arrived before the deadline: it is the answer, with what the body said so far.
            #expect(try await Self.client(timeout: .seconds(5)).send(to: server.base + "/slow-error", body: []) == .init(status: 503, excerpt: "busy"))

            let file = try Self.scratchFile()
            started = .now
            let stalled = await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await client.download(server.base + "/stalled", to: file, maxBytes: 1 << 20)
            }
            #expect(stalled == .timedOut)
            #expect(ContinuousClock.now - started < Self.promptly)
            #expect(!Self.exists(file), "the partial download is removed")
        }
        // Nothing listening: a connection failure, not a hang.
        guard case .connection? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
            try await Self.client().send(to: "http://127.0.0.1:1/hook", body: [])
        }) else {
            Issue.record("expected a connection failure")
            return
        }
    }

    @Test func anIdleLimitEndsAStalledDownloadBeforeTheDeadline() async throws {
        try await TestServer.with(answer: { _ in .partial(status: 200, announced: 100_000, body: [1, 2, 3], stall: true) }) { server in
            let file = try Self.scratchFile()
            let started = ContinuousClock.now
            let stalled = await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(timeout: .seconds(50), idle: .seconds(2)).download(server.base + "/ctx.tar", to: file, maxBytes: 1 << 20)
            }
            #expect(stalled == .timedOut)
            #expect(ContinuousClock.now - started < Self.promptly)
            #expect(!Self.exists(file))
        }
    }

    @Test func cancellingADownloadStopsItAndRemovesTheFile() async throws {
        try await TestServer.with(answer: { _ in .endless(status: 200) }) { server in
            let file = try Self.scratchFile()
            let download = Task { await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(timeout: .seconds(50)).download(server.base + "/big.tar", to: file, maxBytes: 1 << 40)
            } }
            let deadline = ContinuousClock.now + .seconds(60)
            while ((try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0) < 1 << 20, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(Self.exists(file), "the download was under way")
            let cancelled = ContinuousClock.now
            download.cancel()
            #expect(await download.value == .cancelled)
            #expect(ContinuousClock.now - cancelled < Self.promptly)
            #expect(!Self.exists(file))
        }
    }

    // MARK: Size limits

    @Test func replyBodiesAreReadOnlyAsFarAsNeeded() async throws {
        // Both answers stream forever: returning at all proves the client stopped reading.
        try await TestServer.with(answer: { request in .endless(status: request.target == "/ok" ? 200 : 500) }) { server in
            let client = Self.client()
            #expect(try await client.send(to: server.base + "/ok", body: []) == .init(status: 200, excerpt: ""))
            let error = try await client.send(to: server.base + "/error", body: [])
            #expect(error.status == 500)
            #expect(error.excerpt.count <= OutboundHTTPClient.excerptLimit)
        }
    }

    static let payload: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }

    @Test func downloadsContentLengthChunkedAndCloseDelimitedBodies() async throws {
        let pieces = [Array(Self.payload[..<1]), Array(Self.payload[1..<70_000]), Array(Self.payload[70_000...])]
        try await TestServer.with(answer: { request in
            switch request.target {
            case "/length": return .respond(status: 200, body: Self.payload)
            case "/chunked": return .chunked(status: 200, chunks: pieces)
            default: return .closeDelimited(status: 200, body: Self.payload)
            }
        }) { server in
            for path in ["/length", "/chunked", "/close"] {
                let file = try Self.scratchFile()
                let download = try await Self.client().download(server.base + path, to: file, maxBytes: Int64(Self.payload.count))
                #expect(download == .init(status: 200, bytes: Int64(Self.payload.count)), "\(path)")
                #expect(try Data(contentsOf: file) == Data(Self.payload), "\(path)")
            }
            #expect(server.requests.allSatisfy { $0.method == "GET" && $0.headers["accept-encoding"] == "identity" })
        }
    }

    @Test func downloadsStopAtTheSizeCapAndLeaveNoFile() async throws {
        try await TestServer.with(answer: { request in
            switch request.target {
            case "/announced": return .respond(status: 200, body: Self.payload)
            case "/chunked": return .chunked(status: 200, chunks: [Array(Self.payload[..<150_000]), Array(Self.payload[150_000...])])
            case "/endless": return .endless(status: 200)
            default: return .closeDelimited(status: 200, body: Self.payload)
            }
        }) { server in
            let cap: Int64 = 200_000
            let client = Self.client(maxBody: cap)
            let file = try Self.scratchFile()
            // Announced too large: refused before anything is written.
            #expect(await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await client.download(server.base + "/announced", to: file)
            } == .tooLarge(limit: cap, announced: Int64(Self.payload.count)))
            #expect(!Self.exists(file))
            for path in ["/chunked", "/endless", "/close"] {
                // An old file at the path goes too: what is left is never a stale or partial download.
                try Data("old".utf8).write(to: file)
                #expect(await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                    try await client.download(server.base + path, to: file)
                } == .tooLarge(limit: cap, announced: nil), "\(path)")
                #expect(!Self.exists(file), "\(path)")
            }
            // Exactly at the cap is fine.
            let exact = try await client.download(server.base + "/announced", to: file, maxBytes: Int64(Self.payload.count))
            #expect(exact.bytes == Int64(Self.payload.count))
        }
    }

    @Test func aDownloadNeverGrowsPastItsCap() async throws {
        try await TestServer.with(answer: { _ in .endless(status: 200) }) { server in
            let file = try Self.scratchFile()
            // Larger than one write batch, so the file really grows while the body streams.
            let cap: Int64 = 1 << 20
            let largest = Atomic<Int>(0)
            let watcher = Task {
                while !Task.isCancelled {
                    let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
                    largest.max(size, ordering: .relaxed)
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            let outcome = await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client().download(server.base + "/endless", to: file, maxBytes: cap)
            }
            watcher.cancel()
            await watcher.value
            #expect(outcome == .tooLarge(limit: cap, announced: nil))
            #expect(largest.load(ordering: .relaxed) <= Int(cap))
            #expect(!Self.exists(file))
        }
    }

    @Test func aCutOffBodyIsAFailureNotAShortFile() async throws {
        try await TestServer.with(answer: { _ in .partial(status: 200, announced: 1000, body: Array("only this".utf8), stall: false) }) { server in
            let file = try Self.scratchFile()
            let outcome = await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(timeout: .seconds(30)).download(server.base + "/ctx.tar", to: file, maxBytes: 1 << 20)
            }
            guard case .connection? = outcome else {
                Issue.record("expected a connection failure, got \(String(describing: outcome))")
                return
            }
            #expect(!Self.exists(file))
        }
    }

    // MARK: TLS

    @Test func httpsTrustsAnExtraRootWhenGivenOne() async throws {
        let pki = try TestPKI.make()
        try await TestServer.with(tls: try pki.serverContext(requireClientCertificate: false),
                                  answer: { _ in .respond(status: 200, body: Array("secret".utf8)) }) { server in
            let url = "https://localhost:\(server.port)/hook"
            // System roots only: the test authority is unknown.
            guard case .connection? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
                try await Self.client().send(to: url, body: [])
            }) else {
                Issue.record("an untrusted server certificate was accepted")
                return
            }
            let trusting = Self.client(tls: OutboundTLS(trustRoots: [pki.authority], clientCertificateChain: [], privateKey: nil))
            #expect(try await trusting.send(to: url, body: []).status == 200)
            let file = try Self.scratchFile()
            #expect(try await trusting.download(url, to: file).bytes == 6)
            #expect(try String(contentsOf: file, encoding: .utf8) == "secret")
        }
    }

    @Test func presentsTheClientCertificateWhenConfigured() async throws {
        let pki = try TestPKI.make()
        try await TestServer.with(tls: try pki.serverContext(requireClientCertificate: true), answer: { _ in .respond(status: 204) }) { server in
            let url = "https://localhost:\(server.port)/hook"
            for (chain, key) in [([NIOSSLCertificate](), nil), ([pki.strangerClient], pki.strangerClientKey)] as [([NIOSSLCertificate], NIOSSLPrivateKey?)] {
                let client = Self.client(tls: OutboundTLS(trustRoots: [pki.authority], clientCertificateChain: chain, privateKey: key))
                guard case .connection? = await Self.failure({ () async throws(OutboundHTTPClient.Failure) in
                    try await client.send(to: url, body: [])
                }) else {
                    Issue.record("the server took a request without an acceptable client certificate")
                    continue
                }
            }
            let client = Self.client(tls: OutboundTLS(trustRoots: [pki.authority], clientCertificateChain: [pki.client], privateKey: pki.clientKey))
            let status = try await client.send(to: url, body: []).status
            #expect(status == 204)
            #expect(server.requests.count == 1)
            let presented = try pki.client.toDERBytes()
            #expect(server.requests.first?.peerCertificate == presented)
        }
    }

    @Test func tlsSettingsLoadFromFilesAndNameTheKeyWhenBroken() async throws {
        let pki = try TestPKI.make()
        let directory = try Self.scratchFile().deletingLastPathComponent()
        func write(_ name: String, _ pem: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try pem.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let ca = try write("ca.crt", pki.authorityPEM)
        let cert = try write("client.crt", pki.clientPEM)
        let key = try write("client.key", pki.clientKeyPEM)
        typealias Files = OutboundTLS.Files
        func error(_ files: Files) -> String? {
            if case .failure(let e) = OutboundTLS(files).context { return e.description }
            return nil
        }
        #expect(error(Files(section: "notifications", label: "notification", trustRootsPath: "/nonexistent/ca.crt"))
                == "notifications.trustRootsPath '/nonexistent/ca.crt' cannot be read")
        #expect(error(Files(section: "notifications", label: "notification", clientCertificatePath: cert))
                == "notifications.clientCertificatePath and notifications.clientKeyPath must be set together")
        #expect(error(Files(section: "notifications", label: "notification", clientCertificatePath: ca + ".missing", clientKeyPath: key))
                == "notifications.clientCertificatePath '\(ca).missing' is not a readable PEM certificate")
        #expect(error(Files(section: "notifications", label: "notification", clientCertificatePath: cert, clientKeyPath: cert))
                == "notifications.clientKeyPath '\(cert)' is not a readable PEM private key")

        let configured = OutboundTLS(Files(section: "notifications", label: "notification", trustRootsPath: ca,
                                           clientCertificatePath: cert, clientKeyPath: key))
        try await TestServer.with(tls: try pki.serverContext(requireClientCertificate: true), answer: { _ in .respond(status: 200) }) { server in
            let status = try await Self.client(tls: configured).send(to: "https://localhost:\(server.port)/", body: []).status
            #expect(status == 200)
            // A broken configuration fails HTTPS calls with the message, rather than sending without a certificate.
            let broken = OutboundTLS(Files(section: "notifications", label: "notification", clientCertificatePath: cert))
            #expect(await Self.failure { () async throws(OutboundHTTPClient.Failure) in
                try await Self.client(tls: broken).send(to: "https://localhost:\(server.port)/", body: [])
            } == .connection("notifications.clientCertificatePath and notifications.clientKeyPath must be set together"))
            #expect(server.requests.count == 1)
        }
    }

    @Test func systemTrustRootsLoad() throws {
        // HTTPS to public hosts (github.com archive URLs) relies on these.
        _ = try OutboundTLS.systemRoots.context.get()
    }
}
