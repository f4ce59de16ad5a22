import Foundation
import Logging
import Synchronization

/// Keeps the last messages logged through it, for explaining a failure after the fact (the
/// connection pool's events when a database does not close).
public final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])
    private let notable = Mutex<[String]>([])
    private let capacity: Int
    private let started = ContinuousClock.now

    public init(capacity: Int = 60) {
        self.capacity = capacity
    }

    /// A logger that records everything at `level` and above.
    public func logger(label: String, level: Logger.Level = .debug) -> Logger {
        var logger = Logger(label: label) { _ in Handler(recorder: self) }
        logger.logLevel = level
        return logger
    }

    public var recent: [String] { lines.withLock { $0 } }

    /// The first messages at info level or above (the pool logs a failed connection attempt at
    /// info, with its error), kept apart so that later chatter does not push them out.
    public var notableEvents: [String] { notable.withLock { $0 } }

    fileprivate func record(_ line: String, level: Logger.Level) {
        let elapsed = ContinuousClock.now - started
        let stamped = "+\(elapsed.components.seconds)s \(line)"
        lines.withLock { lines in
            lines.append(stamped)
            if lines.count > capacity { lines.removeFirst(lines.count - capacity) }
        }
        if level >= .info {
            notable.withLock { if $0.count < 20 { $0.append(stamped) } }
        }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            recorder.record("\(event.level) \(event.message) \(fields)", level: event.level)
        }
    }
}
