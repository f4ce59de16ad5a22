import Foundation

/// JSON values in event payloads (and anything else that carries free-form JSON, such as a
/// build's `trigger_metadata`).
public enum EventValue: Sendable, Codable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case strings([String])
    case array([EventValue])
    case object([String: EventValue])
    case null

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .strings(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }

    /// Tries the shapes in the order payloads use them (strings, then objects, then arrays):
    /// every wrong guess is a thrown `DecodingError`, which is what made decoding slow.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let v = try? c.decode(String.self) { self = .string(v); return }
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var object: [String: EventValue] = [:]
            for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(EventValue.self, forKey: key) }
            self = .object(object)
            return
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var elements: [EventValue] = []
            while !unkeyed.isAtEnd { elements.append(try unkeyed.decode(EventValue.self)) }
            // A list of strings (or an empty list) stays `.strings`, as tags and digests are.
            let strings = elements.compactMap(\.stringValue)
            self = strings.count == elements.count ? .strings(strings) : .array(elements)
            return
        }
        if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .int(v) }
        else { self = .int(try Self.truncated(c.decode(Double.self), c)) }
    }

    /// A fractional number keeps its integer part; one beyond Int64 is invalid input (converting
    /// it would trap and take the whole server down with one request body such as `1e300`).
    private static func truncated(_ value: Double, _ c: any SingleValueDecodingContainer) throws -> Int64 {
        guard let v = Int64(exactly: value.rounded(.towardZero)) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "number out of range")
        }
        return v
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The string, when this is one.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The member `key`, when this is an object that has it.
    public subscript(key: String) -> EventValue? { if case .object(let o) = self { return o[key] } else { return nil } }

    /// Parses a JSON document (nil when it is not valid JSON).
    public static func parse(_ text: String) -> EventValue? {
        try? JSONDecoder().decode(EventValue.self, from: Data(text.utf8))
    }
}
