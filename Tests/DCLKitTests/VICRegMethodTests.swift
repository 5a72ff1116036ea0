import XCTest
@testable import DCLKit

/// VICReg through the trainer: defaults and settings, the method's whole gradient against finite
/// differences, exact resume, and two ranks (the loss's statistics over the global batch) against
/// one process.
final class VICRegMethodTests: XCTestCase {
    func test_defaults_and_settings() throws {
        let run = try RunConfiguration(json: #"{"method": "vicreg", "batch_size": 256}"#)
        XCTAssertEqual(run.encoder.head, .barlowtwins)
        XCTAssertEqual([run.encoder.headHidden, run.encoder.headOutput], [2048, 2048])
        XCTAssertEqual(run.learningRate, 0.06, accuracy: 1e-12)
        let defaults = try XCTUnwrap(run.settings(as: VICRegSettings.self))
        XCTAssertEqual([defaults.invariance, defaults.variance, defaults.covariance], [25, 25, 1])
        let set = try RunConfiguration(json: #"{"method": "vicreg", "invariance_weight": 10, "variance_weight": 5, "covariance_weight": 0.5}"#)
        let given = try XCTUnwrap(set.settings(as: VICRegSettings.self))
        XCTAssertEqual([given.invariance, given.variance, given.covariance], [10, 5, 0.5])
        guard let method = try ContrastiveTrainer(configuration: BaselineMethodSupport.configuration("vicreg", extra: #", "variance_weight": 5"#))
            .method as? TwoEmbeddingMethod, let loss = method.loss as? VICRegLoss else { return XCTFail("not VICReg") }
        XCTAssertEqual([loss.invarianceWeight, loss.varianceWeight, loss.covarianceWeight], [25, 5, 1])
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "vicreg", "covariance_weight": -1}"#))
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "barlow-twins", "variance_weight": 1}"#))
    }

    func test_method_gradient_matches_finite_differences() throws {
        let trainer = try ContrastiveTrainer(configuration: try BaselineMethodSupport.configuration("vicreg"))
        let named = Dictionary(uniqueKeysWithValues: trainer.encoder.namedParameters.map { ($0.name, $0.parameter) })
        try BaselineMethodSupport.checkGradient(trainer, parameters: ["head.6.weight", "head.4.weight", "head.0.weight", "layer4.1.conv2.weight"]
            .map { ($0, named[$0]!) })
    }

    func test_resume_mid_epoch_is_exact() throws {
        try BaselineMethodSupport.checkResumeIsExact(try BaselineMethodSupport.configuration("vicreg"))
    }

    func test_two_ranks_compute_what_one_process_computes() throws {
        try BaselineMethodSupport.checkTwoRanksEqualOneProcess(try BaselineMethodSupport.configuration("vicreg", extra: #", "sync_bn": true"#))
    }
}
