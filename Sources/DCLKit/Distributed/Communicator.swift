/// The element types a collective moves: float32 (activations, gradients), float64 (batch
/// statistics), int64 (permutations, hashes, counts). Raw values are the codes of dclkit.h.
public enum CollectiveElement: Int32, Sendable {
    case float32 = 0
    case float64 = 1
    case int64 = 2

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64: return 8
        }
    }
}

/// A Swift scalar type that collectives can move.
public protocol CollectiveScalar {
    /// The collective element code of the type.
    static var collectiveElement: CollectiveElement { get }
}

extension Float: CollectiveScalar { public static var collectiveElement: CollectiveElement { .float32 } }
extension Double: CollectiveScalar { public static var collectiveElement: CollectiveElement { .float64 } }
extension Int64: CollectiveScalar { public static var collectiveElement: CollectiveElement { .int64 } }

/// The group of processes ("ranks") that train one model together, and the three collectives
/// the training step needs. Every rank of the group must call the same collectives in the same
/// order with the same counts (MPI's rule); a failure is thrown as
/// `DistributedError.collectiveFailed`, never a trap.
///
/// Implementations: `SingleProcessCommunicator` (size 1, every collective the identity) and
/// `CallbackCommunicator` (the host's MPI through C function pointers: mpi4py from Python).
public protocol Communicator: AnyObject {
    /// This process's index in the group, `0..<size`.
    var rank: Int { get }
    /// The number of ranks (W), at least 1.
    var size: Int { get }

    /// Replaces `count` elements at `buffer` by their element-wise sum over all ranks.
    /// Contract: every rank receives the same bytes (so updates computed from the result stay
    /// bitwise identical across ranks), whatever summation order the transport uses.
    func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement) throws

    /// Writes every rank's `count` elements at `send` into `receive` (`size · count` elements),
    /// rank 0's first.
    func allgather(_ send: UnsafeRawPointer, count: Int, element: CollectiveElement,
                   into receive: UnsafeMutableRawPointer) throws

    /// Replaces `count` elements at `buffer` on every rank by those of rank `root`.
    func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement, root: Int) throws
}

extension Communicator {
    /// Typed `allreduceSum`: the elements of `buffer` summed over ranks, in place.
    public func allreduceSum<T: CollectiveScalar>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        try allreduceSum(UnsafeMutableRawPointer(base), count: buffer.count, element: T.collectiveElement)
    }

    /// Typed `allgather`: `receive` must hold `size · send.count` elements.
    public func allgather<T: CollectiveScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        precondition(receive.count == send.count * size, "allgather: \(receive.count) slots for \(send.count) × \(size)")
        guard let source = send.baseAddress, let target = receive.baseAddress, !send.isEmpty else { return }
        try allgather(UnsafeRawPointer(source), count: send.count, element: T.collectiveElement,
                      into: UnsafeMutableRawPointer(target))
    }

    /// Typed `broadcast` from rank `root`.
    public func broadcast<T: CollectiveScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        try broadcast(UnsafeMutableRawPointer(base), count: buffer.count, element: T.collectiveElement, root: root)
    }
}
