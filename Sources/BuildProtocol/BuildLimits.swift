import Foundation

/// Resource limits of one build's builder and everything it starts (each `RUN` step), enforced
/// by the worker through a control group of the build's own. Zero means "no limit" for that
/// resource. The wall-time limit is `BuildPack.timeoutSeconds`.
public struct BuildLimits: Codable, Sendable, Equatable {
    /// CPU time per wall-clock second, in thousandths of a core (1500 = one and a half cores).
    public var cpuMillicores: Int
    /// Memory (resident plus page cache charged to the build), in bytes.
    public var memoryBytes: Int64
    /// Processes and threads alive at once.
    public var pids: Int

    public init(cpuMillicores: Int = 0, memoryBytes: Int64 = 0, pids: Int = 0) {
        self.cpuMillicores = cpuMillicores
        self.memoryBytes = memoryBytes
        self.pids = pids
    }

    /// No resource is limited.
    public var isEmpty: Bool { cpuMillicores <= 0 && memoryBytes <= 0 && pids <= 0 }

    /// For the build log: `cpu 1.5 cores, memory 512 MiB, 256 processes`.
    public var summary: String {
        var parts: [String] = []
        if cpuMillicores > 0 {
            parts.append("cpu \(String(format: "%g", Double(cpuMillicores) / 1000)) cores")
        }
        if memoryBytes > 0 { parts.append("memory \(memoryBytes >> 20) MiB") }
        if pids > 0 { parts.append("\(pids) processes") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
