import Foundation
import SlipwayCore

/// A build's arguments and secrets (issue #18), as a manual build or a trigger asks for them:
/// validated once here, for every way a build is started.
///
/// Arguments are plain (`--build-arg`, shown in the build view). Secrets are stored sealed with
/// the instance key under the build's uuid, unsealed only into the worker's lease response, and
/// dropped from the database when the build finishes; only their ids stay visible.
public struct BuildInputs: Sendable, Equatable {
    public static let maxArguments = 64
    public static let maxArgumentValueBytes = 4096
    public static let maxSecrets = 16
    /// Per secret; a secret larger than this is refused with 400 at request time.
    public static let maxSecretBytes = 64 * 1024

    public var arguments: [String: String]
    public var secrets: [String: String]

    public init(arguments: [String: String] = [:], secrets: [String: String] = [:]) {
        self.arguments = arguments
        self.secrets = secrets
    }

    /// Checks names, counts and sizes.
    /// - Throws: `BuildInputError` naming the first thing wrong (never a secret's value).
    public static func validated(arguments: [String: String]?, secrets: [String: String]?) throws(BuildInputError) -> BuildInputs {
        let arguments = arguments ?? [:]
        let secrets = secrets ?? [:]
        guard arguments.count <= maxArguments else { throw .init("at most \(maxArguments) build_args are allowed") }
        for (name, value) in arguments.sorted(by: { $0.key < $1.key }) {
            guard isArgumentName(name) else {
                throw .init("build_args: \"\(name.prefix(64))\" is not a valid argument name (letters, digits and _, not starting with a digit, at most 128)")
            }
            guard value.utf8.count <= maxArgumentValueBytes else { throw .init("build_args: the value of \(name) is longer than \(maxArgumentValueBytes) bytes") }
            guard !value.utf8.contains(0) else { throw .init("build_args: the value of \(name) contains a NUL byte") }
        }
        guard secrets.count <= maxSecrets else { throw .init("at most \(maxSecrets) build_secrets are allowed") }
        for (id, value) in secrets.sorted(by: { $0.key < $1.key }) {
            guard isSecretID(id) else {
                throw .init("build_secrets: \"\(id.prefix(64))\" is not a valid secret id (letters, digits, _ . -, starting with a letter or digit, at most 64)")
            }
            guard !value.isEmpty else { throw .init("build_secrets: secret \(id) is empty") }
            guard value.utf8.count <= maxSecretBytes else { throw .init("build_secrets: secret \(id) is larger than \(maxSecretBytes) bytes") }
        }
        return BuildInputs(arguments: arguments, secrets: secrets)
    }

    /// What `ARG` accepts: a shell-style variable name.
    static func isArgumentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 128, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
    }

    /// A secret id becomes a file name under `/run/secrets`: no separators, no dot files.
    static func isSecretID(_ id: String) -> Bool {
        guard let first = id.utf8.first, id.utf8.count <= 64, isAlphanumeric(first) else { return false }
        return id.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    // MARK: Storage

    /// The sealing context of a build's secrets: a sealed value copied to another build's row
    /// does not open there.
    static func sealContext(buildUUID: String) -> String { "build-secrets:\(buildUUID)" }

    /// The secrets sealed for storage with the build (nil when there are none).
    func sealedSecrets(buildUUID: String, box: SecretBox) throws -> String? {
        guard !secrets.isEmpty else { return nil }
        let json = String(decoding: try JSONEncoder().encode(secrets), as: UTF8.self)
        return try box.seal(json, context: Self.sealContext(buildUUID: buildUUID))
    }

    /// The secrets of a stored build, unsealed for its lease.
    static func openSecrets(_ sealed: String, buildUUID: String, box: SecretBox) throws -> [String: String] {
        let json = try box.open(sealed, context: sealContext(buildUUID: buildUUID))
        return try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }
}

extension BuildRecord {
    /// Records `inputs` on a build about to be queued: arguments and secret ids in the clear,
    /// the secrets sealed under this build's uuid.
    public mutating func setInputs(_ inputs: BuildInputs, box: SecretBox) throws {
        buildArgs = inputs.arguments
        buildSecretIDs = inputs.secrets.keys.sorted()
        buildSecretsSealed = try inputs.sealedSecrets(buildUUID: uuid, box: box)
    }
}

public struct BuildInputError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
