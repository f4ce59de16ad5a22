// The unprivileged account rootless builds run as. The worker (root) prepares each build's work
// directory as root, hands it to this user, and starts the builder through `setpriv` with this
// user's ids; buildah then maps the user's subordinate id range into each RUN step's user
// namespace, so a step's "root" is an unprivileged id on the host.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct BuildUser: Sendable, Equatable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    /// Where rootless work directories and base-image storages live (owned by the user).
    public let home: String

    public init(name: String, uid: uid_t, gid: gid_t, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }

    /// The account named `name` from the password database, if it exists.
    public static func lookup(_ name: String) -> BuildUser? {
        guard let entry = getpwnam(name) else { return nil }
        return BuildUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, home: String(cString: entry.pointee.pw_dir))
    }

    /// Gives `path` (and, with `recursive`, everything below it, links themselves not followed)
    /// to this user. Blocking.
    public func take(_ path: String, recursive: Bool = false) throws {
        guard lchown(path, uid, gid) == 0 else { throw BuildUserError("cannot give \(path) to \(name): \(String(cString: strerror(errno)))") }
        guard recursive else { return }
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return }
        for case let relative as String in enumerator {
            let child = path + "/" + relative
            guard lchown(child, uid, gid) == 0 else { throw BuildUserError("cannot give \(child) to \(name): \(String(cString: strerror(errno)))") }
        }
    }

    /// Prefix that runs a command with this user's ids and no supplementary groups
    /// (`setpriv` of util-linux; capabilities go with the uid change).
    var setprivPrefix: [String] {
        ["setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"]
    }
}

public struct BuildUserError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
