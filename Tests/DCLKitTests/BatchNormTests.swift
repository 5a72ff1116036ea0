import XCTest
@testable import DCLKit

/// BatchNorm: PyTorch's training and evaluation semantics (batch statistics, momentum 0.1,
/// unbiased running variance, ε = 1e-5), the fused residual + ReLU, and gradients against
/// finite differences in both modes.
final class BatchNormTests: XCTestCase {
    private func makeNorm(_ c: Int, relu: Bool = false) -> BatchNorm {
        let bn = BatchNorm(channels: c, relu: relu)
        bn.weight.value.copy(from: GradientCheck.random([c], seed: 11, scale: 0.5))
        for j in 0..<c { bn.weight.value[j] += 1 }
        bn.bias.value.copy(from: GradientCheck.random([c], seed: 12, scale: 0.5))
        return bn
    }

    /// Mean and biased variance per channel in double.
    private func statistics(_ x: Tensor, channels c: Int) -> ([Double], [Double]) {
        let m = x.count / c
        var mean = [Double](repeating: 0, count: c), variance = mean
        for r in 0..<m { for j in 0..<c { mean[j] += Double(x[r * c + j]) / Double(m) } }
        for r in 0..<m { for j in 0..<c { variance[j] += pow(Double(x[r * c + j]) - mean[j], 2) / Double(m) } }
        return (mean, variance)
    }

    func test_training_normalises_with_batch_statistics_and_updates_running_statistics() {
        let c = 3
        // 3·16·16 = 768 rows: more than one reduction block.
        let x = GradientCheck.random([3, 16, 16, c], seed: 13, scale: 2)
        for j in 0..<x.count where j % c == 1 { x[j] += 5 }
        let bn = makeNorm(c)
        bn.runningMean.copy(from: Tensor(shape: [c], values: [0.5, -1, 2]))
        bn.runningVariance.copy(from: Tensor(shape: [c], values: [1, 3, 0.5]))
        let y = bn.forward(x, training: true)
        let (mean, variance) = statistics(x, channels: c)
        let m = Double(x.count / c)
        for i in 0..<x.count {
            let j = i % c
            let expected = (Double(x[i]) - mean[j]) / (variance[j] + 1e-5).squareRoot() * Double(bn.weight.value[j]) + Double(bn.bias.value[j])
            XCTAssertEqual(Double(y[i]), expected, accuracy: 1e-4)
        }
        let oldMean = [0.5, -1, 2], oldVariance = [1, 3, 0.5]
        for j in 0..<c {
            XCTAssertEqual(Double(bn.runningMean[j]), 0.9 * oldMean[j] + 0.1 * mean[j], accuracy: 1e-5)
            XCTAssertEqual(Double(bn.runningVariance[j]), 0.9 * oldVariance[j] + 0.1 * variance[j] * m / (m - 1), accuracy: 1e-4)
        }
        XCTAssertEqual(bn.batchesTracked.shape, [])
        XCTAssertEqual(bn.batchesTracked[0], 1)
        bn.forward(x, training: true)
        XCTAssertEqual(bn.batchesTracked[0], 2)
    }

    func test_evaluation_uses_running_statistics_and_leaves_them_unchanged() {
        let c = 2
        let bn = makeNorm(c)
        bn.runningMean.copy(from: Tensor(shape: [c], values: [0.25, -2]))
        bn.runningVariance.copy(from: Tensor(shape: [c], values: [4, 0.5]))
        let x = GradientCheck.random([2, 3, 3, c], seed: 14)
        let y = bn.forward(x, training: false)
        for i in 0..<x.count {
            let j = i % c
            let expected = (Double(x[i]) - Double(bn.runningMean[j])) / (Double(bn.runningVariance[j]) + 1e-5).squareRoot()
                * Double(bn.weight.value[j]) + Double(bn.bias.value[j])
            XCTAssertEqual(Double(y[i]), expected, accuracy: 1e-5)
        }
        XCTAssertEqual(bn.runningMean.toArray(), [0.25, -2])
        XCTAssertEqual(bn.runningVariance.toArray(), [4, 0.5])
        XCTAssertEqual(bn.batchesTracked[0], 0)
    }

