import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// What the tests of the baseline methods (BYOL, SimSiam, Barlow Twins, VICReg) share: a tiny run
/// (width 0.0625, 8×8 views, batch 4, 8 images: two steps an epoch), the method's whole gradient
/// against finite differences of its loss, an exact resume mid-epoch, and two in-process ranks
/// against one process.
enum BaselineMethodSupport {
    /// A tiny run of `method`; `extra` adds JSON members (", \"barlow_lambda\": 0.1").
    static func configuration(_ method: String, extra: String = "") throws -> RunConfiguration {
        try RunConfiguration(json: #"""
        {"method": "\#(method)", "width": 0.0625, "head_dims": [16, 8], "batch_size": 4, "image_size": 8,
         "epochs": 2, "lr": 0.05, "warmup_epochs": 0, "seed": 3, "augment": {"pipeline": "simclr", "blur": 0}\#(extra)}
        """#)
    }

    /// A trainer of the tiny run of `method` and its method as `type`.
    static func trainer<Method: TrainingMethod>(_ method: String, as type: Method.Type, extra: String = "",
                                                file: StaticString = #filePath, line: UInt = #line) throws -> (ContrastiveTrainer, Method) {
        let trainer = try ContrastiveTrainer(configuration: try configuration(method, extra: extra))
        return (trainer, try XCTUnwrap(trainer.method as? Method, file: file, line: line))
    }

    /// 8 random uint8 images, 8 × 8 × 3.
    static let images: [UInt8] = {
        var rng = CounterRNG(seed: 11)
        return (0..<(8 * 8 * 8 * 3)).map { _ in UInt8(rng.below(256)) }
    }()

    /// The run's next batch of `images`.
    static func step(_ trainer: ContrastiveTrainer) throws -> ContrastiveTrainer.StepOutcome {
        try images.withUnsafeBufferPointer { try trainer.step(dataset: $0.baseAddress!, count: 8, height: 8, width: 8, channels: 3) }
    }

    /// The method's loss of fixed views (4 images, both views) with the encoder's BatchNorm β
    /// shifted to 2 (few ReLU inputs near their kink), and the gradients it accumulates into
    /// `parameters` checked against central differences of that loss (`GradientCheck.network`).
    static func checkGradient(_ trainer: ContrastiveTrainer, parameters: [(name: String, parameter: Parameter)],
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let encoder = trainer.encoder, method = trainer.method
        let stateNames = Set(encoder.stateEntries.map { $0.name })
        for (name, p) in encoder.namedParameters where name.hasSuffix(".bias") {
            if stateNames.contains(name.dropLast(4) + "running_mean") { p.value.fill(2) }
        }
        let views = GradientCheck.random([8, 8, 8, 3], seed: 21)
        var timings = StepTimings()
        let loss = { () -> Double in
            (try? method.accumulateGradients(views: views, count: 4, epoch: 0, step: 0, timings: &timings)).flatMap { $0 } ?? .nan
        }
        for p in encoder.parameters + method.parameters + method.constantRateParameters { p.zeroGradient() }
        XCTAssertTrue(loss().isFinite, file: file, line: line)
        let gradients = parameters.map { $0.parameter.gradient.clone() }
        for ((name, p), gradient) in zip(parameters, gradients) {
            XCTAssertGreaterThan(gradient.toArray().map(abs).max() ?? 0, 0, "\(name) has no gradient", file: file, line: line)
            GradientCheck.check(p.value, gradient: gradient, samples: 4, precision: GradientCheck.network, name,
                                file: file, line: line, loss)
        }
    }

    /// Three steps (mid-epoch 2), save, resume in a new trainer, two more steps on each: the same
    /// outcomes and, bit for bit, the same checkpoint tensors.
    static func checkResumeIsExact(_ configuration: RunConfiguration, file: StaticString = #filePath, line: UInt = #line) throws {
        let original = try ContrastiveTrainer(configuration: configuration)
        for _ in 0..<3 { XCTAssertTrue(try step(original).loss.isFinite, file: file, line: line) }
        let path = "/tmp/dclkit-baseline-test-\(getpid())-\(configuration.method.name).safetensors"
        defer { unlink(path) }
        try original.save(to: FilePath(path))
        let restored = try ContrastiveTrainer.resume(from: FilePath(path))
        for _ in 0..<2 { XCTAssertEqual(try step(restored).untimed, try step(original).untimed, file: file, line: line) }
        let a = original.stateTensors(), b = restored.stateTensors()
        XCTAssertEqual(a.map(\.name), b.map(\.name), file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x.tensor.toArray(), y.tensor.toArray(), x.name, file: file, line: line) }
    }

    /// One step of the configuration (with `sync_bn`) on two in-process ranks against one process
    /// on the same global batch: the same loss (1e-4 relative) and checkpoint tensors (each within
    /// 1e-3 of its largest value plus 1e-6: float32 sums in another order, see test_distributed_training.py),
    /// and bitwise the same state on both ranks. Returns the state of one process.
    @discardableResult
    static func checkTwoRanksEqualOneProcess(_ configuration: RunConfiguration, file: StaticString = #filePath,
                                             line: UInt = #line) throws -> [String: [Float]] {
        let alone = try ContrastiveTrainer(configuration: configuration)
        let initial = Dictionary(uniqueKeysWithValues: alone.stateTensors().map { ($0.name, $0.tensor.toArray()) })
        let expected = try step(alone)
        let state = Dictionary(uniqueKeysWithValues: alone.stateTensors().map { ($0.name, $0.tensor.toArray()) })
        let ranks = RankSlots(2)
        let errors = ThreadGroup(size: 2).run { comm in
            let trainer = try ContrastiveTrainer(configuration: configuration, communicator: comm)
            let outcome = try step(trainer)
            ranks.slots[comm.rank] = (outcome.loss, trainer.stateTensors().map { ($0.name, $0.tensor.toArray()) },
                                      trainer.stateHash(prefix: ""))
        }
        XCTAssertEqual(errors.compactMap { $0 }.count, 0, "\(errors)", file: file, line: line)
        guard let zero = ranks.slots[0], let one = ranks.slots[1] else { XCTFail("a rank failed", file: file, line: line); return state }
        XCTAssertEqual(zero.hash, one.hash, "the ranks' states differ", file: file, line: line)
        XCTAssertEqual(zero.loss, expected.loss, accuracy: 1e-4 * abs(expected.loss), file: file, line: line)
        var moved = false
        for (name, values) in zero.state {
            let reference = try XCTUnwrap(state[name], name, file: file, line: line)
            let scale = reference.map(abs).max() ?? 0
            let deviation = zip(values, reference).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(deviation, 1e-3 * scale + 1e-6, name, file: file, line: line)
            if name.hasPrefix("encoder.") && values != initial[name] { moved = true }
        }
        XCTAssertTrue(moved, "the step did not move the encoder", file: file, line: line)
        return state
    }
}

/// One result slot per rank thread; each thread writes only its own slot.
final class RankSlots: @unchecked Sendable {
    typealias Result = (loss: Double, state: [(String, [Float])], hash: UInt64)
    let slots: UnsafeMutablePointer<Result?>

    init(_ count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit { slots.deallocate() }
}
