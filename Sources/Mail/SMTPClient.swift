import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import OutboundHTTP
import SlipwayCore

/// One plain-text mail.
public struct MailMessage: Sendable {
    public let to: String
    public let subject: String
    public let body: String

    public init(to: String, subject: String, body: String) {
        self.to = to
        self.subject = subject
        self.body = body
    }
}

/// Sends mail through the configured SMTP server (`notifications.smtp*`): EHLO, STARTTLS or
/// implicit TLS when configured, AUTH PLAIN when a user name is set, MAIL FROM, RCPT TO, DATA with
/// dot-stuffing, QUIT. One connection per message: notification mail is rare, and a fresh
/// connection has no state to go stale.
public struct SMTPClient: Sendable {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        case notConfigured
        /// The server refused with a 5xx reply: retrying will not help.
        case rejected(String)
        /// A 4xx reply, a dropped connection or a timeout: worth retrying.
        case transient(String)

        public var description: String {
            switch self {
            case .notConfigured: return "e-mail delivery is not configured (notifications.smtpHost is empty)"
            case .rejected(let why): return "the mail server refused the message: \(why)"
            case .transient(let why): return "mail delivery failed: \(why)"
            }
        }
    }

    let config: SlipwayConfig.Notifications
    let tls: OutboundTLS
    let timeout: Duration

    public init(config: SlipwayConfig.Notifications, tls: OutboundTLS, timeout: Duration) {
        self.config = config
        self.tls = tls
        self.timeout = timeout
    }

    public func send(_ message: MailMessage) async throws(Failure) {
        guard !config.smtpHost.isEmpty else { throw .notConfigured }
        let data = Self.render(message, from: config.smtpFrom)
        do {
            try await Deadline.run(timeout) { try await self.converse(message, data: data) }
        } catch let failure as Failure {
            throw failure
        } catch is Deadline.Expired {
            throw .transient("the mail server did not answer within \(timeout.components.seconds) s")
        } catch {
            throw .transient(OutboundErrorText.describe(error))
        }
    }

    private func tlsContext() throws(Failure) -> NIOSSLContext {
        switch tls.context {
        case .success(let c): return c
        case .failure(let e): throw .transient(e.description)
        }
    }

    private func converse(_ message: MailMessage, data: String) async throws {
        let implicitTLS = config.smtpSecurity == .tls ? try tlsContext() : nil
        let host = config.smtpHost
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(timeout.components.seconds))
            .connect(host: host, port: config.smtpPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: implicitTLS, serverHostname: Self.sni(host)))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let raw = channel.channel
        try await channel.executeThenClose { inbound, outbound in
            var session = SMTPSession(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            try await session.expect([220], after: nil)
            let me = Self.heloName()
            var capabilities = try await session.expect([250], after: "EHLO \(me)")
            if config.smtpSecurity == .starttls {
                guard capabilities.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                    throw Failure.transient("the mail server does not offer STARTTLS (notifications.smtpSecurity is starttls)")
                }
                try await session.expect([220], after: "STARTTLS")
                let context = try tlsContext(), serverName = Self.sni(host)
                // Made and added on the channel's event loop: the handler is not Sendable.
                try await raw.eventLoop.submit {
                    try raw.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName), position: .first)
                }.get()
                capabilities = try await session.expect([250], after: "EHLO \(me)")
            }
            if !config.smtpUsername.isEmpty {
                let token = Data("\0\(config.smtpUsername)\0\(config.smtpPassword)".utf8).base64EncodedString()
                // The credentials never reach logs or stored errors: the command is not echoed.
                try await session.expect([235], after: "AUTH PLAIN \(token)", redacted: "AUTH PLAIN")
            }
            _ = capabilities
            try await session.expect([250], after: "MAIL FROM:<\(config.smtpFrom)>")
            try await session.expect([250, 251], after: "RCPT TO:<\(message.to)>")
            try await session.expect([354], after: "DATA")
            try await session.expect([250], after: data + ".", redacted: "message body")
            _ = try? await session.expect([221], after: "QUIT")  // the mail is accepted already
        }
    }

    static func sni(_ host: String) -> String? { IPAddress(host) == nil ? host : nil }

    static func heloName() -> String {
        let name = ProcessInfo.processInfo.hostName
        let ok = !name.isEmpty && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x2e }
        return ok ? name : "localhost"
    }

    /// Headers and body as sent after DATA: CRLF line ends, dot-stuffed, ending in CRLF.
    static func render(_ message: MailMessage, from: String, date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        let ascii = message.body.unicodeScalars.allSatisfy { $0.isASCII }
        var lines = [
            "From: \(from)", "To: \(message.to)", "Subject: \(encodeHeader(message.subject))", "Date: \(formatter.string(from: date))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(domain)>", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: \(ascii ? "7bit" : "base64")", "Auto-Submitted: auto-generated", "",
        ]
        let normalized = message.body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if ascii {
            // Dot-stuffing (RFC 5321 §4.5.2): a line that starts with "." gets another one.
            lines += normalized.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix(".") ? "." + $0 : String($0) }
        } else {
            let encoded = Data(normalized.utf8).base64EncodedString()
            var i = encoded.startIndex
            while i < encoded.endIndex {
                let j = encoded.index(i, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
                lines.append(String(encoded[i..<j]))
                i = j
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// A header value on one line; RFC 2047 encoded when it is not plain ASCII.
    static func encodeHeader(_ value: String) -> String {
        let flat = value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if flat.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) { return flat }
        return "=?UTF-8?B?\(Data(flat.utf8).base64EncodedString())?="
    }
}

/// The command/reply exchange of one SMTP connection.
struct SMTPSession {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var pending: [UInt8] = []

    static let maxLine = 4096

    mutating func readLine() async throws -> String {
        while true {
            if let end = pending.firstRange(of: [13, 10]) {
                let line = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                pending.removeSubrange(..<end.upperBound)
                return line
            }
            guard pending.count < Self.maxLine else { throw SMTPClient.Failure.transient("the mail server sent an over-long line") }
            guard let chunk = try await iterator.next() else {
                throw SMTPClient.Failure.transient("the mail server closed the connection")
            }
            pending += chunk.readableBytesView
        }
    }

    /// Reads one (possibly multi-line) reply: its code and the text of each line.
    mutating func readReply() async throws -> (Int, [String]) {
        var texts: [String] = []
        while true {
            let line = try await readLine()
            guard line.count >= 3, let code = Int(line.prefix(3)) else {
                throw SMTPClient.Failure.transient("the mail server sent an invalid reply '\(line.prefix(80))'")
            }
            texts.append(String(line.dropFirst(4)))
            if line.count == 3 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { return (code, texts) }
        }
    }

    /// Sends `command` (nil: just read, for the greeting) and requires one of `codes`.
    @discardableResult
    mutating func expect(_ codes: Set<Int>, after command: String?, redacted: String? = nil) async throws -> [String] {
        if let command { try await outbound.write(ByteBuffer(string: command + "\r\n")) }
        let (code, texts) = try await readReply()
        guard codes.contains(code) else {
            let what = redacted ?? command.map { String($0.prefix(40)) } ?? "connect"
            let text = "\(code) \(texts.joined(separator: " ").prefix(200)) (after \(what))"
            throw code >= 500 ? SMTPClient.Failure.rejected(text) : SMTPClient.Failure.transient(text)
        }
        return texts
    }
}
