import XCTest
@testable import DCLKit

/// BYOL through the trainer: defaults, the EMA schedule τ_k, the online gradient against finite
/// differences (the target does not depend on the online weights, so the loss's differences are
/// the gradient with the target held fixed), no gradient into the target, the target update the
/// trainer applies, exact resume, and two ranks against one process.
final class BYOLMethodTests: XCTestCase {
    private func trainer(_ extra: String = "") throws -> (ContrastiveTrainer, BYOLMethod) {
        try BaselineMethodSupport.trainer("byol", as: BYOLMethod.self, extra: extra)
    }

    func test_defaults_follow_the_paper_scaled_with_the_features() throws {
        let run = try RunConfiguration(json: #"{"method": "byol", "batch_size": 256}"#)
        XCTAssertEqual(run.encoder.head, .simclr)
        XCTAssertEqual([run.encoder.headHidden, run.encoder.headOutput], [1024, 256], "[2F, 256] at ResNet-18 width 1")
        XCTAssertEqual(run.learningRate, 0.06, accuracy: 1e-12)
        XCTAssertEqual(run.settings(as: BYOLSettings.self)?.baseMomentum, 0.996)
        let resnet50 = try RunConfiguration(json: #"{"method": "byol", "arch": "resnet50", "head_dims": null}"#)
        XCTAssertEqual([resnet50.encoder.headHidden, resnet50.encoder.headOutput], [4096, 256], "the paper's projector")
        let given = try RunConfiguration(json: #"{"method": "byol", "head_dims": [64, 32], "target_momentum": 0.99}"#)
        XCTAssertEqual([given.encoder.headHidden, given.encoder.headOutput], [64, 32])
        XCTAssertEqual(given.settings(as: BYOLSettings.self)?.baseMomentum, 0.99)
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "byol", "target_momentum": 1}"#))
    }

    func test_target_momentum_rises_from_the_base_to_one_on_a_cosine() {
        XCTAssertEqual(BYOLMethod.targetMomentum(step: 0, totalSteps: 1000, base: 0.996), 0.996, accuracy: 1e-15)
        XCTAssertEqual(BYOLMethod.targetMomentum(step: 1000, totalSteps: 1000, base: 0.996), 1, accuracy: 1e-15)
        XCTAssertEqual(BYOLMethod.targetMomentum(step: 500, totalSteps: 1000, base: 0.996), 0.998, accuracy: 1e-15)
        XCTAssertEqual(BYOLMethod.targetMomentum(step: 250, totalSteps: 1000, base: 0.9), 1 - 0.1 * (0.5.squareRoot() / 2 + 0.5),
                       accuracy: 1e-15)
        XCTAssertEqual(BYOLMethod.targetMomentum(step: 2000, totalSteps: 1000, base: 0.996), 1, "past K it stays at 1")
    }

    func test_online_gradient_matches_finite_differences_with_the_target_fixed() throws {
        let (trainer, method) = try trainer()
        let named = Dictionary(uniqueKeysWithValues: trainer.encoder.namedParameters.map { ($0.name, $0.parameter) })
        let predictor = method.predictor.stateEntries().compactMap { e in e.parameter.map { ("predictor." + e.name, $0) } }
        try BaselineMethodSupport.checkGradient(trainer, parameters: ["head.3.weight", "head.0.weight", "layer4.1.conv2.weight"]
            .map { ($0, named[$0]!) } + predictor.filter { $0.0.hasSuffix("weight") })
    }

    /// A forward and backward leaves the target's parameters as they were, with zero gradients,
    /// and the target is not among the optimised parameters.
    func test_no_gradient_reaches_the_target_network() throws {
        let (trainer, method) = try trainer()
        let before = method.targetEncoder.namedParameters.map { $0.parameter.value.toArray() }
        var timings = StepTimings()
        _ = try method.accumulateGradients(views: GradientCheck.random([8, 8, 8, 3], seed: 41), count: 4, epoch: 0, step: 0,
                                           timings: &timings)
        for ((name, p), old) in zip(method.targetEncoder.namedParameters, before) {
            XCTAssertEqual(p.value.toArray(), old, name)
            XCTAssertTrue(p.gradient.toArray().allSatisfy { $0 == 0 }, "gradient leaked into the target's \(name)")
        }
        let optimised = Set(trainer.optimizer.parameters.map(ObjectIdentifier.init))
        XCTAssertFalse(method.targetEncoder.parameters.contains { optimised.contains(ObjectIdentifier($0)) })
        XCTAssertGreaterThan(trainer.encoder.parameters[0].gradient.toArray().map(abs).max() ?? 0, 0)
    }

    /// The target's forward runs in the online encoder's layers and buffers: its projections are
    /// bit for bit those of a copy of the target network running its own forward, and its running
    /// statistics move alike.
    func test_target_projections_are_the_target_networks_own_forward() throws {
        let (trainer, method) = try trainer()
        let reference = Encoder(configuration: trainer.encoder.configuration)
        let views = GradientCheck.random([8, 8, 8, 3], seed: 42)
        for step in 0..<2 {
            try reference.copyState(from: method.targetEncoder)
            var timings = StepTimings()
            _ = try method.accumulateGradients(views: views, count: 4, epoch: 0, step: step, timings: &timings)
            XCTAssertEqual(method.targetProjections.toArray(), reference.forward(views, training: true).projection!.toArray())
            XCTAssertEqual(method.targetEncoder.stateDict().map { $0.tensor.toArray() }, reference.stateDict().map { $0.tensor.toArray() })
            method.finishStep(step: step, totalSteps: 1)
        }
    }

    /// After the trainer's step k of K = 4: ξ = τ_k ξ_before + (1 − τ_k) θ_after for every parameter
    /// (the running statistics move by the target's own forward first, then by the same update).
    func test_trainer_updates_the_target_with_the_scheduled_momentum() throws {
        let (trainer, method) = try trainer(#", "target_momentum": 0.5"#)
        XCTAssertEqual(trainer.schedule.totalSteps, 2, "before the first step on a dataset, one step per epoch")
        for k in 0..<3 {
            let before = method.targetEncoder.parameters.map { $0.value.toArray() }
            _ = try BaselineMethodSupport.step(trainer)
            XCTAssertEqual(trainer.schedule.totalSteps, 4)
            let tau = BYOLMethod.targetMomentum(step: k, totalSteps: 4, base: 0.5)
            XCTAssertEqual(method.lastMomentum ?? .nan, tau, accuracy: 1e-15)
            let online = trainer.encoder.parameters.map { $0.value.toArray() }
            for ((old, new), theta) in zip(zip(before, method.targetEncoder.parameters.map { $0.value.toArray() }), online) {
                for i in 0..<old.count {
                    XCTAssertEqual(new[i], Float(tau) * old[i] + Float(1 - tau) * theta[i], accuracy: 1e-6 * max(1, abs(theta[i])))
                }
            }
        }
        XCTAssertEqual(method.lastMomentum ?? 0, 1 - 0.5 * (cos(Double.pi / 2) + 1) / 2, accuracy: 1e-12)
    }

    func test_resume_mid_epoch_is_exact() throws {
        try BaselineMethodSupport.checkResumeIsExact(try BaselineMethodSupport.configuration("byol", extra: #", "target_momentum": 0.9"#))
    }

    func test_two_ranks_compute_what_one_process_computes() throws {
        let state = try BaselineMethodSupport.checkTwoRanksEqualOneProcess(
            try BaselineMethodSupport.configuration("byol", extra: #", "sync_bn": true, "target_momentum": 0.9"#))
        XCTAssertNotNil(state["target_encoder.head.3.weight"])
        XCTAssertNotNil(state["predictor.head.0.weight"])
    }

    func test_resume_mid_epoch_is_exact_with_per_view_batchnorm() throws {
        try BaselineMethodSupport.checkResumeIsExact(
            try BaselineMethodSupport.configuration("byol", extra: #", "target_momentum": 0.9, "view_batchnorm": "per_view""#))
    }

    /// Per view with SyncBN: each view's statistics over both ranks' rows of that view.
    func test_two_ranks_compute_what_one_process_computes_with_per_view_batchnorm() throws {
        try BaselineMethodSupport.checkTwoRanksEqualOneProcess(
            try BaselineMethodSupport.configuration("byol", extra: #", "sync_bn": true, "target_momentum": 0.9, "view_batchnorm": "per_view""#))
    }
}
