#if canImport(Glibc)
import Glibc
#endif

/// How a `Conv2d` computes its forward and backward passes.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    /// im2col + one GEMM per chunk of samples (every shape).
    case im2col = "im2col + GEMM"
    /// Winograd F(2×2, 3×3) (stride-1 3×3 kernels).
    case winogradF2 = "Winograd F(2x2,3x3)"
    /// Winograd F(4×4, 3×3) (stride-1 3×3 kernels).
    case winogradF4 = "Winograd F(4x4,3x3)"
    /// Winograd F(2×2, 3×3) forward and input gradient, F(4×4, 3×3) weight gradient (stride-1
    /// 3×3 kernels): F(4×4)'s errors reach the gradients through the first two passes only
    /// (`ConvolutionPlanner.rule`).
    case winogradF2WeightF4 = "Winograd F(2x2,3x3), dW F(4x4,3x3)"
    /// Direct NHWC convolution, forward and weight gradient (stride-1 3×3 kernels of at most
    /// `DirectConvolution.maxInChannels` input channels); the input gradient stays on im2col.
    case direct = "direct NHWC"

    /// The Winograd tiling of the forward and input-gradient passes, nil for the other algorithms.
    var tiling: WinogradTiling? {
        switch self {
        case .im2col, .direct: nil
        case .winogradF2, .winogradF2WeightF4: .f2
        case .winogradF4: .f4
        }
    }

    /// The Winograd tiling of the weight-gradient pass, nil for the other algorithms.
    var weightGradientTiling: WinogradTiling? { self == .winogradF2WeightF4 ? .f4 : tiling }
}

/// What the choice of a convolution algorithm depends on: the layer, the batch it sees and the
/// thread count it runs on.
public struct ConvolutionShape: Hashable, Sendable, CustomStringConvertible {
    /// Samples N, input height H and width W.
    public let batch, height, width: Int
    /// Input and output channels.
    public let inChannels, outChannels: Int
    /// Kernel side, stride, zero padding.
    public let kernel, stride, padding: Int
    /// `Threads.count` when the shape was seen.
    public let threads: Int

    /// The algorithms that can compute this shape (im2col first).
    public var candidates: [ConvolutionAlgorithm] {
        guard kernel == 3 && stride == 1 && padding <= 2 else { return [.im2col] }
        return [.im2col, .winogradF2, .winogradF4, .winogradF2WeightF4] + (inChannels <= DirectConvolution.maxInChannels ? [.direct] : [])
    }

    /// "N×H×W×Cin → Cout, k3 s1 p1".
    public var description: String {
        "\(batch)×\(height)×\(width)×\(inChannels) → \(outChannels), k\(kernel) s\(stride) p\(padding)"
    }
}

/// The process-wide choice of a convolution algorithm per shape, made at the shape's first use
/// and kept for the life of the process.
///
/// With the default policy `.rule`, the choice is a fixed function of the shape, set from
/// measurements of this library's candidates on x86-64 (`make bench` prints them per layer
/// with `.measured`): a run resumed in another process computes exactly what an uninterrupted
/// run computes. `.measured` times every candidate's forward pass twice at first use and keeps
/// the fastest (as oneDNN and NNPACK do): faster where the rule is off for a machine, but two
/// processes may then choose differently and agree only within float tolerance.
/// Every algorithm agrees with the others within float tolerance (`WinogradConvolutionTests`,
/// `DirectConvolutionTests`).
public enum ConvolutionPlanner {
    /// How shapes not yet seen get their algorithm.
    public enum Policy: Equatable, Sendable {
        /// A fixed function of the shape (deterministic across processes).
        case rule
        /// Time the candidates at first use and keep the fastest.
        case measured
        /// Always this algorithm where it applies, im2col elsewhere (for tests and benchmarks).
        case forced(ConvolutionAlgorithm)
    }

    /// One shape's decision: the algorithm, and the candidates' forward seconds when measured.
    public struct Decision: Sendable {
        /// The algorithm chosen.
        public let algorithm: ConvolutionAlgorithm
        /// Each candidate's best forward time in seconds (empty unless measured).
        public let timings: [(ConvolutionAlgorithm, Double)]
    }

    private static let table = DecisionTable()

    /// The policy for shapes not yet decided (changing it clears the decisions made so far).
    public static var policy: Policy {
        get { table.withLock { $0.policy } }
        set { table.withLock { $0.policy = newValue; $0.decisions = [:] } }
    }

    /// The decisions made so far, by shape.
    public static var decisions: [ConvolutionShape: Decision] { table.withLock { $0.decisions } }

    /// The algorithm for `shape`: the one decided before, or a new decision under `policy`.
    /// `time(candidate)` runs one forward pass with `candidate` and returns its seconds (called
    /// only under `.measured`, outside the table's lock).
    static func algorithm(for shape: ConvolutionShape, time: (ConvolutionAlgorithm) -> Double) -> ConvolutionAlgorithm {
        let (known, policy) = table.withLock { ($0.decisions[shape], $0.policy) }
        if let known { return known.algorithm }
        let decision: Decision
        switch policy {
        case .rule:
            decision = Decision(algorithm: rule(shape), timings: [])
        case .forced(let algorithm):
            decision = Decision(algorithm: shape.candidates.contains(algorithm) ? algorithm : .im2col, timings: [])
        case .measured:
            let timings = shape.candidates.map { candidate in (candidate, min(time(candidate), time(candidate))) }
            decision = Decision(algorithm: timings.min { $0.1 < $1.1 }!.0, timings: timings)
        }
        return table.withLock { state in
            if let earlier = state.decisions[shape] { return earlier.algorithm }
            state.decisions[shape] = decision
            return decision.algorithm
        }
    }

