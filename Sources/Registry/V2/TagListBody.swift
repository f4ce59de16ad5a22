import NIOCore
import Synchronization

/// The body of `GET /v2/<name>/tags/list`, written as the tag names arrive from the database:
/// `{"name":"<name>","tags":["a","b"]}` (the keys in the order a sorted-keys encoder gives).
/// A list of 100,000 tags goes straight from rows to response bytes, with no array of names
/// and no encoder in between.
final class TagListBody: Sendable {
    private struct State {
        var buffer: ByteBuffer
        var count = 0
        var last: String?
    }
    private let state: Mutex<State>

    init(name: String) {
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        buffer.writeStaticString(#"{"name":"#)
        Self.writeJSONString(name, to: &buffer)
        buffer.writeStaticString(#","tags":["#)
        state = Mutex(State(buffer: buffer))
    }

    func append(_ tag: String) {
        state.withLock { state in
            if state.count > 0 { state.buffer.writeInteger(UInt8(ascii: ",")) }
            Self.writeJSONString(tag, to: &state.buffer)
            state.count += 1
            state.last = tag
        }
    }

    /// The finished body, how many tags it lists and the last of them (for the `Link` header).
    func finish() -> (body: ByteBuffer, count: Int, last: String?) {
        state.withLock { state in
            var buffer = state.buffer
            buffer.writeStaticString("]}")
            return (buffer, state.count, state.last)
        }
    }

    /// A JSON string literal. Tag and repository names are validated to a plain character set,
    /// so the loop only ever copies; escaping is kept so the body is valid JSON whatever it gets.
    static func writeJSONString(_ string: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        let plain = string.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        if plain {
            buffer.writeString(string)
        } else {
            for byte in string.utf8 {
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
                case UInt8(ascii: "\n"): buffer.writeStaticString(#"\n"#)
                case UInt8(ascii: "\r"): buffer.writeStaticString(#"\r"#)
                case UInt8(ascii: "\t"): buffer.writeStaticString(#"\t"#)
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    buffer.writeStaticString(#"\u00"#)
                    buffer.writeInteger(hex[Int(byte >> 4)])
                    buffer.writeInteger(hex[Int(byte & 0xF)])
                default: buffer.writeInteger(byte)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
