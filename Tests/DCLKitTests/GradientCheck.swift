import XCTest
@testable import DCLKit

/// Helpers for finite-difference checks of layers whose loss is L = Σ r ⊙ y for a fixed random r.
///
/// Single layers: values are float32 and L is summed in double. With step h = 1e-2 the rounding
/// of y (≈ 6e-8 relative per element, a few dozen elements) gives a difference-quotient error
/// near 1e-4, and the O(h²) truncation of one layer (BatchNorm's statistics) is of the same
/// order; ReLU kinks are kept farther than h from every input. An absolute 2e-3 plus 2% of the
/// gradient leaves margin, while a wrong formula is off by O(1).
///
/// Blocks and networks: float32 rounding through many layers leaves L about 1e-5 off (measured),
/// i.e. ≈ 1.7e-3 on the quotient at h = 3e-3, so the absolute tolerance is 5e-3. A smaller step
/// drowns in that rounding, a larger one in the curvature of stacked BatchNorms. Callers shift
/// BatchNorm β to 2 so that few ReLU inputs sit within a step of their kink.
enum GradientCheck {
    /// A step and the absolute part of the tolerance.
    struct Precision {
        let step: Float
        let absolute: Double
    }

    /// For single layers.
    static let layer = Precision(step: 1e-2, absolute: 2e-3)
    /// For residual blocks and whole networks.
    static let network = Precision(step: 3e-3, absolute: 5e-3)

    /// A tensor of normal draws times `scale`, seeded.
    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        var rng = CounterRNG(seed: seed)
        for i in 0..<t.count { t[i] = scale * Float(rng.normal()) }
        return t
    }

    /// Σ r ⊙ y in double.
    static func weightedSum(_ y: Tensor, _ r: Tensor) -> Double {
        precondition(y.count == r.count)
        var s = 0.0
        for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
        return s
    }

    /// Checks `gradient` against central differences of `loss` over `tensor`, at every element
    /// or at `samples` evenly spread ones.
    ///
    /// Networks with ReLUs are piecewise smooth: a step may cross a kink, where the one-sided
    /// differences disagree. There the central difference lies within half their gap of either
    /// side's slope, so the gap |forward − backward| widens the tolerance; at smooth points the
    /// gap is O(h·f″) and the check stays strict.
    static func check(_ tensor: Tensor, gradient: Tensor, samples: Int? = nil, precision: Precision = layer, _ what: String,
                      file: StaticString = #filePath, line: UInt = #line, _ loss: () -> Double) {
        let indices: [Int]
        if let samples, samples < tensor.count {
            indices = (0..<samples).map { $0 * tensor.count / samples + ($0 * 7) % max(1, tensor.count / samples) }
        } else {
            indices = Array(0..<tensor.count)
        }
        let center = loss()
        let step = precision.step
        for i in indices {
            let x = tensor[i]
            tensor[i] = x + step
            let plus = loss()
            tensor[i] = x - step
            let minus = loss()
            tensor[i] = x
            let h = Double(step)
            let central = (plus - minus) / (2 * h)
            let gap = abs((plus - center) / h - (center - minus) / h)
            XCTAssertEqual(Double(gradient[i]), central, accuracy: precision.absolute + 0.02 * abs(central) + gap,
                           "\(what)[\(i)]", file: file, line: line)
        }
    }
}
