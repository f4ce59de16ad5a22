import Foundation

/// Wall-clock time as stored: epoch milliseconds.
public enum Clock {
    public static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}
