import Foundation
import Testing
@testable import Triggers

/// The deploy key is written in OpenSSH's formats by hand; OpenSSH's own tools must read it.
@Suite("Deploy keys")
struct DeployKeyTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func sshKeygenDerivesTheSamePublicKeyFromThePrivateKey() throws {
        let key = DeployKey.generate(comment: "slipway-test@acme/app")
        #expect(key.publicKey.hasPrefix("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"))
        #expect(key.privateKey.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
        #expect(key.privateKey.hasSuffix("-----END OPENSSH PRIVATE KEY-----\n"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-key-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("id")
        try key.privateKey.write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)

        let derived = try Self.run(["ssh-keygen", "-y", "-f", file.path])
        #expect(derived.status == 0, "ssh-keygen -y failed: \(derived.output)")
        // `-y` prints "<type> <base64> <comment>"; the key parts must match ours.
        let ours = key.publicKey.split(separator: " ")
        let theirs = derived.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(Array(theirs.prefix(2)) == Array(ours.prefix(2)))
        #expect(theirs.last == "slipway-test@acme/app", "the comment is stored in the private key")

        try key.publicKey.write(to: dir.appendingPathComponent("id.pub"), atomically: true, encoding: .utf8)
        let fingerprint = try Self.run(["ssh-keygen", "-l", "-f", dir.appendingPathComponent("id.pub").path])
        #expect(fingerprint.status == 0 && fingerprint.output.contains("(ED25519)"), "\(fingerprint.output)")
    }

    @Test func everyKeyIsNew() {
        let a = DeployKey.generate(comment: "a")
        let b = DeployKey.generate(comment: "a")
        #expect(a.publicKey != b.publicKey)
        #expect(a.privateKey != b.privateKey)
    }
}
