/// A communicator whose collectives are C functions supplied by the host: the Python package
/// installs ctypes callbacks that run mpi4py on zero-copy numpy views of the buffers; a C
/// program can install functions that call its MPI directly. The core itself never links MPI.
///
/// Every callback receives the host's `context`, the buffers as raw pointers, the element
/// count and the element code (`CollectiveElement.rawValue`), and a message buffer of
/// `capacity` bytes. It returns 0 on success; on failure it returns non-zero and may write a
/// NUL-terminated explanation into the message buffer, which becomes the thrown
/// `DistributedError.collectiveFailed`. A callback may give up on a collective that does not
/// complete (the Python package's time-out, or a rank that has ended its program); the buffers
/// are the core's again once it returns, so the host runs such collectives on buffers of its own.
public final class CallbackCommunicator: Communicator {
    /// `allreduce(context, buffer, count, element, message, capacity)`: sum over ranks in place;
    /// every rank must receive the same bytes.
    public typealias Allreduce = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int64, Int32, UnsafeMutablePointer<CChar>?, Int64
    ) -> Int32
    /// `allgather(context, send, receive, count, element, message, capacity)`.
    public typealias Allgather = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeRawPointer?, UnsafeMutableRawPointer?, Int64, Int32,
        UnsafeMutablePointer<CChar>?, Int64
    ) -> Int32
    /// `broadcast(context, buffer, count, element, root, message, capacity)`.
    public typealias Broadcast = @convention(c) (
        UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int64, Int32, Int32, UnsafeMutablePointer<CChar>?, Int64
    ) -> Int32

    /// Bytes offered to a failing callback for its message.
    public static let messageCapacity = 1024

    public let rank: Int
    public let size: Int
    private let allreduceFunction: Allreduce
    private let allgatherFunction: Allgather
    private let broadcastFunction: Broadcast
    private let context: UnsafeMutableRawPointer?

    /// A communicator of `size` ranks (1 ... 2^20) in which this process is `rank`, over the
    /// host's three functions; `context` is passed back to each of them unchanged.
    public init(rank: Int, size: Int, allreduce: Allreduce, allgather: Allgather, broadcast: Broadcast,
                context: UnsafeMutableRawPointer?) throws {
        guard size >= 1, size <= 1 << 20 else { throw DistributedError.invalid("the communicator size must be between 1 and 2^20, got \(size)") }
        guard rank >= 0, rank < size else { throw DistributedError.invalid("rank \(rank) is not in 0..<\(size)") }
        self.rank = rank
        self.size = size
        self.allreduceFunction = allreduce
        self.allgatherFunction = allgather
        self.broadcastFunction = broadcast
        self.context = context
    }

    public func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement) throws {
        try invoke("allreduce") { allreduceFunction(context, buffer, Int64(count), element.rawValue, $0, $1) }
    }

    public func allgather(_ send: UnsafeRawPointer, count: Int, element: CollectiveElement,
                          into receive: UnsafeMutableRawPointer) throws {
        try invoke("allgather") { allgatherFunction(context, send, receive, Int64(count), element.rawValue, $0, $1) }
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement, root: Int) throws {
        guard root >= 0, root < size else { throw DistributedError.invalid("broadcast root \(root) is not in 0..<\(size)") }
        try invoke("broadcast") { broadcastFunction(context, buffer, Int64(count), element.rawValue, Int32(root), $0, $1) }
    }

    /// Runs one callback with a fresh message buffer and throws its message when it fails.
    private func invoke(_ operation: String, _ body: (UnsafeMutablePointer<CChar>, Int64) -> Int32) throws {
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: Self.messageCapacity) { message in
            let text = message.baseAddress!
            text.initialize(repeating: 0, count: Self.messageCapacity)
            let status = body(text, Int64(Self.messageCapacity))
            guard status != 0 else { return }
            text[Self.messageCapacity - 1] = 0
            let detail = String(cString: text)
            throw DistributedError.collectiveFailed(
                operation: operation, message: detail.isEmpty ? "the transport returned status \(status)" : detail)
        }
    }
}
