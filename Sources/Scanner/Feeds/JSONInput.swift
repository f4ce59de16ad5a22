// Decoding a feed file's JSON once, with the file named in the error.

import Foundation

enum JSONInput {
    static func object(_ data: [UInt8], file: String) throws(FeedError) -> Any {
        do {
            return try JSONSerialization.jsonObject(with: Data(data), options: [])
        } catch {
            throw FeedError(file: file, message: "not valid JSON (\(String(describing: error).prefix(200)))")
        }
    }
}
