import Crypto
import Foundation

/// A trigger's SSH deploy key: an Ed25519 key pair generated with swift-crypto and written in
/// OpenSSH's own formats, so no `ssh-keygen` process is needed.
///
/// - public: `ssh-ed25519 <base64 blob> <comment>` (an `authorized_keys` / deploy-key line);
/// - private: the unencrypted `openssh-key-v1` container (`-----BEGIN OPENSSH PRIVATE KEY-----`),
///   byte for byte what `ssh-keygen -t ed25519 -N ''` writes, which libssh2 (the worker's libgit2
///   transport) reads from memory. `ssh-keygen -y -f` on it prints the same public key (tested).
///
/// Layout of the private container (PROTOCOL.key in OpenSSH):
/// ```
/// "openssh-key-v1\0" | string "none" (cipher) | string "none" (kdf) | string "" (kdf options)
/// | uint32 1 (keys) | string <public blob> | string <private section>
/// private section: uint32 check | uint32 check | string "ssh-ed25519" | string pub(32)
///                  | string seed(32)‖pub(32) | string comment | padding 1,2,3… to a multiple of 8
/// ```
public struct DeployKey: Sendable {
    public let publicKey: String
    public let privateKey: String

    public static func generate(comment: String) -> DeployKey {
        let key = Curve25519.Signing.PrivateKey()
        let seed = key.rawRepresentation
        let pub = key.publicKey.rawRepresentation
        var blob = SSHBuffer()
        blob.string("ssh-ed25519")
        blob.bytes(pub)

        var check = UInt32.random(in: .min ... .max)
        if check == 0 { check = 1 }
        var secret = SSHBuffer()
        secret.uint32(check)
        secret.uint32(check)
        secret.string("ssh-ed25519")
        secret.bytes(pub)
        secret.bytes(seed + pub)
        secret.string(comment)
        var pad: UInt8 = 1
        while secret.data.count % 8 != 0 {
            secret.data.append(pad)
            pad += 1
        }

        var container = SSHBuffer()
        container.data.append(contentsOf: Array("openssh-key-v1".utf8) + [0])
        container.string("none")
        container.string("none")
        container.string("")
        container.uint32(1)
        container.bytes(blob.data)
        container.bytes(secret.data)

        let body = container.data.base64EncodedString()
        var lines: [String] = ["-----BEGIN OPENSSH PRIVATE KEY-----"]
        var index = body.startIndex
        while index < body.endIndex {
            let end = body.index(index, offsetBy: 70, limitedBy: body.endIndex) ?? body.endIndex
            lines.append(String(body[index..<end]))
            index = end
        }
        lines.append("-----END OPENSSH PRIVATE KEY-----")
        return DeployKey(publicKey: "ssh-ed25519 \(blob.data.base64EncodedString()) \(comment)",
                         privateKey: lines.joined(separator: "\n") + "\n")
    }
}

/// SSH wire encoding: big-endian uint32, and length-prefixed strings.
struct SSHBuffer {
    var data = Data()

    mutating func uint32(_ v: UInt32) {
        data.append(contentsOf: [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)])
    }

    mutating func bytes(_ b: some DataProtocol) {
        uint32(UInt32(b.count))
        data.append(contentsOf: b)
    }

    mutating func string(_ s: String) { bytes(Data(s.utf8)) }
}
