import Crypto
import Foundation
import Registry
import Synchronization

/// The credential in a file drop's upload URL. `POST /api/v1/filedrop/` answers with
/// `<origin>/userfiles/<file_id>/<upload key>`, the key being HMAC-SHA256(instance key,
/// "filedrop-upload:<file_id>:<creator id>") in hex. The file id alone does not allow an upload:
/// it is not a secret (writers of a repository see it as a build's `resource_key`). The HMAC key
/// is generated once per installation and shared by replicas through `instance_keys`.
final class FileDropUploadKeys: Sendable {
    static let keyName = "filedrop-upload-hmac"
    private let store: MetadataStore
    private let cached = Mutex<SymmetricKey?>(nil)

    init(store: MetadataStore) {
        self.store = store
    }

    private func key() async throws -> SymmetricKey {
        if let key = cached.withLock({ $0 }) { return key }
        let generated = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let stored = try await store.storeInstanceKeyIfAbsent(name: Self.keyName, value: generated)
        guard let bytes = Data(base64Encoded: stored), bytes.count == 32 else { throw KeyInvalid() }
        let key = SymmetricKey(data: bytes)
        cached.withLock { $0 = key }
        return key
    }

    struct KeyInvalid: Error {}

    private static func message(fileID: String, userID: Int64) -> Data { Data("filedrop-upload:\(fileID):\(userID)".utf8) }

    func uploadKey(fileID: String, userID: Int64) async throws -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(fileID: fileID, userID: userID), using: try await key())
        return Data(mac).map { String(format: "%02x", $0) }.joined()
    }

    /// True when `candidate` is the upload key of the drop `fileID` created by `userID`
    /// (compared in constant time).
    func verify(_ candidate: String, fileID: String, userID: Int64) async throws -> Bool {
        guard candidate.utf8.count == 64, let mac = Self.hexBytes(candidate) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.message(fileID: fileID, userID: userID), using: try await key())
    }

    private static func hexBytes(_ text: String) -> Data? {
        var bytes = Data(capacity: text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let value: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = c - UInt8(ascii: "a") + 10
            default: return nil  // one spelling per key: lower-case hex only
            }
            if let h = high {
                bytes.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return high == nil ? bytes : nil
    }
}
