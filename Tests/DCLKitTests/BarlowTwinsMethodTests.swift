import XCTest
@testable import DCLKit

/// Barlow Twins through the trainer: defaults, the method's whole gradient against finite
/// differences, exact resume, and two ranks (the loss's statistics over the global batch)
/// against one process.
final class BarlowTwinsMethodTests: XCTestCase {
    func test_defaults_follow_the_paper_scaled_with_the_features() throws {
        let run = try RunConfiguration(json: #"{"method": "barlow-twins", "batch_size": 128}"#)
        XCTAssertEqual(run.encoder.head, .barlowtwins)
        XCTAssertEqual([run.encoder.headHidden, run.encoder.headOutput], [2048, 2048], "[4F, 4F] at ResNet-18 width 1")
        XCTAssertEqual(run.learningRate, 0.06 * 128 / 256, accuracy: 1e-12)
        XCTAssertEqual(run.settings(as: BarlowTwinsSettings.self)?.lambda, 5e-3)
        let resnet50 = try RunConfiguration(json: #"{"method": "barlow-twins", "arch": "resnet50"}"#)
        XCTAssertEqual([resnet50.encoder.headHidden, resnet50.encoder.headOutput], [8192, 8192], "the paper's projector")
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "barlow-twins", "barlow_lambda": -1}"#))
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "dcl", "barlow_lambda": 0.1}"#))
    }

    func test_method_gradient_matches_finite_differences() throws {
        let trainer = try ContrastiveTrainer(configuration: try BaselineMethodSupport.configuration("barlow-twins", extra: #", "barlow_lambda": 0.1"#))
        let named = Dictionary(uniqueKeysWithValues: trainer.encoder.namedParameters.map { ($0.name, $0.parameter) })
        try BaselineMethodSupport.checkGradient(trainer, parameters: ["head.6.weight", "head.4.weight", "head.0.weight", "layer4.1.conv2.weight"]
            .map { ($0, named[$0]!) })
    }

    func test_resume_mid_epoch_is_exact() throws {
        try BaselineMethodSupport.checkResumeIsExact(try BaselineMethodSupport.configuration("barlow-twins"))
    }

    func test_two_ranks_compute_what_one_process_computes() throws {
        try BaselineMethodSupport.checkTwoRanksEqualOneProcess(try BaselineMethodSupport.configuration("barlow-twins", extra: #", "sync_bn": true"#))
    }
}
