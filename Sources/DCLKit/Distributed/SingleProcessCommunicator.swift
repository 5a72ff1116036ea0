/// The group of one process (W = 1): the sum over ranks is the value itself, the gather is a
/// copy, the broadcast does nothing. Training without a communicator uses it, so the
/// distributed pieces run unchanged on one machine and need no MPI.
public final class SingleProcessCommunicator: Communicator {
    /// Always 0.
    public let rank = 0
    /// Always 1.
    public let size = 1

    /// The one-process group.
    public init() {}

    /// The identity: the sum over one rank.
    public func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement) throws {}

    /// Copies `count` elements from `send` to `receive`.
    public func allgather(_ send: UnsafeRawPointer, count: Int, element: CollectiveElement,
                          into receive: UnsafeMutableRawPointer) throws {
        if receive != UnsafeMutableRawPointer(mutating: send) {
            receive.copyMemory(from: send, byteCount: count * element.byteCount)
        }
    }

    /// Does nothing (rank 0 is the only rank); `root` must be 0.
    public func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement, root: Int) throws {
        guard root == 0 else { throw DistributedError.invalid("broadcast root \(root) is not a rank of a 1-process group") }
    }
}
