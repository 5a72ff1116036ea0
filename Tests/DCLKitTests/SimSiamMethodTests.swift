import XCTest
@testable import DCLKit

/// SimSiam through the trainer: defaults, the predictor's gradient against finite differences,
/// the encoder's gradient with the targets held fixed (the stop-gradient), the predictor's rate
/// held at the peak while the encoder's decays, exact resume, and two ranks against one process.
final class SimSiamMethodTests: XCTestCase {
    private func trainer(_ extra: String = "") throws -> (ContrastiveTrainer, SimSiamMethod) {
        try BaselineMethodSupport.trainer("simsiam", as: SimSiamMethod.self, extra: extra)
    }

    func test_defaults_follow_the_paper_scaled_with_the_features() throws {
        let run = try RunConfiguration(json: #"{"method": "simsiam", "batch_size": 512}"#)
        XCTAssertEqual(run.encoder.head, .simsiam)
        XCTAssertEqual([run.encoder.headHidden, run.encoder.headOutput], [512, 512], "[F, F] at ResNet-18 width 1")
        XCTAssertEqual(run.learningRate, 0.12, accuracy: 1e-12)
        let resnet50 = try RunConfiguration(json: #"{"method": "simsiam", "arch": "resnet50"}"#)
        XCTAssertEqual([resnet50.encoder.headHidden, resnet50.encoder.headOutput], [2048, 2048])
        let tiny = try EncoderConfiguration(width: 0.0625, head: .simsiam, headHidden: 8, headOutput: resnet50.encoder.headOutput)
        let predictor = SimSiamMethod(encoder: Encoder(configuration: tiny), seed: 0).predictor
        XCTAssertEqual([predictor.first.inFeatures, predictor.first.outFeatures, predictor.last.outFeatures], [2048, 512, 2048],
                       "the paper's predictor")
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "simsiam", "temperature": 0.1}"#))
    }

    /// The targets do not depend on the predictor, so the loss's finite differences are its gradient.
    func test_predictor_gradient_matches_finite_differences() throws {
        let (trainer, method) = try trainer()
        let named = method.predictor.stateEntries().compactMap { e in e.parameter.map { ("predictor." + e.name, $0) } }
        try BaselineMethodSupport.checkGradient(trainer, parameters: named)
    }

    /// The encoder's gradient is that of ½ D(p₁(θ), z₂⁰) + ½ D(p₂(θ), z₁⁰) with the targets z⁰
    /// frozen at the current weights, and not that of the loss with the targets moving too (the
    /// test fails when gradient leaks into the stopped branch). The output BatchNorm's β shows it
    /// best: the predictor's own BatchNorm removes a shift of z, so with the targets stopped its
    /// gradient is zero, while moving targets give it one (about 0.09 here).
    func test_encoder_gradient_holds_the_targets_fixed() throws {
        let (trainer, method) = try trainer()
        let encoder = trainer.encoder
        let stateNames = Set(encoder.stateEntries.map { $0.name })
        for (name, p) in encoder.namedParameters where name.hasSuffix(".bias") {
            if stateNames.contains(name.dropLast(4) + "running_mean") { p.value.fill(2) }
        }
        let views = GradientCheck.random([8, 8, 8, 3], seed: 31)
        var timings = StepTimings()
        encoder.zeroGradients()
        _ = try method.accumulateGradients(views: views, count: 4, epoch: 0, step: 0, timings: &timings)
        let frozen = encoder.forward(views, training: true).projection!.clone()
        let reference = CosinePredictionLoss(form: .negativeCosine)
        var scratch = [Float](repeating: 0, count: frozen.count)
        let d = frozen.shape[1]
        let stopped = { () -> Double in
            let p = method.predictor.forward(encoder.forward(views, training: true).projection!, training: true)
            return scratch.withUnsafeMutableBufferPointer { g in
                reference.computeSymmetric(predictions: p.data, p.data + 4 * d, targets: frozen.data, frozen.data + 4 * d,
                                           rows: 4, dim: d, gradients: g.baseAddress!, g.baseAddress! + 4 * d)
            }
        }
        let whole = { () -> Double in
            let z = encoder.forward(views, training: true).projection!.clone()
            let p = method.predictor.forward(z, training: true)
            return scratch.withUnsafeMutableBufferPointer { g in
                reference.computeSymmetric(predictions: p.data, p.data + 4 * d, targets: z.data, z.data + 4 * d,
                                           rows: 4, dim: d, gradients: g.baseAddress!, g.baseAddress! + 4 * d)
            }
        }
        let named = Dictionary(uniqueKeysWithValues: encoder.namedParameters.map { ($0.name, $0.parameter) })
        var largestLeak = 0.0
        for name in ["head.7.bias", "head.7.weight", "head.6.weight", "head.0.weight"] {
            let p = try XCTUnwrap(named[name])
            let gradient = p.gradient.clone()
            GradientCheck.check(p.value, gradient: gradient, samples: 4, precision: GradientCheck.network, name, stopped)
            // The loss with moving targets has another gradient: compare a few entries.
            for i in 0..<min(8, p.value.count) {
                let x = p.value[i], h: Float = 3e-3
                p.value[i] = x + h
                let plus = whole()
                p.value[i] = x - h
                let minus = whole()
                p.value[i] = x
                largestLeak = max(largestLeak, abs((plus - minus) / Double(2 * h) - Double(gradient[i])))
            }
        }
        XCTAssertGreaterThan(largestLeak, 0.05, "the moving-target gradient should differ from the stopped one")
    }

    /// SGD without momentum or weight decay: Δw = −rate · g. At step 2 of 4 the encoder's rate
    /// has decayed below the peak; the predictor's is the peak.
    func test_predictor_rate_stays_at_the_peak_while_the_encoders_decays() throws {
        let (trainer, method) = try trainer(#", "momentum": 0, "weight_decay": 0"#)
        for _ in 0..<2 { _ = try BaselineMethodSupport.step(trainer) }
        let encoderWeight = try XCTUnwrap(trainer.encoder.namedParameters.first { $0.name == "head.6.weight" }?.parameter)
        let predictorWeight = method.predictor.last.weight
        let before = (encoderWeight.value.toArray(), predictorWeight.value.toArray())
        let outcome = try BaselineMethodSupport.step(trainer)
        let peak = trainer.configuration.learningRate
        XCTAssertLessThan(outcome.learningRate, 0.75 * peak)
        for (parameter, old, rate) in [(encoderWeight, before.0, outcome.learningRate), (predictorWeight, before.1, peak)] {
            let g = parameter.gradient.toArray(), new = parameter.value.toArray()
            XCTAssertGreaterThan(g.map(abs).max() ?? 0, 0)
            for i in 0..<g.count {
                XCTAssertEqual(new[i], old[i] - Float(rate) * g[i], accuracy: 1e-6 * max(1, abs(old[i])))
            }
        }
        XCTAssertTrue(trainer.optimizer.parameters.suffix(method.constantRateParameters.count)
            .elementsEqual(method.constantRateParameters, by: ===))
    }

    /// `step(learningRate:constantRate:constantFrom:)` is `step(learningRate:)` at each group's rate.
    func test_optimizers_step_the_constant_group_at_its_own_rate() {
        func parameters() -> [Parameter] {
            (0..<2).map { k in
                let p = Parameter(name: "weight", shape: [3], decays: true)
                for i in 0..<3 { p.value[i] = Float(i + 1) * (k == 0 ? 1 : -2); p.gradient[i] = Float(k + 1) * 0.1 * Float(3 - i) }
                return p
            }
        }
        for lars in [false, true] {
            let make = { (p: [Parameter]) -> Optimizer in
                lars ? LARS(parameters: p, momentum: 0.9, weightDecay: 1e-4) : SGD(parameters: p, momentum: 0.9, weightDecay: 1e-4)
            }
            let grouped = parameters(), decayed = parameters(), constant = parameters()
            let (a, b, c) = (make(grouped), make(decayed), make(constant))
            for rate in [0.5, 0.25] {
                a.step(learningRate: rate, constantRate: 0.5, constantFrom: 1)
                b.step(learningRate: rate)
                c.step(learningRate: 0.5)
            }
            XCTAssertEqual(grouped[0].value.toArray(), decayed[0].value.toArray(), "lars \(lars)")
            XCTAssertEqual(grouped[1].value.toArray(), constant[1].value.toArray(), "lars \(lars)")
            XCTAssertNotEqual(decayed[1].value.toArray(), constant[1].value.toArray())
        }
    }

    func test_resume_mid_epoch_is_exact() throws {
        try BaselineMethodSupport.checkResumeIsExact(try BaselineMethodSupport.configuration("simsiam"))
    }

    func test_two_ranks_compute_what_one_process_computes() throws {
        let state = try BaselineMethodSupport.checkTwoRanksEqualOneProcess(
            try BaselineMethodSupport.configuration("simsiam", extra: #", "sync_bn": true"#))
        XCTAssertNotNil(state["predictor.head.0.weight"])
    }
}
