#if canImport(Glibc)
import Glibc
#endif

/// The learning rate per optimiser step: linear warm-up, then cosine decay to zero
/// (SimCLR's schedule, Chen et al. 2020; the same as MoCo v2's cosine schedule when there
/// is no warm-up).
///
/// With peak rate η, W warm-up steps and T total steps, the rate of step s (0-based):
///
///     s < W:        η · s / W
///     W ≤ s < T:    η · ½ · (1 + cos(π · (s − W) / (T − W)))
///     s ≥ T:        0
///
/// This is the reference's curve evaluated at the step index: step 0 has rate 0 when W > 0,
/// step W is the first at the peak, and the cosine reaches zero at s = T, one past the last step.
/// The peak is absolute here; a run's default peak (base · B / 256, the linear scaling rule)
/// is filled in once, by `RunConfiguration`.
/// A pure value: the rate depends on the step index only, so resuming needs only the step.
public struct WarmupCosineSchedule: Equatable {
    /// The rate at the end of warm-up, η.
    public let peakLearningRate: Double
    /// The number of warm-up steps W (0 ≤ W ≤ T).
    public let warmupSteps: Int
    /// The number of steps T ≥ 1 in the whole run.
    public let totalSteps: Int

    /// A schedule with the given peak rate (η > 0, finite; 0 ≤ W ≤ T, T ≥ 1: checked by callers).
    public init(peakLearningRate: Double, warmupSteps: Int, totalSteps: Int) {
        precondition(peakLearningRate > 0 && peakLearningRate.isFinite, "WarmupCosineSchedule: peak \(peakLearningRate)")
        precondition(totalSteps >= 1 && warmupSteps >= 0 && warmupSteps <= totalSteps,
                     "WarmupCosineSchedule: warm-up \(warmupSteps) of \(totalSteps) steps")
        self.peakLearningRate = peakLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The learning rate of step `step` (0-based; negative steps count as 0).
    public func learningRate(atStep step: Int) -> Double {
        let s = max(step, 0)
        if s >= totalSteps { return 0 }
        if s < warmupSteps { return peakLearningRate * Double(s) / Double(warmupSteps) }
        let progress = Double(s - warmupSteps) / Double(totalSteps - warmupSteps)
        return peakLearningRate * 0.5 * (1 + cos(Double.pi * progress))
    }
}
