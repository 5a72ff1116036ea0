import XCTest
@testable import DCLKit

/// The three-layer projection heads (`barlowtwins`, `simsiam`): torch Sequential names, the state
/// count computed without building, and the gradient of the whole encoder against finite
/// differences.
final class ProjectionHeadTests: XCTestCase {
    private func encoder(head: EncoderConfiguration.Head?) throws -> Encoder {
        let configuration = try EncoderConfiguration(architecture: .resnet18, stem: .cifar, width: 1.0 / 16, head: head,
                                                     headHidden: 8, headOutput: 4)
        return Encoder(configuration: configuration, seed: 1, workspace: Workspace(columnElements: 4096))
    }

    func test_three_layer_heads_are_named_as_a_torch_sequential() throws {
        let bn = { (k: Int) in ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map { "head.\(k).\($0)" } }
        let barlow = try encoder(head: .barlowtwins).stateDict().map(\.name).filter { $0.hasPrefix("head.") }
        XCTAssertEqual(barlow, ["head.0.weight"] + bn(1) + ["head.3.weight"] + bn(4) + ["head.6.weight"])
        let simsiam = try encoder(head: .simsiam).stateDict().map(\.name).filter { $0.hasPrefix("head.") }
        XCTAssertEqual(simsiam, ["head.0.weight"] + bn(1) + ["head.3.weight"] + bn(4) + ["head.6.weight"] + bn(7))
        XCTAssertEqual(try encoder(head: .simsiam).batchNorms.count, try encoder(head: nil).batchNorms.count + 3)
    }

    func test_state_count_from_the_configuration_matches_built_encoders() throws {
        for architecture in [EncoderConfiguration.Architecture.resnet18, .resnet50] {
            for head in [EncoderConfiguration.Head.barlowtwins, .simsiam] {
                let configuration = try EncoderConfiguration(architecture: architecture, width: 0.0625, head: head,
                                                             headHidden: 24, headOutput: 8)
                let built = Encoder(configuration: configuration).stateEntries.reduce(0) { $0 + $1.tensor.count }
                XCTAssertEqual(Encoder.stateCount(configuration), built, "\(architecture) \(head)")
            }
        }
    }

    /// L = Σ r ⊙ z through trunk and head in training mode (see `GradientCheck`; β shifted to 2).
    func test_gradients_match_finite_differences() throws {
        for head in [EncoderConfiguration.Head.barlowtwins, .simsiam] {
            let enc = try encoder(head: head)
            let stateNames = Set(enc.stateEntries.map { $0.name })
            for (name, p) in enc.namedParameters where name.hasSuffix(".bias") {
                if stateNames.contains(name.dropLast(4) + "running_mean") { p.value.fill(2) }
            }
            let x = GradientCheck.random([4, 16, 16, 3], seed: 91)
            let z0 = enc.forward(x, training: true).projection!
            let r = GradientCheck.random(z0.shape, seed: 92)
            let loss = { GradientCheck.weightedSum(enc.forward(x, training: true).projection!, r) }
            enc.forward(x, training: true)
            let dx = enc.backward(projectionGradient: r, featureGradient: nil).clone()
            GradientCheck.check(x, gradient: dx, samples: 8, precision: GradientCheck.network, "\(head) dx", loss)
            let parameters = Dictionary(uniqueKeysWithValues: enc.namedParameters.map { ($0.name, $0.parameter) })
            let names = ["layer4.1.conv2.weight", "head.0.weight", "head.1.weight", "head.3.weight", "head.4.bias", "head.6.weight"]
                + (head == .simsiam ? ["head.7.weight", "head.7.bias"] : [])
            for name in names {
                let p = try XCTUnwrap(parameters[name], name)
                GradientCheck.check(p.value, gradient: p.gradient, samples: 4, precision: GradientCheck.network, "\(head) \(name)", loss)
            }
        }
    }
}