    func test_fused_residual_and_relu_match_the_unfused_composition() {
        let c = 4
        let x = GradientCheck.random([2, 3, 3, c], seed: 15)
        let skip = GradientCheck.random(x.shape, seed: 16)
        let plain = makeNorm(c), fused = makeNorm(c, relu: true)
        let y = plain.forward(x, training: true).clone()
        let z = fused.forward(x, training: true, residual: skip)
        for i in 0..<x.count { XCTAssertEqual(z[i], max(0, y[i] + skip[i]), accuracy: 1e-6) }
    }

    func test_recompute_output_restores_a_shared_output_buffer_and_takes_it_back() {
        let shared = SharedActivation()
        let bn = BatchNorm(channels: 3, relu: true, shared: shared)
        let other = BatchNorm(channels: 3, shared: shared)
        let x = GradientCheck.random([2, 4, 4, 3], seed: 17)
        let y = bn.forward(x, training: true).clone()
        XCTAssertTrue(bn.holdsOutput)
        let runningMean = bn.runningMean.clone()
        other.forward(GradientCheck.random([2, 4, 4, 3], seed: 23), training: true)
        XCTAssertFalse(bn.holdsOutput, "another layer's forward overwrote the shared buffer")
        XCTAssertTrue(other.holdsOutput)
        bn.recomputeOutput()
        XCTAssertTrue(bn.holdsOutput)
        XCTAssertFalse(other.holdsOutput)
        XCTAssertEqual(shared.tensor.toArray(), y.toArray())
        XCTAssertEqual(bn.runningMean.toArray(), runningMean.toArray(), "recomputing must not move the running statistics")
    }

    /// One-pass statistics about a shift: a channel with |μ| = 10⁴ ≫ σ = 10⁻¹ keeps its variance
    /// (a raw Σx² − (Σx)²/m in float32 would lose every digit: 10⁸·2⁻²⁴ ≈ 6 > σ² = 10⁻²).
    func test_batch_statistics_survive_a_large_mean() {
        let c = 2
        let x = GradientCheck.random([4, 16, 16, c], seed: 24, scale: 0.1)
        for i in stride(from: 0, to: x.count, by: c) { x[i] += 10_000 }
        let bn = BatchNorm(channels: c)
        let y = bn.forward(x, training: true)
        let (mean, variance) = statistics(x, channels: c)
        for i in 0..<x.count {
            let j = i % c
            let expected = (Double(x[i]) - mean[j]) / (variance[j] + 1e-5).squareRoot()
            // x itself is stored to 10⁴·2⁻²⁴ ≈ 6e-4, i.e. 6e-3 of σ: that much error is in the data.
            XCTAssertEqual(Double(y[i]), expected, accuracy: 2e-2)
        }
        let m = Double(x.count / c)
        for j in 0..<c {
            XCTAssertEqual(Double(bn.runningVariance[j]), 0.9 + 0.1 * variance[j] * m / (m - 1), accuracy: 1e-4)
        }
    }

