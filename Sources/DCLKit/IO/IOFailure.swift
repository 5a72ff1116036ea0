#if canImport(Glibc)
import Glibc
#endif

/// Why reading or writing a file failed.
public enum IOFailure: Error, CustomStringConvertible {
    /// The operating system refused (missing file, permissions, full disk, ...).
    case io(String)
    /// The file was read but its contents are not what was expected.
    case format(String)

    /// The message, without the case name.
    public var description: String {
        switch self {
        case .io(let message), .format(let message): return message
        }
    }
}

/// The text of the current `errno`.
func errnoText() -> String {
    guard let s = strerror(errno) else { return "error \(errno)" }
    return String(cString: s)
}
