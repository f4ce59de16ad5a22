import Foundation
import Registry
import SlipwayCore
import Testing

/// `EventValue` decodes every JSON shape into the case it had before the decoder was reordered
/// for speed: lists of strings stay `.strings`, mixed lists are `.array`, numbers are `.int`.
@Suite("EventValue JSON")
struct EventValueTests {
    @Test func everyShapeDecodes() throws {
        let text = """
            {"s": "x", "i": 42, "neg": -7, "d": 2.9, "t": true, "f": false, "n": null, "tags": ["a", "b"], "empty": [],
             "mixed": ["a", 1, {"k": "v"}], "nested": {"deep": {"list": [["x"], []]}}, "unicode": "h\\u00e9 \\"q\\""}
            """
        let value = try #require(EventValue.parse(text))
        #expect(value["s"] == .string("x"))
        #expect(value["i"] == .int(42) && value["neg"] == .int(-7) && value["d"] == .int(2))
        #expect(value["t"] == .bool(true) && value["f"] == .bool(false) && value["n"] == .null)
        #expect(value["tags"] == .strings(["a", "b"]) && value["empty"] == .strings([]))
        #expect(value["mixed"] == .array([.string("a"), .int(1), .object(["k": .string("v")])]))
        #expect(value["nested"]?["deep"]?["list"] == .array([.strings(["x"]), .strings([])]))
        #expect(value["unicode"] == .string("hé \"q\""))
        #expect(EventValue.parse("[1, 2]") == .array([.int(1), .int(2)]))
        #expect(EventValue.parse("\"top\"") == .string("top"))
        #expect(EventValue.parse("{not json") == nil)
        // Encoding and decoding again gives the same value.
        let again = try JSONDecoder().decode(EventValue.self, from: try JSONEncoder().encode(value))
        #expect(again == value)
    }

    /// Found by schemathesis: a number beyond Int64 in any JSON body decoded as an EventValue
    /// (notification config, webhook payloads) trapped and killed the server. It is now a
    /// decoding error, which the APIs answer with 400.
    @Test func numbersBeyondInt64AreInvalidNotFatal() throws {
        for text in ["1e300", "-1e300", "-3794251015403913035504871800832", "[1, 9223372036854775808.5]", #"{"k": {"n": 1e19}}"#] {
            #expect(EventValue.parse(text) == nil, "\(text)")
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(EventValue.self, from: Data(text.utf8)) }
        }
        #expect(EventValue.parse("-1.9") == .int(-1))
        #expect(EventValue.parse("9007199254740992.0") == .int(9_007_199_254_740_992))
    }
}
