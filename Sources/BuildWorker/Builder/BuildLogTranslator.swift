// Turns builder output lines into Quay-style build-log entries:
//
//   buildah / podman   "STEP 2/5: RUN make"          → type "command"
//   docker             "Step 2/5 : RUN make"         → type "command"
//   buildah / podman   "Error: building at STEP ..." → type "error"
//   everything else                                   → plain output (no type)

import BuildProtocol

public enum BuildLogTranslator {
    public enum Line: Sendable, Equatable {
        /// A Dockerfile step: 1-based index, step count, and the instruction as printed.
        case step(index: Int, count: Int, instruction: String)
        /// A failure reported by the builder; `message` has the `Error: ` prefix removed.
        case error(message: String)
        case output
    }

    public static func classify(_ line: String) -> Line {
        if let step = parseStep(line, prefix: "STEP ", separator: ": ")
            ?? parseStep(line, prefix: "Step ", separator: " : ") {
            return step
        }
        for prefix in ["Error: ", "error: ", "ERROR: "] where line.hasPrefix(prefix) {
            return .error(message: String(line.dropFirst(prefix.count)))
        }
        if line.hasPrefix("error building at STEP") || line.hasPrefix("Error building at STEP") {
            return .error(message: line)
        }
        if line.hasPrefix("time="), line.contains(" level=fatal ") {
            return .error(message: line)
        }
        return .output
    }

    public static func entry(for line: String) -> BuildLogEntry {
        switch classify(line) {
        case .step(let index, let count, let instruction):
            return BuildLogEntry(message: line, type: "command",
                                 data: ["step": String(index), "steps": String(count), "command": instruction])
        case .error:
            return BuildLogEntry(message: line, type: "error")
        case .output:
            return BuildLogEntry(message: line)
        }
    }

    /// `<prefix><n>/<m><separator><instruction>` with n, m decimal and 1 ≤ n ≤ m.
    private static func parseStep(_ line: String, prefix: String, separator: String) -> Line? {
        guard line.hasPrefix(prefix) else { return nil }
        let rest = line.dropFirst(prefix.count)
        guard let range = rest.range(of: separator) else { return nil }
        let numbers = rest[..<range.lowerBound].split(separator: "/", omittingEmptySubsequences: false)
        guard numbers.count == 2,
              numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let index = Int(numbers[0]), let count = Int(numbers[1]), index >= 1, index <= count else {
            return nil
        }
        return .step(index: index, count: count, instruction: String(rest[range.upperBound...]))
    }
}
