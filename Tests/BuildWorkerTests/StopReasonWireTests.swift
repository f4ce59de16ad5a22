import BuildProtocol
import Foundation
import Testing

/// Stop reasons travel as the strings of the first protocol version, so workers and
/// orchestrators of different versions keep understanding each other.
@Suite("Stop reasons on the worker wire")
struct StopReasonWireTests {
    static func decode(_ json: String) throws -> HeartbeatResponse {
        try JSONDecoder().decode(HeartbeatResponse.self, from: Data(json.utf8))
    }

    @Test func knownReasonsDecodeFromTheirStrings() throws {
        #expect(try Self.decode(#"{"stop":"cancelled"}"#).stop == .cancelled)
        #expect(try Self.decode(#"{"stop":"timed out"}"#).stop == .timedOut)
        #expect(try Self.decode(#"{"held":true}"#).stop == nil)
    }

    @Test func anUnknownReasonStillStopsTheBuild() throws {
        #expect(try Self.decode(#"{"stop":"node drained"}"#).stop == .other("node drained"))
    }

    @Test func reasonsEncodeAsTheirStrings() throws {
        for (reason, text) in [(StopReason.cancelled, "cancelled"), (.timedOut, "timed out"), (.other("x"), "x")] {
            let json = String(decoding: try JSONEncoder().encode(HeartbeatResponse(stop: reason)), as: UTF8.self)
            #expect(json.contains(#""stop":"\#(text)""#), "\(json)")
        }
    }
}
