#if canImport(Glibc)
import Glibc
#endif

/// Replacing a file's contents atomically, safe against its surroundings.
///
/// The new contents are written to a file nobody else can have opened, flushed with fsync, and
/// renamed over the target; the folder is then synced so the rename survives a crash.
/// - First choice: an unnamed file in the target's folder (`O_TMPFILE`), given a name only
///   once it is complete (`linkat` to a fresh random name, then `rename`), so a process killed
///   while writing leaves nothing behind.
/// - Where the file system has no `O_TMPFILE` (or `/proc` is missing): a fresh name
///   `.<name>.tmp-<16 random hex digits>` created with `O_CREAT | O_EXCL | O_NOFOLLOW`, so an
///   existing file or a planted symlink is never opened, and two writers never share it.
/// Every failure removes the temporary; the target is then untouched. A symlink at the target
/// path itself is replaced by the new file, not written through. A target that is a device, a
/// FIFO, a socket or a folder is refused before anything is written: renaming over `/dev/null`
/// (which root may do) would replace the device node for every process of the machine.
enum AtomicFile {
    /// Writes `path` by calling `fill(descriptor, path)` on a fresh temporary; throws `IOFailure`.
    /// `unnamed: false` skips the first choice (for the tests of the fallback).
    static func write(to path: FilePath, unnamed: Bool = true, _ fill: (Int32, FilePath) throws -> Void) throws {
        try requireReplaceable(path)
        if unnamed, let fd = try? path.folder.withCString({ open($0, unnamedFlag | O_WRONLY | O_CLOEXEC, 0o644) }), fd >= 0 {
            if try complete(fd, path, fill) { return }
        }
        try writeNamed(path, fill)
    }

    /// Throws unless `path` is absent, a regular file or a symlink (which the rename replaces).
    private static func requireReplaceable(_ path: FilePath) throws {
        var info = stat()
        guard try path.withCString({ lstat($0, &info) }) == 0 else { return }  // absent: the rename creates it
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFLNK else {
            let what = kind == S_IFDIR ? "a folder" : "not a regular file (a device, FIFO or socket)"
            throw IOFailure.io("cannot write \(path): it is \(what)")
        }
    }

    /// `O_TMPFILE`, spelt out because the C macro does not import: `__O_TMPFILE | O_DIRECTORY`.
    private static let unnamedFlag: Int32 = 0o20000000 | O_DIRECTORY

    /// Fills, flushes and closes the unnamed file `fd`, then names and renames it; false (with
    /// nothing left behind) when the file cannot be given a name, so the caller falls back.
    private static func complete(_ fd: Int32, _ path: FilePath, _ fill: (Int32, FilePath) throws -> Void) throws -> Bool {
        var isOpen = true
        defer { if isOpen { close(fd) } }
        try fill(fd, path)
        guard fsync(fd) == 0 else { throw IOFailure.io("cannot flush \(path): \(errnoText())") }
        let source = FilePath("/proc/self/fd/\(fd)")
        var temporary: FilePath?
        for _ in 0..<16 {
            let candidate = temporaryName(for: path)
            let linked = try source.withCString { from in
                try candidate.withCString { to in linkat(AT_FDCWD, from, AT_FDCWD, to, 0x400 /* AT_SYMLINK_FOLLOW */) }
            }
            if linked == 0 { temporary = candidate; break }
            if errno != EEXIST { return false }
        }
        guard let temporary else { throw IOFailure.io("cannot find a free temporary name beside \(path)") }
        isOpen = false
        guard close(fd) == 0 else {
            _ = try? temporary.withCString { unlink($0) }
            throw IOFailure.io("cannot close \(temporary): \(errnoText())")
        }
        try rename(temporary, over: path)
        return true
    }

    /// The fallback: a fresh, exclusively created name beside `path`.
    private static func writeNamed(_ path: FilePath, _ fill: (Int32, FilePath) throws -> Void) throws {
        var fd: Int32 = -1
        var temporary = temporaryName(for: path)
        for _ in 0..<16 {
            fd = try temporary.withCString { open($0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644) }
            if fd >= 0 || errno != EEXIST { break }
            temporary = temporaryName(for: path)
        }
        guard fd >= 0 else { throw IOFailure.io("cannot create a temporary file beside \(path): \(errnoText())") }
        var isOpen = true
        var renamed = false
        defer {
            if isOpen { close(fd) }
            if !renamed { _ = try? temporary.withCString { unlink($0) } }
        }
        try fill(fd, temporary)
        guard fsync(fd) == 0 else { throw IOFailure.io("cannot flush \(temporary): \(errnoText())") }
        isOpen = false
        guard close(fd) == 0 else { throw IOFailure.io("cannot close \(temporary): \(errnoText())") }
        try rename(temporary, over: path)
        renamed = true
    }

    /// Renames `temporary` over `path` and syncs the folder; removes `temporary` on failure.
    private static func rename(_ temporary: FilePath, over path: FilePath) throws {
        let status = try temporary.withCString { from in try path.withCString { to in Glibc.rename(from, to) } }
        guard status == 0 else {
            let message = errnoText()
            _ = try? temporary.withCString { unlink($0) }
            throw IOFailure.io("cannot rename \(temporary) to \(path): \(message)")
        }
        syncFolder(of: path)
    }

    /// `.<last component>.tmp-<16 hex digits>` beside `path`, from the system's random source.
    private static func temporaryName(for path: FilePath) -> FilePath {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() as UInt64, radix: 16)
        let suffix = ".tmp-" + String(repeating: "0", count: 16 - hex.count) + hex
        return path.sibling([UInt8(ascii: ".")] + path.lastComponent.bytes + Array(suffix.utf8))
    }

    /// fsync of the folder holding `path`, so the rename itself survives a crash (best effort).
    private static func syncFolder(of path: FilePath) {
        guard let fd = try? path.folder.withCString({ open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }), fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
