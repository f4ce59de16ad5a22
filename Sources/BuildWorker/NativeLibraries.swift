import CLibarchive
import CLibgit2

/// Versions of the native libraries the worker links, reported by `slipway --version`-style
/// diagnostics and checked by the tests so a broken system-library link fails loudly.
public enum NativeLibraries {
    public static func libgit2Version() -> String {
        var major: Int32 = 0, minor: Int32 = 0, rev: Int32 = 0
        git_libgit2_version(&major, &minor, &rev)
        return "\(major).\(minor).\(rev)"
    }

    public static func libarchiveVersion() -> String {
        String(cString: archive_version_string())
    }
}
