/// How one attempt at an export's callback ended, as recorded on the export.
public enum LogExportCallbackOutcome: Sendable {
    case delivered
    case retry(at: Int64, error: String)
    /// Out of attempts (`failed`) or refused by the SSRF check at delivery time (`refused`).
    case gaveUp(callbackStatus: String, error: String)
}
