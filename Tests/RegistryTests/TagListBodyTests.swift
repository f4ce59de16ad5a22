import Foundation
import NIOCore
@testable import Registry
import Testing

/// The tag list body is written by hand as rows arrive; it must be exactly what the JSON encoder
/// wrote before (clients compare bodies, some byte for byte) and valid JSON for any text.
@Suite("Tag list body")
struct TagListBodyTests {
    struct TagList: Encodable { let name: String; let tags: [String] }

    static func encoded(_ list: TagList) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(list), as: UTF8.self)
    }

    static func written(name: String, tags: [String]) -> (String, Int, String?) {
        let body = TagListBody(name: name)
        tags.forEach(body.append)
        let (buffer, count, last) = body.finish()
        return (String(buffer: buffer), count, last)
    }

    @Test(arguments: [[], ["latest"], ["1.0", "1.1", "latest", "v2_beta-3"]])
    func sameBytesAsTheEncoder(tags: [String]) {
        let (text, count, last) = Self.written(name: "org/team/app", tags: tags)
        #expect(text == Self.encoded(TagList(name: "org/team/app", tags: tags)))
        #expect(count == tags.count && last == tags.last)
    }

    @Test func anyTextStaysValidJSON() throws {
        let odd = ["quote\"d", "back\\slash", "line\nbreak", "tab\t", "bell\u{7}", "ünïcode", ""]
        let (text, _, _) = Self.written(name: "a\"b", tags: odd)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["name"] as? String == "a\"b")
        #expect(parsed["tags"] as? [String] == odd)
    }
}
