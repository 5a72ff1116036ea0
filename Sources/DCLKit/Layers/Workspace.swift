#if canImport(Glibc)
import Glibc
#endif

/// Scratch buffers shared by the layers of one model, so that transient data costs one buffer per
/// role rather than one per layer:
///
/// - `columns`: im2col columns of a convolution (and, in backward, their gradient); a convolution
///   processes the batch in chunks of samples whose columns fit `columnElements`.
/// - `activation`: an activation that backward recomputes instead of storing (the inner
///   BatchNorm + ReLU outputs of a residual block, see `BatchNorm.recomputeOutput()`).
/// - `gradients`: three gradient buffers a residual network's backward pass rotates through
///   (a block holds its output gradient in one and works in the other two).
/// - `partials`: per-block partial sums of BatchNorm's reductions.
///
/// Every buffer grows to the largest size asked of it during the first step and is reused after.
/// A workspace serves one model on one thread at a time.
public final class Workspace {
    /// The bound on im2col columns per chunk, in floats (a chunk holds at least one sample).
    public let columnElements: Int
    /// im2col columns (N_chunk·OH·OW, KH·KW·Cin) and their gradient.
    public let columns = Tensor(shape: [0])
    /// The shared buffer for recomputed activations.
    public let activation = Tensor(shape: [0])
    /// Three gradient buffers for backward passes.
    public let gradients = [Tensor(shape: [0]), Tensor(shape: [0]), Tensor(shape: [0])]
    /// Partial sums of reductions.
    public let partials = Tensor(shape: [0])
    /// When set, layers add their wall time to it by kind (for `make bench`).
    public var profile: LayerProfile?

    /// A workspace whose im2col chunks hold at most `columnElements` floats (default 4 Mi = 16 MB,
    /// which keeps a chunk in the last-level cache between im2col and its GEMM).
    public init(columnElements: Int = 1 << 22) {
        precondition(columnElements >= 1, "Workspace: columnElements \(columnElements)")
        self.columnElements = columnElements
    }

    /// The two gradient buffers other than `held` (`held` is usually one of the three).
    public func gradientBuffers(besides held: Tensor) -> (Tensor, Tensor) {
        let free = gradients.filter { $0 !== held }
        return (free[0], free[1])
    }

    /// Runs `body`, adding its wall time to `profile` under `kind` when profiling.
    @inline(__always)
    public func timed<T>(_ kind: LayerProfile.Kind, _ body: () -> T) -> T {
        guard let profile else { return body() }
        let start = LayerProfile.now()
        let result = body()
        profile.add(kind, LayerProfile.now() - start)
        return result
    }
}
