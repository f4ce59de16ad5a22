// Whether this process may mount overlayfs where the cache lives (issue #20, "storage driver"):
// overlay gives a build container its base layers without copying them, vfs copies every layer
// into every container. Running as root on a kernel with overlayfs (and a file system overlay
// accepts as upper layer) it works; unprivileged, or inside a container without the capability,
// it does not, and the cache falls back to vfs.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum OverlayProbe {
    /// nil when an overlay mount under `directory` works, else why not.
    static func failure(in directory: URL) -> String? {
        let probe = directory.appendingPathComponent("overlay-probe-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: probe) }
        let paths = ["lower", "upper", "work", "merged"].map { probe.appendingPathComponent($0).path }
        do {
            for path in paths { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        } catch {
            return "cannot create the probe directories: \(error.localizedDescription)"
        }
        let options = "lowerdir=\(paths[0]),upperdir=\(paths[1]),workdir=\(paths[2])"
        guard mount("overlay", paths[3], "overlay", 0, options) == 0 else {
            return "mount: \(String(cString: strerror(errno)))"
        }
        _ = umount2(paths[3], Int32(MNT_DETACH))
        return nil
    }
}
