#if canImport(Glibc)
import Glibc
#endif

/// Status codes returned by every exported function (mirrored in dclkit.h).
enum Status: Int32 {
    case ok = 0
    /// An argument has a wrong value, shape or size.
    case invalidArgument = 1
    /// An argument has a wrong type (for example a dtype code the function does not take).
    case typeError = 2
    /// A file could not be read or written.
    case ioError = 3
    /// A file was read but its contents are not what the function expects.
    case formatError = 4
    /// The handle is in a state that does not allow the call (for example backward before forward).
    case stateError = 5
    /// Memory for the call could not be allocated (or the request exceeds the machine's memory).
    case memoryError = 6
    /// A collective across ranks failed (MPI reported an error, a peer is gone).
    case communicationError = 7
}

/// The error an exported function turns into a status code and a message.
struct ABIError: Error {
    let status: Status
    let message: String

    static func invalid(_ message: String) -> ABIError { ABIError(status: .invalidArgument, message: message) }
    static func type(_ message: String) -> ABIError { ABIError(status: .typeError, message: message) }
    static func io(_ message: String) -> ABIError { ABIError(status: .ioError, message: message) }
    static func format(_ message: String) -> ABIError { ABIError(status: .formatError, message: message) }
    static func state(_ message: String) -> ABIError { ABIError(status: .stateError, message: message) }
    static func memory(_ message: String) -> ABIError { ABIError(status: .memoryError, message: message) }
    static func communication(_ message: String) -> ABIError { ABIError(status: .communicationError, message: message) }
}

/// The last error message of the calling thread, as a C string owned by the library.
enum LastError {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { free($0) }
        return k
    }()

    /// Replaces the calling thread's message (nil clears it).
    static func set(_ message: String?) {
        if let old = pthread_getspecific(key) { free(old) }
        guard let message else { pthread_setspecific(key, nil); return }
        pthread_setspecific(key, strdup(message))
    }

    /// The calling thread's message, or nil.
    static var pointer: UnsafePointer<CChar>? {
        pthread_getspecific(key).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
    }
}

/// Runs one exported call: clears the thread's error, maps a thrown error to its status
/// (`abiError`) and keeps its message. Every `@_cdecl` function body goes through here.
func exported(_ body: () throws -> Void) -> Int32 {
    LastError.set(nil)
    do {
        try body()
        return Status.ok.rawValue
    } catch {
        let failure = abiError(error)
        LastError.set(failure.message)
        return failure.status.rawValue
    }
}