    /// 1-D (N, C) and 2-D (N, H, W, C) inputs, training and evaluation, with and without ReLU.
    func test_gradients_match_finite_differences() {
        for (shape, relu, training) in [([6, 3], false, true), ([2, 3, 3, 2], true, true), ([2, 2, 3, 3], false, false), ([5, 4], true, false)] {
            let c = shape.last!
            let bn = makeNorm(c, relu: relu), plain = makeNorm(c)
            for norm in [bn, plain] { norm.runningMean.copy(from: GradientCheck.random([c], seed: 18, scale: 0.3)) }
            let x = GradientCheck.random(shape, seed: 19)
            let r = GradientCheck.random(shape, seed: 20)
            // Running statistics move at every training forward; the loss must not depend on them.
            let loss = { GradientCheck.weightedSum(bn.forward(x, training: training), r) }
            if relu {
                // Weigh only outputs whose pre-activation stays clear of the kink under a step.
                let pre = plain.forward(x, training: training)
                for i in 0..<pre.count where abs(pre[i]) < 0.1 { r[i] = 0 }
            }
            bn.forward(x, training: training)
            let dx = bn.backward(r.clone())
            let what = "\(shape) relu \(relu) training \(training)"
            GradientCheck.check(x, gradient: dx, what + " dx", loss)
            GradientCheck.check(bn.weight.value, gradient: bn.weight.gradient, what + " dγ", loss)
            GradientCheck.check(bn.bias.value, gradient: bn.bias.gradient, what + " dβ", loss)
        }
    }

    func test_backward_with_relu_after_a_residual_leaves_the_masked_gradient_in_its_argument() {
        let bn = makeNorm(2, relu: true)
        let x = GradientCheck.random([3, 2, 2, 2], seed: 21)
        let y = bn.forward(x, training: true, residual: GradientCheck.random(x.shape, seed: 27))
        let g = GradientCheck.random(x.shape, seed: 22)
        let original = g.clone()
        bn.backward(g, into: Tensor(shape: [0]))
        for i in 0..<g.count { XCTAssertEqual(g[i], y[i] > 0 ? original[i] : 0) }
    }

    /// Without a residual, backward recomputes the ReLU's mask from x (and leaves dL/dy as it is,
    /// even when the shared output was overwritten meanwhile); with a zero residual the forward
    /// output is the same and backward masks by that output. Both must give the same dL/dx, dγ
    /// and dβ to the bit, at every SIMD level, for narrow and wide layers (one strip of channel
    /// registers, several) over more than one reduction block, in training and evaluation.
    func test_relu_mask_recomputed_from_the_input_matches_the_mask_of_the_output() {
        SIMDLevels.forEach { level in
            for (c, training) in [(5, true), (150, true), (150, false)] {
                let shape = [3, 16, 12, c]
                let x = GradientCheck.random(shape, seed: 28)
                let g = GradientCheck.random(shape, seed: 29)
                let shared = SharedActivation()
                let gated = makeNorm(c, relu: true), masked = makeNorm(c, relu: true)
                let gatedNorm = BatchNorm(channels: c, relu: true, shared: shared)
                gatedNorm.weight.value.copy(from: gated.weight.value)
                gatedNorm.bias.value.copy(from: gated.bias.value)
                let y = masked.forward(x, training: training, residual: Tensor(shape: shape)).clone()
                XCTAssertEqual(gated.forward(x, training: training).toArray(), y.toArray())
                gatedNorm.forward(x, training: training)
                BatchNorm(channels: c, shared: shared).forward(g, training: true)
                XCTAssertFalse(gatedNorm.holdsOutput)
                let what = "level \(SIMDLevels.name(level)) c \(c) training \(training)"
                let dyGated = g.clone(), dyMasked = g.clone()
                let dxGated = gated.backward(dyGated), dxMasked = masked.backward(dyMasked)
                XCTAssertEqual(dxGated.toArray(), dxMasked.toArray(), what + " dx")
                XCTAssertEqual(gatedNorm.backward(g.clone()).toArray(), dxMasked.toArray(), what + " dx, output overwritten")
                XCTAssertEqual(gated.weight.gradient.toArray(), masked.weight.gradient.toArray(), what + " dγ")
                XCTAssertEqual(gated.bias.gradient.toArray(), masked.bias.gradient.toArray(), what + " dβ")
                XCTAssertEqual(dyGated.toArray(), g.toArray(), what + ": dL/dy left as it is")
                XCTAssertTrue((0..<y.count).contains { y[$0] == 0 } && (0..<y.count).contains { y[$0] > 0 }, what)
            }
        }
    }
}
