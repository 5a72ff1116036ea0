#if canImport(Glibc)
import Glibc
#endif

/// The communicator a distributed trainer talks through: it forwards every collective to the
/// host's communicator, adds the wall time spent in them to `seconds`, and remembers the first
/// failure. After a failure every collective throws that failure again without calling the
/// transport, so a rank whose transport broke stops communicating at once, and layers that
/// cannot throw (BatchNorm's SyncBN hook) leave the error for `throwIfFailed()` at the end of
/// the step.
public final class TrainingCommunicator: Communicator {
    /// The host's communicator.
    public let base: Communicator
    /// Seconds spent inside collectives so far.
    public private(set) var seconds = 0.0
    /// The first failure, if a collective failed.
    public private(set) var failure: Error?

    /// A communicator over `base`.
    public init(_ base: Communicator) { self.base = base }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    /// Throws the first failure of a collective, if there was one.
    public func throwIfFailed() throws {
        if let failure { throw failure }
    }

    public func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement) throws {
        try run { try base.allreduceSum(buffer, count: count, element: element) }
    }

    public func allgather(_ send: UnsafeRawPointer, count: Int, element: CollectiveElement,
                          into receive: UnsafeMutableRawPointer) throws {
        try run { try base.allgather(send, count: count, element: element, into: receive) }
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement, root: Int) throws {
        try run { try base.broadcast(buffer, count: count, element: element, root: root) }
    }

    /// Sums one float64 over the ranks.
    public func sum(_ value: Double) throws -> Double {
        var x = value
        try withUnsafeMutablePointer(to: &x) { try allreduceSum(UnsafeMutableRawPointer($0), count: 1, element: .float64) }
        return x
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private func run(_ body: () throws -> Void) throws {
        if let failure { throw failure }
        let start = Self.now()
        defer { seconds += Self.now() - start }
        do { try body() } catch {
            failure = error
            throw error
        }
    }
}
