// rpm's SQLite database (`rpmdb.sqlite`, RHEL 9, Fedora 33+, SUSE): the installed packages are
// the header blobs of its `Packages` table. The database comes out of an image, so it is
// hostile input: it is opened read-only and immutable (no journal, WAL or locks; nothing is
// ever written next to it), with the schema's functions untrusted and cell sizes checked, and
// only a plain table named `Packages` is read. SQLite is the copy sqlite-nio bundles (its C
// API, called synchronously: the indexer runs off the cooperative pool).
//
// Berkeley DB and ndb databases (RHEL 8 and older, SUSE before 15 SP3) are reported as
// unsupported by `MetadataFileKind`.

import Foundation
import VaporCSQLite

public enum RPMDatabase {
    /// Why a database could not be read (reported per layer as the file's `unsupported`).
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The packages of the database in the file at `file`; `path` is where it sits in the image.
    public static func packages(file: String, path: String) throws(Failure) -> [IndexedPackage] {
        var handle: OpaquePointer?
        let uri = "file:" + (file.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? file) + "?immutable=1"
        let opened = sqlite_nio_sqlite3_open_v2(uri, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nil)
        defer { sqlite_nio_sqlite3_close_v2(handle) }
        guard opened == SQLITE_OK, let handle else { throw Failure(message: "not an SQLite database (\(errorMessage(handle)))") }
        for pragma in ["PRAGMA trusted_schema = OFF", "PRAGMA cell_size_check = ON", "PRAGMA query_only = ON"] {
            _ = sqlite_nio_sqlite3_exec(handle, pragma, nil, nil, nil)
        }
        let kind = try rows(handle, "SELECT type FROM sqlite_master WHERE name = 'Packages'") { statement in
            text(statement, 0)
        }
        guard kind.first == "table" else { throw Failure(message: "not an rpm database (no Packages table)") }
        var packages: [IndexedPackage] = []
        var damaged = 0
        _ = try rows(handle, "SELECT blob FROM Packages") { statement -> Void in
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, 0))
            guard count > 0, let bytes = sqlite_nio_sqlite3_column_blob(statement, 0) else { damaged += 1; return }
            let blob = [UInt8](UnsafeRawBufferPointer(start: bytes, count: count))
            guard let header = RPMHeader(blob), let name = header.string(.name), !name.isEmpty, let evr = header.evr else {
                damaged += 1
                return
            }
            // gpg-pubkey entries are the keys rpm trusts, not software.
            guard name != "gpg-pubkey" else { return }
            packages.append(IndexedPackage(namespace: .unboundDistribution(.rpm), name: name, version: evr, path: path))
        }
        if packages.isEmpty && damaged > 0 { throw Failure(message: "no readable package headers (\(damaged) damaged)") }
        return packages
    }

    /// `packages(file:path:)` over bytes already in memory, through a private temporary file.
    public static func packages(bytes: [UInt8], path: String) throws(Failure) -> [IndexedPackage] {
        let file: TemporaryFile
        do throws(TemporaryFile.Failure) { file = try TemporaryFile(prefix: "slipway-rpmdb") } catch { throw Failure(message: error.description) }
        defer { file.remove() }
        do throws(TemporaryFile.Failure) { try file.write(bytes) } catch { throw Failure(message: error.description) }
        return try packages(file: file.path, path: path)
    }

    /// Steps `sql` and maps each row.
    private static func rows<T>(_ handle: OpaquePointer, _ sql: String, _ row: (OpaquePointer) -> T) throws(Failure) -> [T] {
        var statement: OpaquePointer?
        guard sqlite_nio_sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(message: "the database cannot be read (\(errorMessage(handle)))")
        }
        defer { sqlite_nio_sqlite3_finalize(statement) }
        var result: [T] = []
        while true {
            switch sqlite_nio_sqlite3_step(statement) {
            case SQLITE_ROW: result.append(row(statement))
            case SQLITE_DONE: return result
            default: throw Failure(message: "the database is damaged (\(errorMessage(handle)))")
            }
        }
    }

    private static func text(_ statement: OpaquePointer, _ column: Int32) -> String? {
        sqlite_nio_sqlite3_column_text(statement, column).map { String(cString: $0) }
    }

    private static func errorMessage(_ handle: OpaquePointer?) -> String {
        handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "out of memory"
    }
}
