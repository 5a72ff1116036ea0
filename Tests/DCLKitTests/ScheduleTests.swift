import XCTest
@testable import DCLKit

/// Warm-up + cosine: the values at the landmarks of the curve.
final class ScheduleTests: XCTestCase {
    /// η = 0.6 (LARS's 0.3 at batch 512; the scaling is `RunConfiguration`'s, tested there); W = 10, T = 110.
    private let schedule = WarmupCosineSchedule(peakLearningRate: 0.6, warmupSteps: 10, totalSteps: 110)

    func test_warm_up_rises_linearly_from_zero_to_the_peak() {
        XCTAssertEqual(schedule.learningRate(atStep: 0), 0)
        XCTAssertEqual(schedule.learningRate(atStep: 5), 0.3, accuracy: 1e-12)
        XCTAssertEqual(schedule.learningRate(atStep: 9), 0.54, accuracy: 1e-12)
        XCTAssertEqual(schedule.learningRate(atStep: 10), 0.6, accuracy: 1e-12, "warm-up end is the peak")
    }

    func test_cosine_is_half_the_peak_midway_and_near_zero_at_the_last_step() {
        XCTAssertEqual(schedule.learningRate(atStep: 60), 0.3, accuracy: 1e-12)
        // Step 109: progress 99/100, 0.6·½·(1 + cos(0.99π)) = 0.3·(1 − 0.99950656…) ≈ 1.4803e-4.
        XCTAssertEqual(schedule.learningRate(atStep: 109), 0.3 * (1 + cos(0.99 * Double.pi)), accuracy: 1e-15)
        XCTAssertEqual(schedule.learningRate(atStep: 109), 1.4803e-4, accuracy: 1e-8)
        XCTAssertEqual(schedule.learningRate(atStep: 110), 0, "zero from T on")
        XCTAssertEqual(schedule.learningRate(atStep: 1_000), 0)
    }

    func test_no_warm_up_starts_at_the_peak_and_absolute_rate_is_not_scaled() {
        let s = WarmupCosineSchedule(peakLearningRate: 0.05, warmupSteps: 0, totalSteps: 4)
        // cos(0), cos(π/4), cos(π/2), cos(3π/4).
        let expected = [0.05, 0.025 * (1 + 0.5.squareRoot()), 0.025, 0.025 * (1 - 0.5.squareRoot())]
        for (step, value) in expected.enumerated() {
            XCTAssertEqual(s.learningRate(atStep: step), value, accuracy: 1e-15)
        }
    }

    func test_rate_never_increases_after_warm_up() {
        var previous = schedule.learningRate(atStep: 10)
        for step in 11...110 {
            let rate = schedule.learningRate(atStep: step)
            XCTAssertLessThanOrEqual(rate, previous)
            previous = rate
        }
    }
}
