/// What the distributed pieces throw.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// A collective failed in the transport (MPI reported an error, a peer is gone, the host's
    /// callback raised); `operation` names the collective.
    case collectiveFailed(operation: String, message: String)
    /// The ranks disagree about something that must be the same everywhere (the configuration).
    case mismatch(String)
    /// A wrong argument (a batch not divisible by the number of ranks, a bad rank, a shape).
    case invalid(String)

    /// The message shown to the user.
    public var description: String {
        switch self {
        case let .collectiveFailed(operation, message): return "MPI \(operation) failed: \(message)"
        case let .mismatch(message): return message
        case let .invalid(message): return message
        }
    }
}
