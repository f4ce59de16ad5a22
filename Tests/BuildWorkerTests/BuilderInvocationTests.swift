@testable import BuildWorker
import Foundation
import Testing

struct BuilderInvocationTests {
    @Test func buildahBudArgumentsAndEnvironment() throws {
        let scratch = try Scratch("invocation")
        let environment = try ContainerEnvironment(root: scratch.sub("ct"))
        let invocation = BuilderInvocation.build(contextDirectory: "/ctx", dockerfile: "/ctx/sub/Dockerfile",
                                                 tags: ["r:5000/ns/app:v1", "r:5000/ns/app:latest"],
                                                 tlsVerify: false, pullCredentials: (username: "ns+puller", password: "s3cr:et"),
                                                 environment: environment, timeout: .seconds(60))
        #expect(invocation.executable == "buildah")
        #expect(invocation.arguments == ["bud", "--isolation", "chroot", "-f", "/ctx/sub/Dockerfile",
                                         "-t", "r:5000/ns/app:v1", "-t", "r:5000/ns/app:latest",
                                         "--pull-always", "--tls-verify=false", "--creds", "ns+puller:s3cr:et", "/ctx"])
        #expect(invocation.workingDirectory == "/ctx")
        #expect(invocation.timeout == .seconds(60))
        #expect(invocation.killGrace == .seconds(5))
        #expect(!invocation.redactedCommandLine.contains("s3cr"))
        #expect(invocation.redactedCommandLine.contains("--creds 'ns+puller:***'"))

        let env = invocation.environment
        for key in ["HOME", "XDG_RUNTIME_DIR", "TMPDIR", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF",
                    "CONTAINERS_CONF", "REGISTRY_AUTH_FILE"] {
            #expect(env[key]?.hasPrefix(scratch.sub("ct").path) == true, "\(key)")
        }
        let registries = try String(contentsOfFile: env["CONTAINERS_REGISTRIES_CONF"]!, encoding: .utf8)
        #expect(registries.contains("location = \"127.0.0.1\"\ninsecure = true"))
        #expect(registries.contains("location = \"localhost\"\ninsecure = true"))
        let storage = try String(contentsOfFile: env["CONTAINERS_STORAGE_CONF"]!, encoding: .utf8)
        #expect(storage.contains("driver = \"vfs\""))
        #expect(FileManager.default.fileExists(atPath: env["REGISTRY_AUTH_FILE"]!))
    }

    @Test func podmanOCIWithoutPullOrCreds() throws {
        let scratch = try Scratch("invocation")
        let environment = try ContainerEnvironment(root: scratch.sub("ct"))
        let invocation = BuilderInvocation.build(tool: .podman, isolation: .oci, contextDirectory: "/c", dockerfile: "/c/Dockerfile",
                                                 tags: ["h/r:t"], pullAlways: false, tlsVerify: true, environment: environment)
        #expect(invocation.executable == "podman")
        #expect(invocation.arguments == ["build", "--isolation", "oci", "-f", "/c/Dockerfile", "-t", "h/r:t", "--tls-verify=true", "/c"])
    }

    @Test func pushRedactsCredentials() throws {
        let scratch = try Scratch("invocation")
        let environment = try ContainerEnvironment(root: scratch.sub("ct"))
        let push = BuilderInvocation.push(image: "h/r:t", destination: "h/r:t", digestFile: "/d", tlsVerify: true,
                                          credentials: (username: "$token", password: "eyJhbGci"), environment: environment)
        #expect(push.arguments == ["push", "--digestfile", "/d", "--tls-verify=true", "--creds", "$token:eyJhbGci", "h/r:t", "docker://h/r:t"])
        #expect(!push.redactedCommandLine.contains("eyJhbGci"))
        #expect(BuilderInvocation.redact(["--creds=u:p", "--password", "x"]) == ["--creds=u:***", "--password", "***"])
    }

    @Test func baseImageData() {
        #expect(BuildRunner.imageData("127.0.0.1:5000/library/busybox:latest")
                == ["base_image": "127.0.0.1:5000/library/busybox", "base_image_tag": "latest", "registry_url": "127.0.0.1:5000"])
        #expect(BuildRunner.imageData("busybox") == ["base_image": "busybox", "base_image_tag": "latest"])
        #expect(BuildRunner.imageData("quay.io/ns/app@sha256:abc")
                == ["base_image": "quay.io/ns/app", "base_image_tag": "sha256:abc", "registry_url": "quay.io"])
    }
}
