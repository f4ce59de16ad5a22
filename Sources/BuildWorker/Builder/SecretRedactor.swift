// Keeps a build's secrets out of everything the worker reports: log lines, phase details and
// the completion message all pass through `redact` before they leave the worker.
//
// buildah never prints a secret by itself, but a Dockerfile can (`RUN --mount=type=secret,...
// cat /run/secrets/x`), and a failing step's error line repeats the command's output. Each
// secret's whole value is replaced; for a multi-line secret (a PEM key) each of its lines of
// 16 or more characters is replaced too, since the log arrives line by line. Longer patterns
// go first so a line of a key never leaves part of a longer match behind.

import BuildProtocol
import Foundation

public struct SecretRedactor: Sendable {
    public static let replacement = "[secret]"
    let patterns: [String]

    public init(secrets: [String: String]?) {
        var patterns = Set<String>()
        for value in (secrets ?? [:]).values where !value.isEmpty {
            patterns.insert(value)
            let lines = value.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            if lines.count > 1 {
                for line in lines where line.count >= 16 { patterns.insert(line) }
            }
        }
        self.patterns = patterns.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    public var isEmpty: Bool { patterns.isEmpty }

    public func redact(_ text: String) -> String {
        var text = text
        for pattern in patterns where text.contains(pattern) {
            text = text.replacingOccurrences(of: pattern, with: Self.replacement)
        }
        return text
    }

    public func redact(_ event: BuildEvent) -> BuildEvent {
        switch event {
        case .log(var entry):
            entry.message = redact(entry.message)
            entry.data = entry.data?.mapValues(redact)
            return .log(entry)
        case .phase(var update):
            update.data = update.data.mapValues(redact)
            return .phase(update)
        }
    }

    /// `events` with every event redacted (itself when there is nothing to redact).
    public func wrap(_ events: @escaping @Sendable (BuildEvent) -> Void) -> @Sendable (BuildEvent) -> Void {
        guard !isEmpty else { return events }
        return { [self] event in events(redact(event)) }
    }
}
