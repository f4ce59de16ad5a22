import Foundation

/// The `datetime` of phase and command log entries, as Quay writes it (Python's
/// `str(datetime.utcnow())`: `2026-12-07 03:15:02.123456`, UTC, no zone suffix). The worker
/// stamps an entry when the event happens, not when the batch carrying it is shipped, so the
/// times say where a build's seconds went even though entries travel in batches.
public enum LogTimestamp {
    public static let key = "datetime"

    public static func format(millis: Int64) -> String {
        let seconds = millis.floorDivided(by: 1000)
        let fraction = millis - seconds * 1000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%03d000", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(fraction))
    }

    /// Epoch milliseconds of a `datetime` written by `format` (or Quay: 0-6 fraction digits).
    public static func millis(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        let timeAndFraction = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        let time = timeAndFraction[0].split(separator: ":").compactMap { Int($0) }
        guard date.count == 3, time.count == 3, timeAndFraction.count <= 2 else { return nil }
        var fields = tm()
        fields.tm_year = Int32(date[0] - 1900)
        fields.tm_mon = Int32(date[1] - 1)
        fields.tm_mday = Int32(date[2])
        fields.tm_hour = Int32(time[0])
        fields.tm_min = Int32(time[1])
        fields.tm_sec = Int32(time[2])
        let seconds = Int64(timegm(&fields))
        var millis: Int64 = 0
        if timeAndFraction.count == 2 {
            let digits = String(timeAndFraction[1].prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0)
            guard let value = Int64(digits) else { return nil }
            millis = value
        }
        return seconds * 1000 + millis
    }

    public static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

extension BuildLogEntry {
    /// The entry with `data.datetime` set to `millis` (kept if already there): phase and
    /// command entries only, as Quay's; plain output lines stay as they are.
    public func stamped(millis: Int64) -> BuildLogEntry {
        guard type == "phase" || type == "command" else { return self }
        var copy = self
        var data = copy.data ?? [:]
        if data[LogTimestamp.key] == nil { data[LogTimestamp.key] = LogTimestamp.format(millis: millis) }
        copy.data = data
        return copy
    }
}

private extension Int64 {
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }
}