    /// The fixed choice: the direct kernels where they apply (stride-1 3×3 layers of at most
    /// `DirectConvolution.maxInChannels` input channels: the image stem), Winograd for stride-1
    /// 3×3 layers with at least 16 input and output channels and an output of at least 3×3,
    /// im2col elsewhere. Winograd runs F(2×2) in the forward and input-gradient passes at every
    /// batch, and F(4×4) in the weight-gradient pass from `f4WeightGradientFrom` samples on where
    /// its tiles fit the output (`f4TilesFit`).
    ///
    /// Issue 24's guard (`test_gradient_precision.py`: every gradient of ResNet-18 ×0.25 within
    /// 3x of a float32 direct convolution's error against float64) decides the passes. The
    /// largest ratio of its 62 errors at batch 32 on 8×8 images, batch 64 on 8×8, batch 32 on
    /// 16×16 (Zen 4): F(4×4) in every pass 3.7, 2.8, 3.7; in the forward and weight gradient 2.9,
    /// 2.3, 1.7; in the input and weight gradients 2.1, 3.1, 2.7; in the weight gradient only 1.1,
    /// 1.3, 1.6 (F(2×2) everywhere 1.1, 1.3, 1.0). F(4×4)'s error enters where its output
    /// transform Aᵀ·A (entries up to 8) combines the rounded point products into few outputs,
    /// the last step of the forward and input-gradient passes; the weight gradient ends in Gᵀ·G
    /// (entries at most 1). It does not depend on the batch, nor clearly on the layer (in a
    /// float32 simulation one layer's F(4×4) forward error is 5-13x a direct sum's at 16 to 256
    /// channels on 8×8 and 16×16 maps; the worst gradients sit in layers of 16 to 64 channels on
    /// 4×4 to 16×16 maps), so the rule is per pass. Cost, CPU seconds of a DCL step on 2 threads
    /// against F(4×4) in every pass (alternated steps, loaded machine): ResNet-18 width 1 batch 64
    /// +19-23 % (F(2×2) everywhere +28 %; F(4×4) in the forward and weight gradient +12 %, but at
    /// batch 32 on 8×8 with 5 other input seeds it broke the guard 4 times (3.1-3.7), where this
    /// rule gave 1.4-2.0), width 0.25 batch 128 +4-18 %, ResNet-50 96 px batch 32 +2-3 %.
    ///
    /// Small maps (ResNet-50 at 96 px, 32 pairs, Zen 4, CPU seconds of a layer's forward and
    /// backward on 2 threads, two runs, machine loaded 7): on 3×3 outputs F(2×2) everywhere took
    /// 0.86–0.88 of im2col's time (512 channels), so outputs of 3×3 run F(2×2) (2×2 and smaller
    /// stay on im2col); on 6×6 outputs (256 channels) F(2×2) everywhere took 0.88–0.93 of
    /// F(2×2) with an F(4×4) weight gradient. F(4×4) then runs the weight gradient only where its
    /// 4×4 tiles fit the output (`f4TilesFit`): not on 3×3, 5×5, 6×6, 9×9 or 13×13 outputs, which
    /// they cover 1.5–2.6 times over. F(2×2) is the most precise Winograd form, so neither change
    /// moves the precision guard's way.
    public static func rule(_ shape: ConvolutionShape) -> ConvolutionAlgorithm {
        if shape.candidates.contains(.direct) { return .direct }
        guard shape.candidates.contains(.winogradF4) else { return .im2col }
        let side = min(shape.height, shape.width) + 2 * shape.padding - 2
        guard min(shape.inChannels, shape.outChannels) >= 16 && side >= 3 else { return .im2col }
        return shape.batch < f4WeightGradientFrom || !f4TilesFit(side: side) ? .winogradF2 : .winogradF2WeightF4
    }

    /// Whether F(4×4)'s tiles cover a square output of `side` at most 1.5 times over (the tiles'
    /// area against the output's): at 4×4, 7×7, 8×8, 10×10 to 12×12 and from 14×14 on.
    static func f4TilesFit(side: Int) -> Bool {
        let covered = (side + 3) / 4 * 4
        return 2 * covered * covered <= 3 * side * side
    }

    /// The batch from which Winograd layers run their weight gradient on F(4×4) rather than
    /// F(2×2): below 32 samples F(2×2) is about as fast (faster at batch 4 and 16 on Zen 4).
    static let f4WeightGradientFrom = 32
}

/// The planner's state behind a mutex (Python threads may run two models at once).
private final class DecisionTable: @unchecked Sendable {
    struct State {
        var policy = ConvolutionPlanner.Policy.rule
        var decisions: [ConvolutionShape: ConvolutionPlanner.Decision] = [:]
    }

    private var state = State()
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }

    func withLock<T>(_ body: (inout State) -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(&state)
    }
}
