import Crypto
import Foundation

/// A content digest `algorithm:hex`. Only sha256 and sha512 are accepted, always lower-case hex of
/// the algorithm's length, so a `Digest` is safe to use in storage paths.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    public enum Algorithm: String, Sendable, Codable {
        case sha256, sha512
        var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    public let hex: String

    public init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Parses and validates; the error says why, in words a person can act on (the registry
    /// answers it as `DIGEST_INVALID`).
    public init(parsing text: String) throws(DigestError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw DigestError("invalid digest '\(text.prefix(100))': expected algorithm:hex")
        }
        let alg = String(text[..<colon])
        let hex = String(text[text.index(after: colon)...])
        guard let algorithm = Algorithm(rawValue: alg) else {
            throw DigestError("unsupported digest algorithm '\(alg.prefix(32))': use sha256 or sha512")
        }
        guard hex.utf8.count == algorithm.hexLength,
              hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw DigestError("invalid \(alg) digest: expected \(algorithm.hexLength) lower-case hex characters")
        }
        self.init(algorithm: algorithm, hex: hex)
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public static func sha256(of bytes: some DataProtocol) -> Digest {
        Digest(algorithm: .sha256, hex: SHA256.hash(data: bytes).hexString)
    }

    public static func compute(_ algorithm: Algorithm, of bytes: some DataProtocol) -> Digest {
        switch algorithm {
        case .sha256: return Digest(algorithm: .sha256, hex: SHA256.hash(data: bytes).hexString)
        case .sha512: return Digest(algorithm: .sha512, hex: SHA512.hash(data: bytes).hexString)
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Digest(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Why a text is not a digest.
public struct DigestError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension Sequence where Element == UInt8 {
    public var hexString: String {
        let table: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in self {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Digest: Comparable {
    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }
}

/// Incremental hashing for either algorithm, fed chunk by chunk while a blob streams in.
public struct StreamingDigester: Sendable {
    private var sha256 = SHA256()
    private var sha512: SHA512?
    public private(set) var byteCount: Int64 = 0

    public init(includeSHA512: Bool = false) {
        sha512 = includeSHA512 ? SHA512() : nil
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
        byteCount += Int64(bytes.count)
    }

    public func finalize(_ algorithm: Digest.Algorithm) -> Digest? {
        switch algorithm {
        case .sha256: return Digest(algorithm: .sha256, hex: sha256.finalize().hexString)
        case .sha512: return sha512.map { Digest(algorithm: .sha512, hex: $0.finalize().hexString) }
        }
    }
}
