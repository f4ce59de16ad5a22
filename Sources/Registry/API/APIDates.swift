import Foundation

/// Quay's API dates: RFC 2822 strings (`Sun, 29 Nov 2026 10:15:00 -0000`).
public enum APIDates {
    private static let formatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '-0000'"
        return f
    }()
    private static let lock = NSLock()

    public static func rfc2822(millis: Int64) -> String {
        lock.lock()
        defer { lock.unlock() }
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
