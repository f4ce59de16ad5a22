import Accounts
import Crypto
import Foundation

/// Quay's avatar block (`avatars/avatars.py`), the one implementation every `/api/v1` view uses:
/// the SHA-256 of the e-mail (or the name when there is none), trimmed and lower-cased, and a
/// background colour picked by its first two hex digits (Quay takes ceil(log16(colour count))).
struct Avatar: Encodable, Equatable, Sendable {
    let name: String
    let hash: String
    let color: String
    let kind: String

    static let colors = [
        "#969696", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
        "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
        "#bcbd22", "#1f77b4", "#17becf", "#9edae5", "#393b79", "#5254a3", "#6b6ecf", "#9c9ede",
        "#9ecae1", "#31a354", "#b5cf6b", "#a1d99b", "#8c6d31", "#ad494a", "#e7ba52", "#a55194",
    ]

    init(name: String, emailOrID: String?, kind: String) {
        let source = (emailOrID?.isEmpty == false ? emailOrID! : name).trimmingCharacters(in: .whitespaces).lowercased()
        let hash = SHA256.hash(data: Data(source.utf8)).hexString
        let index = Int(hash.prefix(2), radix: 16) ?? 0
        self.name = name
        self.hash = hash
        self.color = Self.colors[index % Self.colors.count]
        self.kind = kind
    }

    /// A user or robot account (Quay keys users by e-mail).
    static func user(_ account: Namespace) -> Avatar {
        Avatar(name: account.name, emailOrID: account.kind == .robot ? nil : account.email, kind: account.kind == .robot ? "robot" : "user")
    }

    static func account(_ a: OrgAccount) -> Avatar {
        Avatar(name: a.name, emailOrID: a.email, kind: a.isRobot ? "robot" : "user")
    }

    static func team(_ name: String) -> Avatar { Avatar(name: name, emailOrID: name, kind: "team") }

    /// Quay renders an organization's avatar as a user's (`get_data_for_user`).
    static func organization(_ name: String, email: String?) -> Avatar { Avatar(name: name, emailOrID: email, kind: "user") }
}
