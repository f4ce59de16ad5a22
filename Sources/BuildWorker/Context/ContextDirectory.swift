// The destination of an extraction. Every entry is created relative to a directory descriptor,
// walking one component at a time with O_NOFOLLOW, so nothing is ever written through a symbolic
// link, whatever earlier entries created: a path check on strings alone cannot promise that.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the descriptor of a fresh, empty directory and creates entries inside it.
/// Not thread-safe: one blocking extraction uses it at a time.
final class ContextDirectory {
    let path: String
    private var rootFD: Int32
    private let createdDirectory: Bool
    /// The parent directory of the last entry: tar archives list siblings together, so most
    /// entries reuse it instead of walking from the root again. Directories are never removed or
    /// replaced during an extraction, so a cached descriptor cannot go stale.
    private var cachedParent: (components: ArraySlice<String>, fd: Int32)?

    /// Opens `path` as the destination. It must not exist (it is created, with its parents) or be
    /// an empty directory; extracting over existing files would make "delete what was extracted"
    /// impossible to do safely.
    init(preparing path: String) throws(BuildContextError) {
        self.path = path
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw BuildContextError(.destinationNotEmpty, "the extraction directory '\(path)' exists and is not a directory")
            }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? ["?"]
            guard contents.isEmpty else {
                throw BuildContextError(.destinationNotEmpty, "the extraction directory '\(path)' is not empty")
            }
            createdDirectory = false
        } else {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty {
                try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            guard mkdir(path, 0o700) == 0 else {
                throw .system("create the extraction directory '\(path)'", entry: nil, errno: errno)
            }
            createdDirectory = true
        }
        rootFD = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else {
            let code = errno
            if createdDirectory { rmdir(path) }
            throw .system("open the extraction directory '\(path)'", entry: nil, errno: code)
        }
        _ = fchmod(rootFD, 0o755)
    }

    deinit {
        closeDescriptors()
    }

    private func closeDescriptors() {
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = nil
        if rootFD >= 0 { close(rootFD) }
        rootFD = -1
    }

    // MARK: - Creating entries

    func createDirectory(_ path: ArchivePath, mode: mode_t, entry: String) throws(BuildContextError) {
        guard let name = path.name else { return }
        let parent = try parentDescriptor(of: path, entry: entry)
        if mkdirat(parent, name, 0o700) != 0 {
            let code = errno
            guard code == EEXIST else { throw .system("create a directory", entry: entry, errno: code) }
            guard fileType(at: parent, name) == S_IFDIR else {
                throw .entry(entry, .unsafeEntryLocation,
                             "is a directory, but an earlier entry created '\(path)' as something else")
            }
        }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .system("open a directory", entry: entry, errno: errno) }
        defer { close(fd) }
        guard fchmod(fd, mode) == 0 else { throw .system("set permissions", entry: entry, errno: errno) }
    }

    /// Creates a regular file and returns its descriptor, open for writing; the caller closes it.
    func createFile(_ path: ArchivePath, entry: String) throws(BuildContextError) -> Int32 {
        guard let name = path.name else {
            throw .entry(entry, .unsafeEntryLocation, "is a file named like the build context root")
        }
        let parent = try parentDescriptor(of: path, entry: entry)
        try clearSlot(parent, name, path: path, entry: entry)
        let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("create a file", entry: entry, errno: errno) }
        return fd
    }

    func createSymlink(_ path: ArchivePath, target: String, entry: String) throws(BuildContextError) {
        guard let name = path.name else {
            throw .entry(entry, .unsafeEntryLocation, "is a symbolic link named like the build context root")
        }
        let parent = try parentDescriptor(of: path, entry: entry)
        try clearSlot(parent, name, path: path, entry: entry)
        guard symlinkat(target, parent, name) == 0 else {
            throw .system("create a symbolic link", entry: entry, errno: errno)
        }
    }

    /// Hard links may only point at regular files that earlier entries created: everything in this
    /// directory was created by this extraction, and the lookup of the target never follows links.
    func createHardLink(_ path: ArchivePath, to target: ArchivePath, entry: String, targetName rawTarget: String) throws(BuildContextError) {
        let notExtracted = BuildContextError.entry(
            entry, .linkEscapesContext,
            "is a hard link to '\(displayName(rawTarget))', which is not a regular file extracted earlier from the archive")
        guard let name = path.name, let targetName = target.name, target != path else { throw notExtracted }
        let targetParent: Int32
        do {
            targetParent = try openDirectory(target.parentComponents, from: rootFD, creating: false)
        } catch {
            throw notExtracted
        }
        defer { close(targetParent) }
        guard fileType(at: targetParent, targetName) == S_IFREG else { throw notExtracted }

        let parent = try parentDescriptor(of: path, entry: entry)
        try clearSlot(parent, name, path: path, entry: entry)
        guard linkat(targetParent, targetName, parent, name, 0) == 0 else {
            throw .system("create a hard link", entry: entry, errno: errno)
        }
    }

    /// Whether `path` names a regular file. Follows links: by the time this is asked, every link in
    /// the directory has been checked to resolve inside it.
    func isRegularFile(_ path: ArchivePath) -> Bool {
        var info = stat()
        guard fstatat(rootFD, path.description, &info, 0) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG
    }

    // MARK: - Removing everything

    /// Deletes whatever was extracted (and the directory itself if this extraction created it).
    /// Walks with descriptors and never follows a link, holding at most two descriptors however
    /// deep the tree is, so an archive cannot make its own cleanup run out of descriptors.
    func discard() {
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = nil
        if rootFD >= 0 {
            Self.removeContents(of: rootFD)
            close(rootFD)
            rootFD = -1
        }
        if createdDirectory { rmdir(path) }
    }

    private static func removeContents(of root: Int32) {
        var current = dup(root)
        guard current >= 0 else { return }
        var pending: [[String]] = [listNames(current)]
        var descended: [String] = []
        while !pending.isEmpty {
            if let name = pending[pending.count - 1].popLast() {
                var info = stat()
                guard fstatat(current, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                if (info.st_mode & S_IFMT) == S_IFDIR {
                    _ = fchmodat(current, name, 0o700, 0)
                    let child = openat(current, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard child >= 0 else { continue }
                    close(current)
                    current = child
                    pending.append(listNames(current))
                    descended.append(name)
                } else {
                    unlinkat(current, name, 0)
                }
            } else {
                pending.removeLast()
                guard let name = descended.popLast() else { break }
                // `..` of a directory reached without following links is its real parent.
                let parent = openat(current, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                close(current)
                guard parent >= 0 else { return }
                current = parent
                unlinkat(current, name, AT_REMOVEDIR)
            }
        }
        close(current)
    }

    private static func listNames(_ fd: Int32) -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let directory = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return []
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    // MARK: - Walking

    private enum WalkFailure: Error {
        case missing
        case throughSymlink(prefix: String)
        case notDirectory(prefix: String)
        case system(Int32)
    }

    /// The (cached) descriptor of `path`'s parent directory, creating missing directories.
    /// Borrowed: valid until the next call; do not close it.
    private func parentDescriptor(of path: ArchivePath, entry: String) throws(BuildContextError) -> Int32 {
        let wanted = path.parentComponents
        if wanted.isEmpty { return rootFD }
        if let cachedParent, cachedParent.components == wanted { return cachedParent.fd }

        // Continue from the cached directory when it is an ancestor of the wanted one.
        var start = rootFD
        var startPath: [String] = []
        var remaining = wanted[...]
        if let cachedParent, cachedParent.components.count < wanted.count,
           wanted.prefix(cachedParent.components.count).elementsEqual(cachedParent.components) {
            start = cachedParent.fd
            startPath = Array(cachedParent.components)
            remaining = wanted.dropFirst(cachedParent.components.count)
        }
        let fd: Int32
        do {
            fd = try openDirectory(remaining, from: start, startPath: startPath, creating: true)
        } catch {
            switch error {
            case .throughSymlink(let prefix):
                throw .entry(entry, .unsafeEntryLocation,
                             "would be written through the symbolic link '\(displayName(prefix))'; entries may not be placed inside a linked directory")
            case .notDirectory(let prefix):
                throw .entry(entry, .unsafeEntryLocation,
                             "cannot be created because '\(displayName(prefix))' is not a directory")
            case .missing:
                throw .system("create its parent directory", entry: entry, errno: ENOENT)
            case .system(let code):
                throw .system("create its parent directory", entry: entry, errno: code)
            }
        }
        if let cachedParent { close(cachedParent.fd) }
        cachedParent = (Array(wanted)[...], fd)
        return fd
    }

    /// Opens `components` below `start` (the directory at `startPath`) one at a time with
    /// O_NOFOLLOW. Returns an owned descriptor; `start` itself is never closed.
    private func openDirectory(_ components: ArraySlice<String>, from start: Int32, startPath: [String] = [],
                               creating: Bool) throws(WalkFailure) -> Int32 {
        var current = dup(start)
        guard current >= 0 else { throw .system(errno) }
        var walked = startPath
        for component in components {
            walked.append(component)
            var next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, creating {
                if mkdirat(current, component, 0o700) == 0 || errno == EEXIST {
                    next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    if next >= 0 { _ = fchmod(next, 0o755) }
                }
            }
            if next < 0 {
                let code = errno
                let type = fileType(at: current, component)
                close(current)
                let prefix = walked.joined(separator: "/")
                if type == S_IFLNK { throw .throughSymlink(prefix: prefix) }
                if type == nil, code == ENOENT { throw .missing }
                if type != nil, type != S_IFDIR { throw .notDirectory(prefix: prefix) }
                throw .system(code)
            }
            close(current)
            current = next
        }
        return current
    }

    /// Makes room for a non-directory entry: a later entry with the same name replaces an earlier
    /// file or link (as tar does), but never a directory.
    private func clearSlot(_ parent: Int32, _ name: String, path: ArchivePath, entry: String) throws(BuildContextError) {
        guard let type = fileType(at: parent, name) else { return }
        if type == S_IFDIR {
            throw .entry(entry, .unsafeEntryLocation,
                         "would replace the directory '\(path)' created by an earlier entry")
        }
        guard unlinkat(parent, name, 0) == 0 else {
            throw .system("replace an earlier entry", entry: entry, errno: errno)
        }
    }

    private func fileType(at directory: Int32, _ name: String) -> mode_t? {
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }
}

/// An archive name made safe to print in a build log: control characters escaped, length capped.
func displayName(_ raw: String) -> String {
    var result = ""
    for scalar in raw.unicodeScalars {
        if result.unicodeScalars.count >= 256 {
            result += "…"
            break
        }
        if scalar.value < 0x20 || scalar.value == 0x7f {
            result += scalar.escaped(asASCII: true)
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}
