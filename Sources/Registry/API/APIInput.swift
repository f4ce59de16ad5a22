/// Conversions of client-supplied numbers that must not trap: Swift traps on arithmetic
/// overflow, so one request with a huge number would take the whole server down.
public enum APIInput {
    /// Unix seconds from a request as milliseconds, or a Quay 400 naming `field` when the
    /// value is beyond what milliseconds can hold.
    public static func milliseconds(fromSeconds seconds: Int64, field: String) throws(APIError) -> Int64 {
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { throw APIError.invalidRequest("'\(field)' is out of range") }
        return millis
    }
}
