// File-system chores of the base-image cache: how much disk a storage takes, and removing one
// even when a killed build left an overlay mounted inside it.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum CacheDirectory {
    /// Allocated bytes under `path`, not following links and not crossing into other file
    /// systems (a running build's overlay mount would count its lower layers twice).
    static func diskUsage(_ path: String) -> Int64 {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return usage(path, device: info.st_dev, info: info)
    }

    private static func usage(_ path: String, device: dev_t, info: stat) -> Int64 {
        var total = Int64(info.st_blocks) * 512
        guard (info.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) else { return total }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var childInfo = stat()
            guard lstat(child, &childInfo) == 0, childInfo.st_dev == device else { continue }
            total += usage(child, device: device, info: childInfo)
        }
        return total
    }

    /// Unmounts whatever is mounted below `directory` (deepest first), then deletes it.
    static func remove(_ directory: URL) {
        let prefix = directory.standardizedFileURL.path + "/"
        for mountPoint in mountPoints().filter({ $0.hasPrefix(prefix) }).sorted(by: { $0.count > $1.count }) {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Mount points of this process's mount namespace (field 5 of /proc/self/mountinfo, with
    /// its octal escapes decoded).
    static func mountPoints() -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            return unescape(String(fields[4]))
        }
    }

    private static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.first {
            if byte == UInt8(ascii: "\\"), utf8.count >= 4, let value = UInt8(String(decoding: utf8.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(byte)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
