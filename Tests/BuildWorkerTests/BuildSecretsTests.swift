import BuildProtocol
@testable import BuildWorker
import Foundation
import Testing

/// How the worker hands build arguments and secrets to the builder and keeps secrets out of
/// what it reports (the end-to-end proof with buildah is Tests/e2e/test_build_secrets.py).
struct BuildSecretsTests {
    @Test func argumentsAndSecretFilesOnTheCommandLineButNeverSecretValues() throws {
        let scratch = try Scratch("secrets-invocation")
        let environment = try ContainerEnvironment(root: scratch.sub("ct"))
        let invocation = BuilderInvocation.build(contextDirectory: "/ctx", dockerfile: "/ctx/Dockerfile", tags: ["r/ns/app:v1"],
                                                 tlsVerify: false, buildArgs: ["B": "2", "A": "one two"],
                                                 secretFiles: ["tok": "/work/secrets/tok", "a.b": "/work/secrets/a.b"],
                                                 environment: environment)
        #expect(Array(invocation.arguments.suffix(9)) == [
            "--build-arg", "A=one two", "--build-arg", "B=2",
            "--secret", "id=a.b,src=/work/secrets/a.b", "--secret", "id=tok,src=/work/secrets/tok", "/ctx",
        ])
    }

    @Test func secretFilesArePrivateAndOutsideTheContext() throws {
        let scratch = try Scratch("secrets-files")
        let work = scratch.sub("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let files = try BuildRunner.writeSecrets(["tok": "value-1", "b": "value-2"], in: work)
        #expect(Set(files.keys) == ["tok", "b"])
        for (id, path) in files {
            #expect(path == work.appendingPathComponent("secrets/\(id)").path)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(id)")
        }
        let directory = try FileManager.default.attributesOfItem(atPath: work.appendingPathComponent("secrets").path)
        #expect((directory[.posixPermissions] as? Int) == 0o700)
        #expect(try String(contentsOfFile: files["tok"]!, encoding: .utf8) == "value-1")
        #expect(throws: (any Error).self) { try BuildRunner.writeSecrets(["../escape": "x"], in: work) }
        BuildRunner.removeSecrets(in: work)
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("secrets").path))
    }

    @Test func everyReportedTextIsRedacted() {
        let pem = "--BEGIN KEY--\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ\n--END KEY--"
        let redactor = SecretRedactor(secrets: ["tok": "hunter22", "key": pem])
        #expect(redactor.redact("password is hunter22!") == "password is [secret]!")
        #expect(redactor.redact("MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu") == "[secret]",
                "a line of a multi-line secret, as the log delivers it")
        #expect(redactor.redact("--END KEY--") == "--END KEY--", "short lines of a key are not secret by themselves")
        #expect(redactor.redact("nothing here") == "nothing here")

        let log = redactor.redact(.log(BuildLogEntry(message: "echo hunter22", type: "command", data: ["x": "hunter22"])))
        #expect(log == .log(BuildLogEntry(message: "echo [secret]", type: "command", data: ["x": "[secret]"])))
        let phase = redactor.redact(.phase(PhaseUpdate(phase: .pulling, data: ["base_image": "hunter22/img"])))
        #expect(phase == .phase(PhaseUpdate(phase: .pulling, data: ["base_image": "[secret]/img"])))
        #expect(SecretRedactor(secrets: nil).isEmpty && SecretRedactor(secrets: ["e": ""]).isEmpty)
    }
}
