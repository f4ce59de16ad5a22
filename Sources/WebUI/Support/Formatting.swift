import Foundation

/// Human-readable values for templates. Times are rendered in UTC on the server; `common.js`
/// rewrites every `<time datetime>` into the browser's local time zone.
enum Formatting {
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// `2024-05-01 14:03 UTC`.
    static func time(millis: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0)
    }

    /// ISO 8601 for `<time datetime>` and for scripts.
    static func iso(millis: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// `sha256:0123456789ab` (the algorithm and the first 12 hex digits).
    static func shortDigest(_ digest: String) -> String {
        guard let colon = digest.firstIndex(of: ":") else { return String(digest.prefix(12)) }
        return digest[..<colon] + ":" + digest[digest.index(after: colon)...].prefix(12)
    }

    /// Time-machine windows as the settings pages offer them.
    static func duration(seconds: Int64) -> String {
        switch seconds {
        case 0: return "a few seconds"
        case let s where s % 86_400 == 0: return s == 86_400 ? "1 day" : "\(s / 86_400) days"
        case let s where s % 3600 == 0: return "\(s / 3600) hours"
        default: return "\(seconds) seconds"
        }
    }
}

/// A time value for templates: `{{#at}}<time datetime="{{iso}}">{{text}}</time>{{/at}}`.
struct TimeView {
    let iso: String
    let text: String

    init(millis: Int64) {
        iso = Formatting.iso(millis: millis)
        text = Formatting.time(millis: millis)
    }

    init?(millis: Int64?) {
        guard let millis else { return nil }
        self.init(millis: millis)
    }
}
