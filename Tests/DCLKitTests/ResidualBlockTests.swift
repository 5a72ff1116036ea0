import XCTest
@testable import DCLKit

/// BasicBlock and Bottleneck, with identity and projection shortcuts: gradients of the input
/// and of parameters in every branch against finite differences (training mode, so BatchNorm's
/// batch statistics are part of the function), through the shared workspace buffers and the
/// recomputed activations.
final class ResidualBlockTests: XCTestCase {
    private func randomize(_ entries: [StateEntry], seed: UInt64) {
        for (k, e) in entries.enumerated() where e.parameter != nil {
            let noise = GradientCheck.random(e.tensor.shape, seed: seed + UInt64(k), scale: e.name.hasSuffix("bias") ? 0.3 : 0.4)
            // BatchNorm γ near 1 and β near 2 (see GradientCheck); convolution weights around 0.
            let isNorm = e.name.contains("bn") || e.name.contains("downsample.1")
            let center: Float = !isNorm ? 0 : e.name.hasSuffix("weight") ? 1 : 2
            for i in 0..<e.tensor.count { e.tensor[i] = noise[i] + center }
        }
    }

    private func checkBlock(_ block: ResidualBlock, input shape: [Int], _ what: String) {
        let entries = block.stateEntries(prefix: "")
        randomize(entries, seed: 70)
        let x = GradientCheck.random(shape, seed: 71)
        let r = GradientCheck.random(block.forward(x, training: true).shape, seed: 72)
        let loss = { GradientCheck.weightedSum(block.forward(x, training: true), r) }
        _ = block.forward(x, training: true)
        // The block works in the workspace's gradient buffers; hand it one, as the trunk does.
        let g = Workspace().gradients[0]
        g.copy(from: r)
        let dx = block.backward(g).clone()
        GradientCheck.check(x, gradient: dx, samples: 24, precision: GradientCheck.network, what + " dx", loss)
        for e in entries {
            guard let p = e.parameter else { continue }
            GradientCheck.check(p.value, gradient: p.gradient, samples: 6, precision: GradientCheck.network, what + " " + e.name, loss)
        }
    }

    func test_basic_block_gradients_match_finite_differences() {
        let workspace = Workspace(columnElements: 256)
        checkBlock(BasicBlock(inChannels: 3, planes: 3, stride: 1, workspace: workspace), input: [2, 4, 4, 3], "identity")
        checkBlock(BasicBlock(inChannels: 2, planes: 4, stride: 2, workspace: workspace), input: [2, 5, 4, 2], "projection")
    }

    func test_bottleneck_gradients_match_finite_differences() {
        let workspace = Workspace(columnElements: 256)
        checkBlock(Bottleneck(inChannels: 8, planes: 2, stride: 1, workspace: workspace), input: [2, 3, 3, 8], "identity")
        checkBlock(Bottleneck(inChannels: 3, planes: 2, stride: 2, workspace: workspace), input: [2, 4, 5, 3], "projection")
    }

    func test_blocks_name_their_entries_as_torchvision() {
        let workspace = Workspace()
        let basic = BasicBlock(inChannels: 2, planes: 4, stride: 2, workspace: workspace).stateEntries(prefix: "layer2.0.").map { $0.name }
        XCTAssertEqual(basic.filter { $0.hasSuffix("weight") }, [
            "layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.conv2.weight", "layer2.0.bn2.weight",
            "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
        ])
        let bottleneck = Bottleneck(inChannels: 8, planes: 2, stride: 1, workspace: workspace).stateEntries(prefix: "layer1.1.").map { $0.name }
        XCTAssertEqual(bottleneck.count, 3 + 3 * 5)
        XCTAssertEqual(Array(bottleneck.suffix(5)), [
            "layer1.1.bn3.weight", "layer1.1.bn3.bias", "layer1.1.bn3.running_mean", "layer1.1.bn3.running_var",
            "layer1.1.bn3.num_batches_tracked",
        ])
    }
}
