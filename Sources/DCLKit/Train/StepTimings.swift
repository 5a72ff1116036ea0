#if canImport(Glibc)
import Glibc
#endif

/// Seconds spent in each part of the training steps so far.
public struct StepTimings {
    public var augment: Double = 0
    public var forward: Double = 0
    public var backward: Double = 0
    public var optimizer: Double = 0

    /// All parts at zero.
    public init() {}

    /// Seconds on a monotonic clock.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs `body` and adds its wall time to the part at `part`.
    @inline(__always)
    public mutating func measure<T>(_ part: WritableKeyPath<StepTimings, Double>, _ body: () throws -> T) rethrows -> T {
        let start = StepTimings.now()
        defer { self[keyPath: part] += StepTimings.now() - start }
        return try body()
    }
}
