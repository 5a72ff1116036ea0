import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// The trainer owns the run: it builds everything from one configuration, walks the epochs in
/// seeded permutations, records the history, zeroes the gradients the methods accumulate, and
/// writes and reads the whole checkpoint so that a resumed run continues exactly.
final class ContrastiveTrainerTests: XCTestCase {
    /// A tiny run: 8 images of 8×8 in batches of 4 (2 steps per epoch), a 1/16-width ResNet-18.
    /// MoCo-family methods add a queue of 8 keys, 2 shuffle-BN groups and m = 0.9.
    private func configuration(_ method: String, extra: String = "") throws -> RunConfiguration {
        let moco = MethodRegistry.entry(named: method)?.family == "moco"
            ? #", "queue_size": 8, "shuffle_bn_groups": 2, "momentum_encoder": 0.9"# : ""
        return try RunConfiguration(json: #"""
        {"method": "\#(method)", "width": 0.0625, "head_dims": [16, 8], "batch_size": 4, "image_size": 8,
         "epochs": 2, "lr": 0.05, "temperature": 0.5, "warmup_epochs": 0, "seed": 3\#(moco)\#(extra),
         "augment": {"pipeline": "simclr", "blur": 0}}
        """#)
    }

    private let images: [UInt8] = {
        var rng = CounterRNG(seed: 9)
        return (0..<(8 * 8 * 8 * 3)).map { _ in UInt8(rng.below(256)) }
    }()

    private func step(_ trainer: ContrastiveTrainer) throws -> ContrastiveTrainer.StepOutcome {
        try images.withUnsafeBufferPointer {
            try trainer.step(dataset: $0.baseAddress!, count: 8, height: 8, width: 8, channels: 3)
        }
    }

    /// Three steps (mid-epoch 2), save, resume in a new trainer, one more step on each: the same
    /// outcome, weights, progress and history, for both method families.
    func test_resume_mid_epoch_continues_exactly() throws {
        for method in ["dcl", "moco"] {
            let original = try ContrastiveTrainer(configuration: try configuration(method))
            // MoCo's first K/B = 2 steps only fill the queue (NaN loss, no update).
            for _ in 0..<3 { _ = try step(original) }
            XCTAssertEqual(original.progress.epoch, 1)
            XCTAssertEqual(original.progress.batch, 1)
            let path = "/tmp/dclkit-trainer-test-\(getpid())-\(method).safetensors"
            defer { unlink(path) }
            try original.save(to: FilePath(path))

            let restored = try ContrastiveTrainer.resume(from: FilePath(path))
            XCTAssertEqual(restored.configuration.json, original.configuration.json)
            XCTAssertEqual(restored.progress, original.progress)
            XCTAssertEqual(restored.stepCount, original.stepCount)
            XCTAssertEqual(try step(restored).untimed, try step(original).untimed, method)
            // The epoch closes the same way (its seconds differ: they are measured).
            XCTAssertEqual(restored.progress.history.map(\.loss.bitPattern), original.progress.history.map(\.loss.bitPattern))
            XCTAssertEqual(restored.progress.history.map(\.learningRate), original.progress.history.map(\.learningRate))
            XCTAssertEqual(restored.progress.history.count, 2)
            for (x, y) in zip(original.encoder.stateDict(), restored.encoder.stateDict()) {
                XCTAssertEqual(x.tensor.toArray(), y.tensor.toArray(), x.name)
            }
        }
    }

    /// An epoch's record is the mean loss of its updating steps, with the warm-up steps counted
    /// apart and the next step's learning rate.
    func test_history_records_each_epoch() throws {
        let trainer = try ContrastiveTrainer(configuration: try configuration("moco"))
        let outcomes = [try step(trainer), try step(trainer), try step(trainer), try step(trainer)]
        XCTAssertEqual(outcomes.map(\.updated), [false, false, true, true])
        XCTAssertEqual(outcomes.map(\.epoch), [0, 1, 1, 2])
        let history = trainer.progress.history
        XCTAssertEqual(history.count, 2)
        XCTAssertTrue(history[0].loss.isNaN)
        XCTAssertEqual(history[0].warmupSteps, 2)
        XCTAssertEqual(history[1].loss, (outcomes[2].loss + outcomes[3].loss) / 2, accuracy: 1e-12)
        XCTAssertEqual(history[1].learningRate, trainer.learningRate)
        XCTAssertNil(outcomes[2].closedEpoch)
        XCTAssertEqual(outcomes[3].closedEpoch, history[1], "the step that closes an epoch returns its record")
        guard case .array(let entries) = trainer.progress.historyJSON else { return XCTFail("history is not an array") }
        XCTAssertEqual(entries[0]["loss"], .null)
        XCTAssertNil(entries[0]["npc_mean"], "warm-up steps observe nothing")
        for name in ProjectionDiagnostics.names {
            guard case .number(let value)? = entries[1][name] else { return XCTFail("epoch 2 has no \(name)") }
            XCTAssertTrue(value.isFinite, name)
        }
    }

    /// The kNN monitor runs when an epoch closes, every `every` epochs and at the last epoch,
    /// with the features `embed` gives.
    func test_monitor_records_knn_top1_when_due() throws {
        let trainer = try ContrastiveTrainer(configuration: try configuration("dcl"))
        let labels = (0..<8).map { $0 % 2 }
        let split = images.withUnsafeBufferPointer {
            EpochEvaluation.Split(pixels: $0.baseAddress!, height: 8, width: 8, channels: 3, labels: labels)
        }
        trainer.monitor = EpochEvaluation(train: split, test: split, classes: 2, neighbours: 3, every: 2, lastEpoch: 3)
        var records: [EpochRecord] = []
        for _ in 0..<6 { if let closed = try step(trainer).closedEpoch { records.append(closed) } }
        XCTAssertEqual(records.map { $0.json["knn_top1"] != nil }, [false, true, true])
        guard case .number(let top1)? = records[2].json["knn_top1"] else { return XCTFail("no knn_top1") }
        XCTAssertEqual(top1, try trainer.knnTopOne(trainer.monitor!))
    }

    /// Each epoch visits every image once, in an order keyed by (seed, epoch).
    func test_epochs_visit_seeded_permutations() {
        let a = ContrastiveTrainer.permutation(100, seed: 1, epoch: 0)
        XCTAssertEqual(a.sorted(), Array(0..<100))
        XCTAssertEqual(a, ContrastiveTrainer.permutation(100, seed: 1, epoch: 0))
        XCTAssertNotEqual(a, ContrastiveTrainer.permutation(100, seed: 1, epoch: 1))
        XCTAssertNotEqual(a, ContrastiveTrainer.permutation(100, seed: 2, epoch: 0))
    }

    /// A dataset too small for one batch, or of another epoch length than the run's, is refused.
    func test_bad_datasets_are_refused() throws {
        let trainer = try ContrastiveTrainer(configuration: try configuration("dcl"))
        XCTAssertThrowsError(try images.withUnsafeBufferPointer {
            try trainer.step(dataset: $0.baseAddress!, count: 3, height: 8, width: 8, channels: 3)
        })
        _ = try step(trainer)
        XCTAssertThrowsError(try images.withUnsafeBufferPointer {
            try trainer.step(dataset: $0.baseAddress!, count: 4, height: 8, width: 8, channels: 3)
        })
    }

    /// Methods add to the gradients (twice the same batch gives twice the gradient); the trainer
    /// zeroes them first (gradients left over before a step change nothing).
    func test_methods_accumulate_and_the_trainer_zeroes() throws {
        var rng = CounterRNG(seed: 4)
        let values = 4 * 8 * 8 * 3
        let v0 = (0..<values).map { _ in Float(rng.normal()) }, v1 = (0..<values).map { _ in Float(rng.normal()) }
        let views = Tensor(shape: [8, 8, 8, 3], values: v0 + v1)
        let probe = try ContrastiveTrainer(configuration: try configuration("dcl"))
        var timings = StepTimings()
        probe.encoder.zeroGradients()
        _ = try probe.method.accumulateGradients(views: views, count: 4, epoch: 0, step: 0, timings: &timings)
        let once = probe.encoder.parameters.map { $0.gradient.toArray() }
        _ = try probe.method.accumulateGradients(views: views, count: 4, epoch: 0, step: 0, timings: &timings)
        for (parameter, first) in zip(probe.encoder.parameters, once) {
            for (g, g1) in zip(parameter.gradient.toArray(), first) { XCTAssertEqual(g, 2 * g1, accuracy: 1e-5 + 1e-4 * abs(g1)) }
        }

        let clean = try ContrastiveTrainer(configuration: try configuration("dcl"))
        let dirty = try ContrastiveTrainer(configuration: try configuration("dcl"))
        for p in dirty.encoder.parameters { p.gradient.fill(1000) }
        XCTAssertEqual(try clean.step(view0: v0, view1: v1, count: 4, size: 8, epoch: 0),
                       try dirty.step(view0: v0, view1: v1, count: 4, size: 8, epoch: 0))
        for (x, y) in zip(clean.encoder.stateDict(), dirty.encoder.stateDict()) {
            XCTAssertEqual(x.tensor.toArray(), y.tensor.toArray(), x.name)
        }
    }

    /// `view_batchnorm` "per_view": a DCL step's loss, gradients and running statistics are those
    /// of the encoder called once per view (view 0, then view 1) with the loss's gradient of each
    /// view's rows; "joint" (the default) differs from it.
    func test_a_per_view_step_is_the_encoder_called_once_per_view() throws {
        var rng = CounterRNG(seed: 5)
        let n = 4, values = n * 8 * 8 * 3
        let v0 = (0..<values).map { _ in Float(rng.normal()) }, v1 = (0..<values).map { _ in 0.5 * Float(rng.normal()) + 1 }
        let run = try configuration("dcl", extra: #", "view_batchnorm": "per_view""#)
        XCTAssertEqual(run.viewBatchNorm, .perView)
        let trainer = try ContrastiveTrainer(configuration: run)
        let outcome = try trainer.step(view0: v0, view1: v1, count: n, size: 8, epoch: 0)

        let reference = Encoder(configuration: run.encoder, seed: run.seed)
        let z = Tensor(shape: [2 * n, 8])
        var views: [Tensor] = []
        for (k, view) in [v0, v1].enumerated() {
            views.append(Tensor(shape: [n, 8, 8, 3], values: view))
            (z.data + k * n * 8).update(from: reference.forward(views[k], training: true).projection!.data, count: n * 8)
        }
        let dz = Tensor(shape: z.shape)
        let loss = PairContrastiveLoss(objective: .dcl, temperature: 0.5).compute(z.data, pairs: n, dim: 8, gradient: dz.data)
        XCTAssertEqual(outcome.loss, loss, accuracy: 1e-5 * abs(loss))
        for ((name, a), (_, b)) in zip(trainer.encoder.namedBuffers, reference.namedBuffers) {
            for (x, y) in zip(a.toArray(), b.toArray()) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(y)), name) }
        }
        let expected = Encoder(configuration: run.encoder, seed: run.seed)
        for k in 0..<2 {
            expected.forward(views[k], training: true)
            let gradient = Tensor(shape: [n, 8], values: Array(dz.toArray()[(k * n * 8)..<((k + 1) * n * 8)]))
            expected.accumulateGradients(projectionGradient: gradient, featureGradient: nil)
        }
        for ((name, a), (_, b)) in zip(trainer.encoder.namedParameters, expected.namedParameters) {
            let scale = b.gradient.toArray().map(abs).max() ?? 0
            for (x, y) in zip(a.gradient.toArray(), b.gradient.toArray()) { XCTAssertEqual(x, y, accuracy: 1e-4 * scale + 1e-7, name) }
        }
        let joint = try ContrastiveTrainer(configuration: try configuration("dcl"))
        XCTAssertEqual(joint.configuration.viewBatchNorm, .joint)
        XCTAssertNotEqual(try joint.step(view0: v0, view1: v1, count: n, size: 8, epoch: 0).loss, outcome.loss)
    }

    /// A checkpoint of the other family does not load: the MoCo state is missing.
    func test_loading_a_pair_checkpoint_into_a_moco_trainer_fails() throws {
        let pair = try ContrastiveTrainer(configuration: try configuration("dcl"))
        let moco = try ContrastiveTrainer(configuration: try configuration("moco"))
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in pair.stateTensors() { tensors[name] = tensor }
        XCTAssertThrowsError(try moco.loadState(tensors, stepCount: 0))
    }
}

extension ContrastiveTrainer.StepOutcome {
    /// The outcome with the closed epoch's measured times zeroed: what a resumed run must repeat exactly.
    var untimed: Self {
        var copy = self
        copy.closedEpoch?.seconds = 0
        copy.closedEpoch?.imagesPerSecond = 0
        return copy
    }
}
