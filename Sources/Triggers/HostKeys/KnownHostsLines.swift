import BuildProtocol
import Crypto
import Foundation
import Registry
import SlipwayCore

/// Host keys pasted as `known_hosts` lines (`ssh-keyscan` output): `host keytype base64`, or
/// just `keytype base64`. The host field is not matched (the keys belong to the trigger, whose
/// URL names one server); `@cert-authority` and `@revoked` markers are refused.
enum KnownHostsLines {
    static let keyTypes: Set<String> = [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-dss",
    ]
    static let maxKeys = 20
    static let maxLength = 64 * 1024

    static func parse(_ text: String, field: String) throws(DomainError) -> [SSHHostKey] {
        guard text.utf8.count <= maxLength else { throw DomainError.invalidInput("\(field) is too long (at most \(maxLength) bytes)") }
        var keys: [SSHHostKey] = []
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if line.hasPrefix("@") {
                throw DomainError.invalidInput("\(field) line \(number + 1): markers such as \(fields[0]) are not supported; paste plain host keys")
            }
            guard let index = fields.prefix(2).firstIndex(where: keyTypes.contains), index + 1 < fields.count,
                  let blob = Data(base64Encoded: fields[index + 1]), SSHHostKey.blobType(blob) == fields[index] else {
                throw DomainError.invalidInput("\(field) line \(number + 1) is not a known_hosts line: use 'host keytype key' "
                                              + "as ssh-keyscan prints it (key types: \(keyTypes.sorted().joined(separator: ", ")))")
            }
            let key = SSHHostKey(type: fields[index], key: blob.base64EncodedString(), fingerprint: fingerprint(blob))
            if !keys.contains(key) { keys.append(key) }
        }
        guard !keys.isEmpty else { throw DomainError.invalidInput("\(field) holds no host key") }
        guard keys.count <= maxKeys else { throw DomainError.invalidInput("\(field) takes at most \(maxKeys) keys") }
        return keys
    }

    static func fingerprint(_ blob: Data) -> String {
        SSHHostKey.fingerprint(sha256: SHA256.hash(data: blob))
    }
}
