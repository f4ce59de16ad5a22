// Reads an ssh server's host keys without logging in (what `ssh-keyscan` does): connect, run the
// ssh handshake with libssh2 once per host-key algorithm, take the key the server proves it
// holds, disconnect. Nothing is authenticated and no command runs on the server.
//
// The caller passes a numeric address it has already vetted (no name is resolved here, so the
// address connected to is the address checked). Everything blocking runs on a thread of its own
// with a deadline; the cooperative pool never waits on the network.

import BuildProtocol
import CLibssh2
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct SSHHostKeyScanner: Sendable {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Host-key algorithms asked for one at a time, so every key type the server has is seen
    /// (libgit2 may negotiate any of them, depending on the worker's libssh2 and known_hosts).
    static let algorithms = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                             "rsa-sha2-512,rsa-sha2-256,ssh-rsa"]

    /// For the whole scan, every handshake included.
    public var timeout: Duration

    public init(timeout: Duration = .seconds(8)) {
        self.timeout = timeout
    }

    /// Every host key `address`:`port` presents, in `algorithms` order.
    public func scan(address: String, port: Int) async throws(Failure) -> [SSHHostKey] {
        let deadline = ContinuousClock.now + timeout
        let result = await BlockingThread.run(name: "slipway-ssh-keyscan") { () -> Result<[SSHHostKey], Failure> in
            Result { () throws(Failure) in try Self.scanBlocking(address: address, port: port, deadline: deadline) }
        }
        return try result.get()
    }

    static let libraryInitialised: Bool = libssh2_init(0) == 0

    static func scanBlocking(address: String, port: Int, deadline: ContinuousClock.Instant) throws(Failure) -> [SSHHostKey] {
        guard libraryInitialised else { throw Failure("libssh2 could not be initialised") }
        var keys: [SSHHostKey] = []
        for algorithm in algorithms {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                if keys.isEmpty { throw Failure("\(Self.endpoint(address, port)) did not finish the ssh handshake in time") }
                break
            }
            let socket = try TCPConnection.open(address: address, port: port, timeout: remaining)
            defer { close(socket) }
            guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else { throw Failure("libssh2 could not start a session") }
            defer { libssh2_session_free(session) }
            libssh2_session_set_timeout(session, max(1, Int(remaining.components.seconds) * 1000))
            // This libssh2 may lack an algorithm (ed25519 needs a recent OpenSSL): skip it.
            guard libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, algorithm) == 0 else { continue }
            let rc = libssh2_session_handshake(session, socket)
            if rc == LIBSSH2_ERROR_KEX_FAILURE { continue }  // the server has no key of this type
            guard rc == 0 else {
                throw Failure("\(Self.endpoint(address, port)) did not complete an ssh handshake: \(Self.lastError(session))")
            }
            var length = 0
            var type: Int32 = 0
            if let raw = libssh2_session_hostkey(session, &length, &type), length > 0 {
                let blob = Data(bytes: raw, count: length)
                if let name = SSHHostKey.blobType(blob), let hash = libssh2_hostkey_hash(session, 3 /* LIBSSH2_HOSTKEY_HASH_SHA256 */) {
                    let digest = UnsafeRawBufferPointer(start: hash, count: 32)
                    let key = SSHHostKey(type: name, key: blob.base64EncodedString(), fingerprint: SSHHostKey.fingerprint(sha256: digest))
                    if !keys.contains(key) { keys.append(key) }
                }
            }
            _ = libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "host key read", "")
        }
        guard !keys.isEmpty else { throw Failure("\(Self.endpoint(address, port)) offered no host key of a type Slipway can check") }
        return keys
    }

    static func endpoint(_ address: String, _ port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    static func lastError(_ session: OpaquePointer) -> String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &message, &length, 0)
        guard let message, length > 0 else { return "libssh2 error \(code)" }
        return String(cString: message)
    }
}

/// A blocking TCP connection to a numeric address, opened within a deadline.
enum TCPConnection {
    static func open(address: String, port: Int, timeout: Duration) throws(SSHHostKeyScanner.Failure) -> Int32 {
        let endpoint = SSHHostKeyScanner.endpoint(address, port)
        var storage = sockaddr_storage()
        let length: socklen_t
        let family: Int32
        if address.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, address, &a.sin6_addr) == 1 else { throw SSHHostKeyScanner.Failure("'\(address)' is not a numeric address") }
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: &a) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, address, &a.sin_addr) == 1 else { throw SSHHostKeyScanner.Failure("'\(address)' is not a numeric address") }
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: &a) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        #if os(Linux)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(family, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SSHHostKeyScanner.Failure("cannot open a socket: \(String(cString: strerror(errno)))") }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw SSHHostKeyScanner.Failure("cannot connect to \(endpoint): \(message)")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let millis = Int32(clamping: max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
            let ready = poll(&pfd, 1, millis)
            guard ready > 0 else {
                close(fd)
                throw SSHHostKeyScanner.Failure("cannot connect to \(endpoint): no answer within \(timeout)")
            }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            guard error == 0 else {
                close(fd)
                throw SSHHostKeyScanner.Failure("cannot connect to \(endpoint): \(String(cString: strerror(error)))")
            }
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        // A server that accepts and then stalls must not hold the thread past the deadline.
        var wait = timeval(tv_sec: max(1, Int(timeout.components.seconds)), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }
}
