/// Whose usage logs a query (or an export) reads: a repository's, a namespace's, or those a user
/// performed.
public enum UsageLogScope: Sendable {
    case repository(Int64)
    case namespace(Int64)
    case performer(Int64)
    /// Every entry (the superuser's view).
    case everything
}
