#if canImport(Glibc)
import Glibc
#endif

/// A file-system path as the bytes the operating system sees, so a name that is not valid
/// UTF-8 reaches `open` unchanged (a Swift `String` would replace such bytes).
///
/// A NUL byte cannot be part of a path: `withCString` refuses one (it would silently cut the
/// path short), so every system call on a `FilePath` sees exactly the path it was given.
public struct FilePath: CustomStringConvertible, Equatable {
    /// The path's bytes, without a terminating NUL.
    public let bytes: [UInt8]

    /// The UTF-8 bytes of `path`.
    public init(_ path: String) { bytes = Array(path.utf8) }

    /// The bytes of a NUL-terminated C string, as they are.
    public init(cString: UnsafePointer<CChar>) {
        bytes = Array(UnsafeRawBufferPointer(start: cString, count: strlen(cString)))
    }

    /// The path for messages (bytes that are not UTF-8 shown as U+FFFD).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// The path of the file called `name` in the same folder (the bare `name` when the path
    /// has no folder part).
    public func sibling(_ name: [UInt8]) -> FilePath {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return FilePath(bytes: name) }
        return FilePath(bytes: Array(bytes[...slash]) + name)
    }

    /// The folder holding the path's last component ("." for a bare name).
    public var folder: FilePath {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return FilePath(".") }
        return slash == 0 ? FilePath("/") : FilePath(bytes: Array(bytes[..<slash]))
    }

    /// The last component.
    public var lastComponent: FilePath {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return self }
        return FilePath(bytes: Array(bytes[(slash + 1)...]))
    }

    /// Runs `body` with the path as a NUL-terminated C string; throws `IOFailure.io` when the
    /// path is empty or holds a NUL byte.
    public func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) throws -> T {
        guard !bytes.isEmpty else { throw IOFailure.io("the path is empty") }
        guard !bytes.contains(0) else { throw IOFailure.io("the path \"\(self)\" contains a NUL byte") }
        let terminated = bytes.map { CChar(bitPattern: $0) } + [0]
        return try terminated.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }
}
