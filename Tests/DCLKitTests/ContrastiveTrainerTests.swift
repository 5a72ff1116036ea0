import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// The training step and its checkpoint state: saving, loading into a fresh trainer, and
/// continuing exactly.
final class ContrastiveTrainerTests: XCTestCase {
    private func makeTrainer(_ method: TrainerConfiguration.Method, seed: UInt64) throws -> ContrastiveTrainer {
        let head: EncoderConfiguration.Head = { if case .pair = method { return .simclr } else { return .moco } }()
        let encoder = Encoder(configuration: try EncoderConfiguration(architecture: .resnet18, stem: .cifar, width: 0.0625,
                                                                      head: head, headOutput: 8), seed: seed)
        var configuration = TrainerConfiguration(method: method, temperature: 0.5, optimizer: .sgd, learningRate: 0.05,
                                                 momentum: 0.9, weightDecay: 5e-4, warmupEpochs: 0, epochs: 2,
                                                 batchSize: 4, seed: 3)
        configuration.queueSize = 8
        configuration.shuffleGroups = 2
        configuration.keyMomentum = 0.9
        let trainer = try ContrastiveTrainer(configuration: configuration, encoder: encoder,
                                             pipeline: AugmentPipeline(.simclr(size: 8, blur: 0, normalization: .cifar10)))
        trainer.setSchedule(stepsPerEpoch: 3)
        return trainer
    }

    private let images: [UInt8] = {
        var rng = CounterRNG(seed: 9)
        return (0..<(4 * 8 * 8 * 3)).map { _ in UInt8(rng.below(256)) }
    }()

    private func step(_ trainer: ContrastiveTrainer, epoch: Int) -> Double {
        let indices = [0, 1, 2, 3]
        return images.withUnsafeBufferPointer { pixels in
            indices.withUnsafeBufferPointer {
                trainer.step(images: pixels.baseAddress!, count: 4, height: 8, width: 8, channels: 3,
                             indices: $0.baseAddress!, epoch: epoch)
            }
        }
    }

    /// Four steps, save, load into a trainer built from another seed, then one more step on each:
    /// the same loss and the same weights, for both method families.
    func test_checkpoint_round_trip_continues_exactly() throws {
        for method in [TrainerConfiguration.Method.pair(.dcl), .momentum(.infonce, mixing: false)] {
            let original = try makeTrainer(method, seed: 1)
            // MoCo's first K/B = 2 steps only fill the queue (NaN loss, no update).
            for _ in 0..<4 { _ = step(original, epoch: 0) }
            XCTAssertGreaterThanOrEqual(original.stepCount, 2)
            let path = "/tmp/dclkit-trainer-test-\(getpid()).safetensors"
            defer { unlink(path) }
            try Safetensors.write(original.stateTensors(), metadata: [:], to: FilePath(path))

            let restored = try makeTrainer(method, seed: 2)
            try restored.loadState(try Safetensors.read(from: FilePath(path)).tensors, stepCount: original.stepCount)
            XCTAssertEqual(restored.stepCount, original.stepCount)
            XCTAssertEqual(restored.learningRate, original.learningRate)
            XCTAssertEqual(step(restored, epoch: 1), step(original, epoch: 1), "\(method)")
            let a = original.encoder.stateDict(), b = restored.encoder.stateDict()
            for (x, y) in zip(a, b) { XCTAssertEqual(x.tensor.toArray(), y.tensor.toArray(), x.name) }
        }
    }

    /// A checkpoint of the other family does not load: the MoCo state is missing.
    func test_loading_a_pair_checkpoint_into_a_moco_trainer_fails() throws {
        let pair = try makeTrainer(.pair(.dcl), seed: 1)
        let moco = try makeTrainer(.momentum(.infonce, mixing: false), seed: 1)
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in pair.stateTensors() { tensors[name] = tensor }
        XCTAssertThrowsError(try moco.loadState(tensors, stepCount: 0))
    }
}
