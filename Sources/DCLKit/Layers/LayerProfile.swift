#if canImport(Glibc)
import Glibc
#endif

/// Wall time spent per kind of layer work, accumulated while a `Workspace` profiles
/// (the per-layer-type split of `make bench`).
public final class LayerProfile {
    /// The kinds of work timed.
    public enum Kind: String, CaseIterable {
        /// Convolution matrix products (forward, weight gradient, column gradient).
        case convolutionGEMM = "conv GEMM"
        /// im2col and col2im copies.
        case convolutionCopy = "conv im2col/col2im"
        /// Winograd tile and kernel transforms.
        case convolutionTransform = "conv Winograd transforms"
        /// BatchNorm (with its fused ReLU and residual add).
        case batchNorm = "batch norm"
        /// Max and global average pooling.
        case pooling = "pooling"
        /// Linear layers and standalone ReLU (the projection head).
        case head = "linear + relu"
    }

    /// Seconds per kind.
    public private(set) var seconds: [Kind: Double] = [:]

    /// An empty profile.
    public init() {}

    /// Adds `duration` seconds to `kind`.
    public func add(_ kind: Kind, _ duration: Double) { seconds[kind, default: 0] += duration }

    /// Clears every total.
    public func reset() { seconds = [:] }

    /// Seconds on a monotonic clock.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
