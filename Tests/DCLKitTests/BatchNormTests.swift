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
            checkGradients(shape: shape, relu: relu, training: training, groups: 1, seeds: (19, 20))
        }
    }

    /// dL/dx, dL/dγ and dL/dβ of one forward (running mean set away from 0) against finite differences.
    private func checkGradients(shape: [Int], relu: Bool, training: Bool, groups: Int, seeds: (UInt64, UInt64)) {
        let c = shape.last!
        let bn = makeNorm(c, relu: relu), plain = makeNorm(c)
        for norm in [bn, plain] {
            norm.statisticsGroups = groups
            norm.runningMean.copy(from: GradientCheck.random([c], seed: 18, scale: 0.3))
        }
        let x = GradientCheck.random(shape, seed: seeds.0)
        let r = GradientCheck.random(shape, seed: seeds.1)
        // Running statistics move at every training forward; the loss must not depend on them.
        let loss = { GradientCheck.weightedSum(bn.forward(x, training: training), r) }
        if relu {
            // Weigh only outputs whose pre-activation stays clear of the kink under a step.
            let pre = plain.forward(x, training: training)
            for i in 0..<pre.count where abs(pre[i]) < 0.1 { r[i] = 0 }
        }
        bn.forward(x, training: training)
        let dx = bn.backward(r.clone())
        let what = "\(shape) relu \(relu) training \(training) groups \(groups)"
        GradientCheck.check(x, gradient: dx, what + " dx", loss)
        GradientCheck.check(bn.weight.value, gradient: bn.weight.gradient, what + " dγ", loss)
        GradientCheck.check(bn.bias.value, gradient: bn.bias.gradient, what + " dβ", loss)
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

    /// Rows `range` of the first axis of `x` as a tensor of their own.
    private func rows(_ x: Tensor, _ range: Range<Int>) -> Tensor {
        let per = x.count / x.shape[0]
        return Tensor(shape: [range.count] + x.shape.dropFirst(), values: Array(x.toArray()[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    /// Two statistics groups are two BatchNorms, one per half of the batch (PyTorch's layer called
    /// once per view): the same output and dL/dx to the bit (each group's sums run over its own
    /// fixed blocks, from its own first row), dL/dγ and dL/dβ the sums of the two, and the running
    /// statistics those of one layer called on the first half, then on the second
    /// (`num_batches_tracked` 2). Over more than one reduction block per group, with the residual
    /// add and with the ReLU mask recomputed from x, at every SIMD level.
    func test_statistics_groups_equal_one_batchnorm_per_group() {
        SIMDLevels.forEach { level in
            for (shape, relu, residual) in [([6, 16, 12, 5], true, false), ([6, 16, 12, 5], true, true), ([8, 7], false, false)] {
                let c = shape.last!, n = shape[0] / 2
                let x = GradientCheck.random(shape, seed: 31, scale: 2)
                for i in 0..<x.count where i >= x.count / 2 { x[i] = 0.5 * x[i] + 3 }  // the halves differ
                let g = GradientCheck.random(shape, seed: 32)
                let skip = residual ? GradientCheck.random(shape, seed: 33) : nil
                let grouped = makeNorm(c, relu: relu)
                grouped.runningMean.copy(from: GradientCheck.random([c], seed: 34))
                grouped.statisticsGroups = 2
                let halves = [makeNorm(c, relu: relu), makeNorm(c, relu: relu)], sequential = makeNorm(c, relu: relu)
                for norm in halves + [sequential] { norm.runningMean.copy(from: grouped.runningMean) }
                let y = grouped.forward(x, training: true, residual: skip).toArray()
                let dx = grouped.backward(g.clone()).toArray()
                var (yParts, dxParts): ([Float], [Float]) = ([], [])
                for (k, norm) in halves.enumerated() {
                    let part = (k * n)..<((k + 1) * n)
                    yParts += norm.forward(rows(x, part), training: true, residual: skip.map { rows($0, part) }).toArray()
                    dxParts += norm.backward(rows(g, part)).toArray()
                    sequential.forward(rows(x, part), training: true)
                }
                let what = "level \(SIMDLevels.name(level)) shape \(shape) residual \(residual)"
                XCTAssertEqual(y, yParts, what + " y")
                XCTAssertEqual(dx, dxParts, what + " dx")
                for j in 0..<c {
                    let dWeight = halves[0].weight.gradient[j] + halves[1].weight.gradient[j]
                    let dBias = halves[0].bias.gradient[j] + halves[1].bias.gradient[j]
                    XCTAssertEqual(grouped.weight.gradient[j], dWeight, accuracy: 1e-5 * max(1, abs(dWeight)), what + " dγ")
                    XCTAssertEqual(grouped.bias.gradient[j], dBias, accuracy: 1e-5 * max(1, abs(dBias)), what + " dβ")
                }
                XCTAssertEqual(grouped.runningMean.toArray(), sequential.runningMean.toArray(), what)
                XCTAssertEqual(grouped.runningVariance.toArray(), sequential.runningVariance.toArray(), what)
                XCTAssertEqual(grouped.batchesTracked[0], 2)
                // Evaluation ignores the groups: one normalisation by the running statistics.
                sequential.statisticsGroups = 1
                XCTAssertEqual(grouped.forward(x, training: false).toArray(), sequential.forward(x, training: false).toArray())
            }
        }
    }

    /// Per-group statistics against the formula in double: y = γ(x − μ_k)/√(σ²_k + ε) + β with
    /// μ_k, σ²_k of group k's rows, and dL/dx = γ/√(σ²_k + ε)·(g − mean_k(g) − x̂·mean_k(g·x̂)).
    func test_statistics_groups_match_the_formula_in_double() {
        let c = 3, groups = 3, shape = [6, 4, 4, c]
        let x = GradientCheck.random(shape, seed: 35, scale: 1.5)
        for i in 0..<x.count { x[i] += Float(i / (x.count / groups)) }  // each group's own mean
        let g = GradientCheck.random(shape, seed: 36)
        let bn = makeNorm(c)
        bn.statisticsGroups = groups
        let y = bn.forward(x, training: true)
        let dx = bn.backward(g.clone())
        let per = x.count / groups, m = per / c
        for k in 0..<groups {
            let part = rows(x, (k * 2)..<((k + 1) * 2))
            let (mean, variance) = statistics(part, channels: c)
            for j in 0..<c {
                let inv = 1 / (variance[j] + 1e-5).squareRoot()
                var (sumG, sumGX) = (0.0, 0.0)
                for r in 0..<m {
                    let i = k * per + r * c + j
                    sumG += Double(g[i])
                    sumGX += Double(g[i]) * (Double(x[i]) - mean[j]) * inv
                }
                for r in 0..<m {
                    let i = k * per + r * c + j
                    let xhat = (Double(x[i]) - mean[j]) * inv
                    XCTAssertEqual(Double(y[i]), Double(bn.weight.value[j]) * xhat + Double(bn.bias.value[j]), accuracy: 1e-5)
                    let expected = Double(bn.weight.value[j]) * inv * (Double(g[i]) - sumG / Double(m) - xhat * sumGX / Double(m))
                    XCTAssertEqual(Double(dx[i]), expected, accuracy: 1e-5)
                }
            }
        }
    }

    /// dL/dx, dL/dγ and dL/dβ of a grouped training forward against finite differences.
    func test_statistics_groups_gradients_match_finite_differences() {
        for (shape, relu) in [([6, 3], false), ([4, 3, 3, 2], true)] {
            checkGradients(shape: shape, relu: relu, training: true, groups: 2, seeds: (37, 38))
        }
    }

    /// A grouped forward and backward give the same bits for 1, 2 and 3 threads (each group's
    /// sums run over fixed blocks of rows; the elementwise passes split chunks at group borders).
    func test_statistics_groups_do_not_depend_on_the_thread_count() {
        let before = Threads.count
        defer { Threads.setCount(before) }
        let shape = [4, 20, 16, 6], c = 6
        let x = GradientCheck.random(shape, seed: 39), g = GradientCheck.random(shape, seed: 40)
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            Threads.setCount(threads)
            let bn = makeNorm(c, relu: true)
            bn.statisticsGroups = 2
            let y = bn.forward(x, training: true).toArray()
            let dx = bn.backward(g.clone()).toArray()
            results.append([y, dx, bn.weight.gradient.toArray(), bn.bias.gradient.toArray(), bn.runningMean.toArray(),
                            bn.runningVariance.toArray()])
        }
        XCTAssertEqual(results[1], results[0])
        XCTAssertEqual(results[2], results[0])
    }
}
