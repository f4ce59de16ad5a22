import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 (port 0), optionally behind TLS, that records each
/// request and answers as the test scripts it. Responses are written as raw bytes, so a test
/// can send exactly the framing it wants (Content-Length, chunked, close-delimited, cut off).
final class TestServer: Sendable {
    struct Request: Sendable {
        let method: String
        let target: String
        /// Lower-case names.
        let headers: [String: String]
        let body: [UInt8]
        /// DER of the client certificate the peer presented over TLS, if any.
        let peerCertificate: [UInt8]?
    }

    enum Answer: Sendable {
        /// A complete response with Content-Length.
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// `Transfer-Encoding: chunked`, one chunk per element.
        case chunked(status: Int, chunks: [[UInt8]])
        /// No length: the body ends when the server closes the connection.
        case closeDelimited(status: Int, body: [UInt8])
        /// Announces `announced` bytes, sends `body`, then waits (`stall`) or closes.
        case partial(status: Int, announced: Int?, body: [UInt8], stall: Bool)
        /// Chunks of 16 KiB for as long as the client reads.
        case endless(status: Int)
        /// Reads the request and never answers.
        case hang
        /// Arbitrary bytes, then close.
        case raw([UInt8])
    }

    private struct State {
        var requests: [Request] = []
        var connections = 0
        var bytesSent = 0
    }

    let port: Int
    private let state = Mutex(State())
    private let answer: @Sendable (Request) -> Answer

    private init(port: Int, answer: @escaping @Sendable (Request) -> Answer) {
        self.port = port
        self.answer = answer
    }

    var requests: [Request] { state.withLock { $0.requests } }
    var connections: Int { state.withLock { $0.connections } }
    /// Response bytes written so far (all connections).
    var bytesSent: Int { state.withLock { $0.bytesSent } }
    var base: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` with a listening server, then stops it (open connections are closed).
    static func with<T: Sendable>(tls: NIOSSLContext? = nil, answer: @escaping @Sendable (Request) -> Answer,
                                  _ body: (TestServer) async throws -> T) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let server = TestServer(port: listener.channel.localAddress?.port ?? 0, answer: answer)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await listener.executeThenClose { connections in
                    await withDiscardingTaskGroup { handlers in
                        do {
                            for try await connection in connections {
                                handlers.addTask { try? await server.serve(connection, tls: tls != nil) }
                            }
                        } catch {}
                    }
                }
            }
            defer {
                group.cancelAll()
                listener.channel.close(promise: nil)
            }
            return try await body(server)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, tls: Bool) async throws {
        state.withLock { $0.connections += 1 }
        let channel = connection.channel
        try await connection.executeThenClose { inbound, outbound in
            var bytes: [UInt8] = []
            for try await chunk in inbound {
                bytes += chunk.readableBytesView
                guard let headEnd = bytes.firstRange(of: [13, 10, 13, 10]) else { continue }
                let head = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                guard bytes.count - headEnd.upperBound >= length else { continue }
                let parts = head[0].split(separator: " ")
                var peer: [UInt8]?
                if tls { peer = try await channel.nioSSL_peerCertificate().get().map { try $0.toDERBytes() } }
                let request = Request(method: parts.first.map(String.init) ?? "", target: parts.count > 1 ? String(parts[1]) : "",
                                      headers: headers, body: Array(bytes[headEnd.upperBound..<(headEnd.upperBound + length)]),
                                      peerCertificate: peer)
                state.withLock { $0.requests.append(request) }
                try await respond(answer(request), outbound)
                return
            }
        }
    }

    private func respond(_ answer: Answer, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        func send(_ bytes: [UInt8]) async throws {
            try await outbound.write(ByteBuffer(bytes: bytes))
            state.withLock { $0.bytesSent += bytes.count }
        }
        func head(_ status: Int, _ fields: [(String, String)]) -> [UInt8] {
            var text = "HTTP/1.1 \(status) Scripted\r\n"
            for (name, value) in fields { text += "\(name): \(value)\r\n" }
            return Array((text + "\r\n").utf8)
        }
        func chunk(_ bytes: [UInt8]) -> [UInt8] { Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10] }

        switch answer {
        case .respond(let status, let headers, let body):
            try await send(head(status, headers + [("Content-Length", "\(body.count)"), ("Connection", "close")]) + body)
        case .chunked(let status, let chunks):
            try await send(head(status, [("Transfer-Encoding", "chunked"), ("Connection", "close")]))
            for piece in chunks where !piece.isEmpty { try await send(chunk(piece)) }
            try await send(Array("0\r\n\r\n".utf8))
        case .closeDelimited(let status, let body):
            try await send(head(status, [("Connection", "close")]) + body)
        case .partial(let status, let announced, let body, let stall):
            try await send(head(status, (announced.map { [("Content-Length", "\($0)")] } ?? []) + [("Connection", "close")]) + body)
            if stall { try await Task.sleep(for: .seconds(3600)) }
        case .endless(let status):
            try await send(head(status, [("Transfer-Encoding", "chunked"), ("Connection", "close")]))
            let piece = chunk([UInt8](repeating: UInt8(ascii: "x"), count: 16 * 1024))
            while !Task.isCancelled { try await send(piece) }
        case .hang:
            try await Task.sleep(for: .seconds(3600))
        case .raw(let bytes):
            try await send(bytes)
        }
    }
}
