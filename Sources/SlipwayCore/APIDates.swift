import Foundation

/// Quay's API dates: RFC 2822 strings (`Sun, 29 Nov 2026 10:15:00 -0000`), and the days the
/// usage-log API takes and log-export callbacks name (`11/29/2026`), both in UTC.
public enum APIDates {
    private static let formatter = utcFormatter("EEE, dd MMM yyyy HH:mm:ss '-0000'")
    private static let dayFormatter = utcFormatter("MM/dd/yyyy")
    private static let lock = NSLock()

    public static func rfc2822(millis: Int64) -> String {
        lock.withLock { formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) }
    }

    /// The day of `millis` as `MM/DD/YYYY`.
    public static func day(millis: Int64) -> String {
        lock.withLock { dayFormatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) }
    }

    /// The start of the day `text` names (`MM/DD/YYYY`) in epoch milliseconds, or nil when it is
    /// not such a date.
    public static func millis(ofDay text: String) -> Int64? {
        lock.withLock { dayFormatter.date(from: text) }.map { Int64($0.timeIntervalSince1970 * 1000) }
    }

    private static func utcFormatter(_ format: String) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = format
        return f
    }
}
