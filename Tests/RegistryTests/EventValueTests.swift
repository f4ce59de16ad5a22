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
}
