import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// Numbers from files and configurations go through one checked conversion (`FileNumbers`);
/// a checkpoint is compared with the model its configuration describes before anything is built;
/// building asks for its memory first; nothing non-finite reaches a history or a checkpoint, and
/// a save that would not resume leaves the previous checkpoint alone (issue 23).
final class CheckedNumbersTests: XCTestCase {
    private let folder = "/tmp/dclkit-checked-\(getpid())"

    override func setUp() { mkdir(folder, 0o755) }

    override func tearDown() {
        for name in ["run.safetensors", "tampered.safetensors", "encoder.safetensors"] { unlink(folder + "/" + name) }
        rmdir(folder)
    }

    private func path(_ name: String) -> FilePath { FilePath(folder + "/" + name) }

    private func configuration(_ extra: String = "", method: String = "dcl") throws -> RunConfiguration {
        try RunConfiguration(json: #"""
        {"method": "\#(method)", "width": 0.0625, "head_dims": [16, 8], "batch_size": 4, "image_size": 8, "epochs": 2,
         "warmup_epochs": 0, "augment": {"pipeline": "simclr", "blur": 0}\#(extra)}
        """#)
    }

    private let images: [UInt8] = {
        var rng = CounterRNG(seed: 4)
        return (0..<(8 * 8 * 8 * 3)).map { _ in UInt8(rng.below(256)) }
    }()

    private func step(_ trainer: ContrastiveTrainer) throws {
        _ = try images.withUnsafeBufferPointer { try trainer.step(dataset: $0.baseAddress!, count: 8, height: 8, width: 8, channels: 3) }
    }

    /// `path("run.safetensors")` rewritten to `tampered.safetensors` with `change` applied to its metadata.
    private func tampered(_ change: (inout [String: String]) -> Void) throws -> FilePath {
        var (tensors, metadata) = try Safetensors.read(from: path("run.safetensors"))
        change(&metadata)
        try Safetensors.write(tensors.map { ($0.key, $0.value) }, metadata: metadata, to: path("tampered.safetensors"))
        return path("tampered.safetensors")
    }

    private func assertFormatError(_ file: FilePath, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try ContrastiveTrainer.resume(from: file), line: line) { error in
            guard let error = error as? TrainingError, error.kind == .format else { return XCTFail("\(error)", line: line) }
            XCTAssertTrue(error.description.contains(fragment), error.description, line: line)
        }
    }

    func test_file_numbers_refuse_what_later_arithmetic_cannot_hold() {
        XCTAssertEqual(FileNumbers.count("0"), 0)
        XCTAssertEqual(FileNumbers.count(String((1 << 40) - 1)), (1 << 40) - 1)
        for text in [String(1 << 40), "9223372036854775807", "9223372036854775808", "-1", "1.5", "1e3", " 1", "", "nan"] {
            XCTAssertNil(FileNumbers.count(text), text)
        }
        XCTAssertEqual(FileNumbers.count(3.0), 3)
        for x in [-1.0, 0.5, 0x1p40, 0x1p63, .infinity, .nan] { XCTAssertNil(FileNumbers.count(x), "\(x)") }
        XCTAssertEqual(FileNumbers.integer(-0x1p53, in: Int.min...Int.max), -(1 << 53))
        for x in [0x1p53 + 2, 0x1p64, -0x1p63, 1e300, .nan, -.infinity] {
            XCTAssertNil(FileNumbers.integer(x, in: Int.min...Int.max), "\(x) converts without trapping only when exact")
        }
        XCTAssertEqual(FileNumbers.finite("1e308"), 1e308)
        for text in ["inf", "-inf", "nan", "1e309", "Infinity", "x"] { XCTAssertNil(FileNumbers.finite(text), text) }
    }

    func test_json_never_writes_non_finite_numbers_as_text_no_reader_accepts() throws {
        let value = JSON.array([.number(.infinity), .number(-.infinity), .number(.nan), .number(1e308), .number(5e-324)])
        XCTAssertEqual(value.text, "[null,null,null,1e+308,5e-324]")
        XCTAssertEqual(try JSON.parse(Array(value.text.utf8)), .array([.null, .null, .null, .number(1e308), .number(5e-324)]))
    }

    func test_state_shapes_from_the_configuration_match_built_encoders() throws {
        for architecture in EncoderConfiguration.Architecture.allCases {
            for stem in EncoderConfiguration.Stem.allCases {
                for head in [nil] + EncoderConfiguration.Head.allCases {
                    let configuration = try EncoderConfiguration(architecture: architecture, stem: stem, width: 0.0625, head: head,
                                                                 headHidden: 24, headOutput: 8)
                    let built = Encoder(configuration: configuration).stateDict()
                    let shapes = Encoder.stateShapes(configuration)
                    XCTAssertEqual(shapes.map(\.name), built.map(\.name), "\(architecture) \(stem) \(String(describing: head))")
                    XCTAssertEqual(shapes.map(\.shape), built.map(\.tensor.shape), "\(architecture) \(stem) \(String(describing: head))")
                }
            }
        }
    }

    /// The address space building grows the process by stays within the bound asked for before
    /// building (`ContrastiveTrainer.constructionElements`), for every kind of method.
    func test_the_construction_bound_covers_what_building_a_trainer_allocates() throws {
        let mallopt = unsafeBitCast(dlsym(nil, "mallopt"), to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-8 /* M_ARENA_MAX */, 1)
        Threads.setCount(1)
        for method in ["dcl", "moco", "byol", "simsiam", "barlow-twins", "vicreg", "nnclr"] {
            let extra = MethodRegistry.entry(named: method)?.family == "moco" ? #", "queue_size": 4096"# : ""
            let run = try RunConfiguration(json: #"""
            {"method": "\#(method)", "width": 0.25, "batch_size": 4, "image_size": 8\#(extra)}
            """#)
            _ = try ContrastiveTrainer(configuration: run)  // the process's one-time costs
            let before = addressSpace()
            let trainer = try ContrastiveTrainer(configuration: run)
            let grown = addressSpace() - before
            let bound = ContrastiveTrainer.constructionElements(run) * MemoryLayout<Float>.stride
            XCTAssertLessThanOrEqual(grown, bound, "\(method): built \(grown) bytes, bound \(bound)")
            XCTAssertGreaterThan(grown, bound / 8, "\(method): the bound is not wildly loose")
            withExtendedLifetime(trainer) {}
        }
    }

    func test_a_checkpoint_step_near_two_to_the_63_is_a_format_error_not_an_overflow() throws {
        let trainer = try ContrastiveTrainer(configuration: try configuration())
        try step(trainer)
        try trainer.save(to: path("run.safetensors"))
        for bad in [String(Int.max - 1), String(1 << 40), "-1", "1e3", "18446744073709551616"] {
            assertFormatError(try tampered { $0["step"] = bad }, "step")
        }
        assertFormatError(try tampered { $0["epoch_seconds"] = "inf" }, "epoch_seconds")
        assertFormatError(try tampered { $0["diagnostics_steps"] = String(Int.max) }, "diagnostics")
        assertFormatError(try tampered { $0["history"] = #"[{"epoch":1,"loss":1e999,"lr":0.1,"seconds":1,"images_per_s":1}]"# ; $0["epoch"] = "1" },
                          "loss")
        let resumed = try ContrastiveTrainer.resume(from: try tampered { $0["step"] = String((1 << 40) - 1) })
        try step(resumed)
        XCTAssertEqual(resumed.stepCount, 1 << 40, "the largest step accepted still steps")
    }

    func test_a_stored_configuration_edited_to_a_huge_model_is_refused_before_building() throws {
        let trainer = try ContrastiveTrainer(configuration: try configuration())
        try trainer.save(to: path("run.safetensors"))
        let huge = try configuration().json.text.replacingFirst("\"width\":0.0625", with: "\"width\":16")
        XCTAssertNotEqual(huge, try configuration().json.text)
        assertFormatError(try tampered { $0["config"] = huge }, "encoder.conv1.weight has shape [4, 3, 3, 3], expected [1024, 3, 3, 3]")
        let wider = try configuration().json.text.replacingFirst("\"head_dims\":[16,8]", with: "\"head_dims\":[16,9]")
        assertFormatError(try tampered { $0["config"] = wider }, "encoder.head.3.weight")
    }

    func test_an_encoder_file_whose_tensors_differ_from_its_metadata_is_refused_naming_the_tensor() throws {
        let small = try EncoderConfiguration(width: 0.0625, head: .simclr, headHidden: 16, headOutput: 8)
        // The same number of values, one tensor of another shape: the count alone cannot tell.
        let state = Encoder(configuration: small).stateDict().map { entry -> (name: String, tensor: Tensor) in
            entry.name == "conv1.weight" ? (entry.name, Tensor(shape: [3, 4, 3, 3])) : entry
        }
        try Safetensors.write(state, metadata: small.metadata, to: path("encoder.safetensors"))
        XCTAssertThrowsError(try Encoder.load(from: path("encoder.safetensors"))) { error in
            guard case IOFailure.format(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("conv1.weight has shape [3, 4, 3, 3], expected [4, 3, 3, 3]"), message)
        }
    }

    func test_hyperparameters_whose_products_overflow_are_refused_naming_the_field() throws {
        for (field, value) in [("lr", "1e308"), ("lr", "1e5"), ("weight_decay", "2"), ("temperature", "1e-300"), ("temperature", "1e300")] {
            XCTAssertThrowsError(try configuration(#", "\#(field)": \#(value)"#)) { error in
                XCTAssertTrue("\(error)".hasPrefix(field), "\(error)")
            }
        }
        XCTAssertThrowsError(try configuration(#", "barlow_lambda": 1e300"#, method: "barlow-twins"))
        XCTAssertThrowsError(try configuration(#", "variance_weight": 1e300"#, method: "vicreg"))
        XCTAssertThrowsError(try configuration(#", "sigma": 1e-300"#, method: "dclw"))
    }

    /// The largest values the configuration accepts train, save and resume: everything written
    /// reads back.
    func test_a_checkpoint_of_extreme_but_accepted_values_resumes() throws {
        let run = try configuration(#", "lr": 10000, "weight_decay": 1, "momentum": 0.999999, "temperature": 1000, "seed": 9007199254740991"#)
        let trainer = try ContrastiveTrainer(configuration: run)
        do { try step(trainer) } catch let error as TrainingError where error.kind == .state {}
        do {
            try trainer.save(to: path("run.safetensors"))
            let resumed = try ContrastiveTrainer.resume(from: path("run.safetensors"))
            XCTAssertEqual(resumed.configuration.json, run.json)
        } catch let error as TrainingError where error.kind == .state {
            // A diverged run is refused by the save, never written.
            XCTAssertTrue(error.description.contains("non-finite"), error.description)
        }
    }

    /// Weights made non-finite by a diverging step are never saved: the save throws naming the
    /// tensor, and a good checkpoint already at the path stays as it was and still resumes.
    func test_a_save_that_would_not_resume_keeps_the_previous_checkpoint() throws {
        let trainer = try ContrastiveTrainer(configuration: try configuration())
        try step(trainer)
        try trainer.save(to: path("run.safetensors"))
        let good = try Safetensors.read(from: path("run.safetensors")).metadata
        trainer.encoder.parameters[0].value[0] = .infinity
        XCTAssertThrowsError(try trainer.save(to: path("run.safetensors"))) { error in
            guard let error = error as? TrainingError, error.kind == .state else { return XCTFail("\(error)") }
            XCTAssertTrue(error.description.contains("encoder.conv1.weight"), error.description)
        }
        XCTAssertEqual(try Safetensors.read(from: path("run.safetensors")).metadata, good)
        XCTAssertNoThrow(try ContrastiveTrainer.resume(from: path("run.safetensors")))
    }
}

private extension String {
    /// The string with the first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
