import SQLKit

/// Typed column reads in the conventions every store follows: ids and times are 64-bit
/// integers, booleans are 0/1 integers.
extension SQLRow {
    public func int64(_ column: String) throws -> Int64 { try decode(column: column, as: Int64.self) }
    public func optionalInt64(_ column: String) throws -> Int64? { try decode(column: column, as: Int64?.self) }
    public func string(_ column: String) throws -> String { try decode(column: column, as: String.self) }
    public func optionalString(_ column: String) throws -> String? { try decode(column: column, as: String?.self) }
    public func bool(_ column: String) throws -> Bool { try decode(column: column, as: Int.self) != 0 }
}
