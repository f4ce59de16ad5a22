import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Real receivers on 127.0.0.1 for the delivery tests: an HTTP server that records requests and
/// answers with scripted statuses, and an SMTP sink that records messages. Both speak the wire
/// protocol by hand over NIO, so the dispatcher is tested against sockets, not mocks.
final class HTTPReceiver: Sendable {
    struct Request: Sendable {
        let method: String
        let path: String
        /// Lower-case names.
        let headers: [String: String]
        let body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    }

    enum Answer: Sendable { case status(Int), hang }

    private struct State {
        var requests: [Request] = []
        var script: [Answer] = []
        var fallback: Answer = .status(200)
    }
    private let state = Mutex(State())
    let port: Int

    private init(port: Int) { self.port = port }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var requests: [Request] { state.withLock { $0.requests } }

    /// The next requests get these answers, in order; afterwards `fallback`.
    func script(_ answers: [Answer], fallback: Answer = .status(200)) {
        state.withLock {
            $0.script = answers
            $0.fallback = fallback
        }
    }

    private func record(_ request: Request) -> Answer {
        state.withLock { s in
            s.requests.append(request)
            return s.script.isEmpty ? s.fallback : s.script.removeFirst()
        }
    }

    static func with<T: Sendable>(_ body: @Sendable (HTTPReceiver) async throws -> T) async throws -> T {
        try await LoopbackServer.run { receiver, connection in
            try await receiver.serve(connection)
        } make: { HTTPReceiver(port: $0) } body: { try await body($0) }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
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
                let request = Request(method: parts.first.map(String.init) ?? "", path: parts.count > 1 ? String(parts[1]) : "",
                                      headers: headers, body: Array(bytes[headEnd.upperBound..<(headEnd.upperBound + length)]))
                switch record(request) {
                case .hang:
                    try await Task.sleep(for: .seconds(3600))
                case .status(let code):
                    let text = code < 300 ? "ok" : "receiver says no \u{1}\u{7}"
                    try await outbound.write(ByteBuffer(string: "HTTP/1.1 \(code) X\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n\(text)"))
                }
                return
            }
        }
    }
}

/// A minimal SMTP server: greets, accepts any sender and recipient, collects DATA (undoing the
/// dot-stuffing) and records the message with its envelope.
final class SMTPSink: Sendable {
    struct Message: Sendable {
        let from: String
        let to: [String]
        /// Headers and body, CRLF line ends, as received after DATA.
        let data: String
        var subject: String {
            data.components(separatedBy: "\r\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst("Subject: ".count)) } ?? ""
        }
        var body: String {
            guard let split = data.range(of: "\r\n\r\n") else { return "" }
            return String(data[split.upperBound...])
        }
    }

    private let messages = Mutex<[Message]>([])
    let port: Int
    private init(port: Int) { self.port = port }

    var received: [Message] { messages.withLock { $0 } }

    static func with<T: Sendable>(_ body: @Sendable (SMTPSink) async throws -> T) async throws -> T {
        try await LoopbackServer.run { sink, connection in
            try await sink.serve(connection)
        } make: { SMTPSink(port: $0) } body: { try await body($0) }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            func say(_ line: String) async throws { try await outbound.write(ByteBuffer(string: line + "\r\n")) }
            try await say("220 sink.test ESMTP")
            var pending: [UInt8] = []
            var from = ""
            var to: [String] = []
            var inData = false
            var dataLines: [String] = []
            for try await chunk in inbound {
                pending += chunk.readableBytesView
                while let end = pending.firstRange(of: [13, 10]) {
                    let line = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                    pending.removeSubrange(..<end.upperBound)
                    if inData {
                        if line == "." {
                            inData = false
                            let message = Message(from: from, to: to, data: dataLines.joined(separator: "\r\n"))
                            messages.withLock { $0.append(message) }
                            dataLines = []
                            try await say("250 queued")
                        } else {
                            dataLines.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
                        }
                        continue
                    }
                    let upper = line.uppercased()
                    if upper.hasPrefix("EHLO") { try await say("250-sink.test\r\n250-8BITMIME\r\n250 SIZE 1000000") }
                    else if upper.hasPrefix("MAIL FROM:") { from = Self.address(line); try await say("250 ok") }
                    else if upper.hasPrefix("RCPT TO:") { to.append(Self.address(line)); try await say("250 ok") }
                    else if upper == "DATA" { inData = true; try await say("354 go ahead") }
                    else if upper == "QUIT" { try await say("221 bye"); return }
                    else { try await say("502 not implemented") }
                }
            }
        }
    }

    static func address(_ line: String) -> String {
        guard let open = line.firstIndex(of: "<"), let close = line.lastIndex(of: ">") else { return "" }
        return String(line[line.index(after: open)..<close])
    }
}

/// Runs a TCP server on 127.0.0.1 (ephemeral port) for the duration of `body`.
enum LoopbackServer {
    static func run<S: Sendable, T: Sendable>(
        _ handle: @escaping @Sendable (S, NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws -> Void,
        make: (Int) -> S, body: @Sendable (S) async throws -> T
    ) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { child in
                child.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child) }
            }
        let instance = make(server.channel.localAddress?.port ?? 0)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try? await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in inbound {
                            connections.addTask { try? await handle(instance, connection) }
                        }
                    }
                }
                return nil
            }
            defer { group.cancelAll() }
            let result = try await body(instance)
            return result
        }
    }
}
