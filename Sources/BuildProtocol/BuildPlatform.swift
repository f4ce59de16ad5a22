// A target platform of a multi-architecture build (#18), spelled as `buildah --platform` and an
// OCI index's `platform` spell it: `os/arch[/variant]`. Only the platforms below are accepted:
// each is one Debian's qemu-user-static can emulate, so a worker can say which it runs.

public struct BuildPlatform: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let os: String
    public let architecture: String
    public let variant: String?

    /// The platforms a build may ask for, in the order the docs list them.
    public static let known: [String] = [
        "linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64",
    ]

    /// The most platforms one build may ask for (all of `known`).
    public static let maxPerBuild = 8

    /// A platform from `known`; nil for anything else.
    public init?(_ text: String) {
        guard Self.known.contains(text) else { return nil }
        let parts = text.split(separator: "/").map(String.init)
        os = parts[0]
        architecture = parts[1]
        variant = parts.count > 2 ? parts[2] : nil
    }

    public var description: String { ([os, architecture] + (variant.map { [$0] } ?? [])).joined(separator: "/") }

    public static func < (a: BuildPlatform, b: BuildPlatform) -> Bool {
        (Self.known.firstIndex(of: a.description) ?? 0) < (Self.known.firstIndex(of: b.description) ?? 0)
    }

    /// The `binfmt_misc` entry Debian's qemu-user-static registers for this platform's binaries
    /// (`/proc/sys/fs/binfmt_misc/<name>`).
    public var qemuBinfmtName: String {
        switch architecture {
        case "amd64": return "qemu-x86_64"
        case "arm64": return "qemu-aarch64"
        case "arm": return "qemu-arm"
        case "386": return "qemu-i386"
        default: return "qemu-\(architecture)"  // ppc64le, s390x, riscv64
        }
    }

    /// The platform a kernel's machine name (`uname -m`) runs natively.
    public static func native(machine: String) -> BuildPlatform? {
        switch machine {
        case "x86_64": return BuildPlatform("linux/amd64")
        case "aarch64", "arm64": return BuildPlatform("linux/arm64")
        case "armv7l": return BuildPlatform("linux/arm/v7")
        case "armv6l": return BuildPlatform("linux/arm/v6")
        case "i386", "i686": return BuildPlatform("linux/386")
        case "ppc64le": return BuildPlatform("linux/ppc64le")
        case "s390x": return BuildPlatform("linux/s390x")
        case "riscv64": return BuildPlatform("linux/riscv64")
        default: return nil
        }
    }
}
