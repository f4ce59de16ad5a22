import SlipwayCore
import SQLKit

/// `repository_view`, the read-only view of repositories that other modules' queries join to
/// their own rows (a repository's path, its state, its namespace's time-machine window), so
/// one read returns both. Other modules read repositories only through this view or the
/// account store's API; the view's columns are: id, namespace_id, namespace, name,
/// visibility, state, tag_expiration_s.
public enum RepositoryView {
    public static let name = "repository_view"

    /// The columns of the view joined as `alias`, each renamed `<prefix><column>`, for
    /// `repository(from:prefix:)`.
    public static func columns(_ alias: String, prefix: String) -> String {
        ["id", "namespace_id", "namespace", "name", "visibility", "state"].map { "\(alias).\($0) AS \(prefix)\($0)" }.joined(separator: ", ")
    }

    /// Decodes a repository selected with `columns(_:prefix:)`.
    public static func repository(from row: any SQLRow, prefix: String) throws -> Repository {
        Repository(id: try row.int64(prefix + "id"), namespaceID: try row.int64(prefix + "namespace_id"),
                   namespace: try row.string(prefix + "namespace"), name: try row.string(prefix + "name"),
                   visibility: Visibility(rawValue: try row.string(prefix + "visibility")) ?? .private,
                   state: RepositoryState(rawValue: try row.string(prefix + "state")) ?? .normal)
    }
}
