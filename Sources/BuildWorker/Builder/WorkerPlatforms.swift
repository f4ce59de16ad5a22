// What a worker can build (#18): its own platform, plus every platform whose binaries the
// kernel hands to a qemu-user emulator through binfmt_misc. Debian's qemu-user-static
// registers one entry per architecture (`qemu-aarch64`, `qemu-arm`, ...) with the `F` flag:
// the kernel opens the emulator when the entry is registered, so it also runs inside the
// chroot of a build step, where `/usr/libexec/qemu-binfmt` does not exist. An entry without
// `F`, a disabled one, or binfmt_misc itself switched off does not count.

import BuildProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct WorkerPlatforms: Sendable, Equatable {
    public static let binfmtDirectory = "/proc/sys/fs/binfmt_misc"

    public var native: BuildPlatform?
    /// Platforms run under emulation, with the binfmt_misc entry that runs each.
    public var emulated: [BuildPlatform]

    public init(native: BuildPlatform?, emulated: [BuildPlatform]) {
        self.native = native
        self.emulated = emulated
    }

    /// Every platform this worker builds, as the lease request lists them.
    public var all: [String] {
        ((native.map { [$0] } ?? []) + emulated.filter { $0 != native }).sorted().map(\.description)
    }

    public func canBuild(_ platform: BuildPlatform) -> Bool { platform == native || emulated.contains(platform) }

    /// Reads the kernel's machine name and the binfmt_misc entries of `directory`.
    public static func detect(binfmtDirectory directory: String = binfmtDirectory, machine: String? = nil) -> WorkerPlatforms {
        let native = BuildPlatform.native(machine: machine ?? currentMachine())
        guard Self.read("\(directory)/status")?.hasPrefix("enabled") == true else { return WorkerPlatforms(native: native, emulated: []) }
        let emulated = BuildPlatform.known.compactMap(BuildPlatform.init).filter { platform in
            platform != native && usable(Self.read("\(directory)/\(platform.qemuBinfmtName)"))
        }
        return WorkerPlatforms(native: native, emulated: emulated)
    }

    /// An entry's text (`enabled`, `interpreter ...`, `flags: OCF`, ...) says it runs binaries
    /// inside a chroot: enabled, and its emulator opened at registration (`F`).
    static func usable(_ entry: String?) -> Bool {
        guard let entry else { return false }
        let lines = entry.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.first == "enabled" else { return false }
        guard let flags = lines.first(where: { $0.hasPrefix("flags:") }) else { return false }
        return flags.dropFirst("flags:".count).contains("F")
    }

    /// The log line a worker writes at start.
    public var summary: String {
        let emulation = emulated.isEmpty ? "none (install qemu-user-static and enable its binfmt_misc entries to build other architectures)"
            : emulated.map { "\($0) (\($0.qemuBinfmtName))" }.joined(separator: ", ")
        return "worker platforms: native \(native?.description ?? "unknown"); emulated \(emulation)"
    }

    /// Why this worker cannot build `platform` and what to install (nil when it can).
    public func refusal(_ platform: BuildPlatform) -> String? {
        guard !canBuild(platform) else { return nil }
        return "this worker (\(native?.description ?? "unknown platform")) cannot run \(platform) binaries: install qemu-user-static "
            + "and enable its binfmt_misc entry \(platform.qemuBinfmtName) (mount -t binfmt_misc binfmt_misc \(Self.binfmtDirectory); "
            + "/usr/lib/systemd/systemd-binfmt or update-binfmts --enable \(platform.qemuBinfmtName)), then restart the worker"
    }

    private static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    private static func currentMachine() -> String {
        var name = utsname()
        guard uname(&name) == 0 else { return "" }
        return withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}
