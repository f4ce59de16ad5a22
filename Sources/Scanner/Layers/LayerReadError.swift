// Why a layer could not be indexed. A manifest with such a layer gets the report status
// `failed` with this message; the scanner goes on with the next job.

public struct LayerReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
