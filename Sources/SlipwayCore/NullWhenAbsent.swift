/// An optional field that Quay's JSON always carries: `null` when there is no value. Synthesized
/// `Encodable` leaves an optional's key out when it is nil, which Quay clients do not expect
/// (`last_accessed`, a build's `error`, ...); wrapping the property keeps the synthesized
/// conformance and writes the key with `null`.
@propertyWrapper
public struct NullWhenAbsent<Value: Encodable & Sendable>: Encodable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}
