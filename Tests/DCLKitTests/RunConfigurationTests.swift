import XCTest
@testable import DCLKit

/// The run configuration owns every default and rule: per-method defaults, the learning-rate
/// scaling rule, the nested MoCo settings, the augmentation, and errors that name the field.
final class RunConfigurationTests: XCTestCase {
    func test_simclr_family_defaults() throws {
        let c = try RunConfiguration(json: #"{"method": "dcl", "batch_size": 512}"#)
        XCTAssertEqual(c.settings(as: PairSettings.self)?.temperature, 0.1)
        XCTAssertEqual(c.settings(as: PairSettings.self)?.sigma, 0.5)
        XCTAssertEqual(c.encoder.head, .simclr)
        XCTAssertEqual(c.augment.json, .string("simclr"))
        XCTAssertNil(c.settings(as: MoCoSettings.self))
        XCTAssertEqual(c.learningRate, 0.06 * 512 / 256, accuracy: 1e-15)
        XCTAssertEqual(c.method.name, "dcl")
    }

    func test_moco_family_defaults_nest_their_settings() throws {
        let moco = try RunConfiguration(json: #"{"method": "moco"}"#)
        XCTAssertEqual(moco.settings(as: MoCoSettings.self)?.temperature, 0.2)
        XCTAssertEqual(moco.encoder.head, .moco)
        XCTAssertEqual(moco.augment.configuration.scale, 0.2...1, "MoCo v2's crop")
        XCTAssertEqual(moco.learningRate, 0.03, accuracy: 1e-15)
        XCTAssertEqual(moco.settings(as: MoCoSettings.self), MoCoSettings())
        XCTAssertEqual(try RunConfiguration(json: #"{"method": "moco", "batch_size": 32, "queue_size": 512}"#)
            .settings(as: MoCoSettings.self)?.mixingFields.hardest, 512, "N defaults to at most K")
        let mochi = try RunConfiguration(json: #"{"method": "mochi", "batch_size": 64, "queue_size": 1024, "mochi_n_hard": 32}"#)
        XCTAssertEqual(mochi.settings(as: MoCoSettings.self)?.mixingFields, MoCHiSettings(hardest: 32))
    }

    /// η = base · B / 256: LARS 0.3, SGD 0.06 (SimCLR family), SGD 0.03 (MoCo family); a given lr is absolute.
    func test_learning_rate_scales_with_the_batch_unless_given() throws {
        XCTAssertEqual(try RunConfiguration(json: #"{"optimizer": "lars", "batch_size": 128}"#).learningRate, 0.15, accuracy: 1e-15)
        XCTAssertEqual(try RunConfiguration(json: #"{"method": "moco", "batch_size": 512}"#).learningRate, 0.06, accuracy: 1e-15)
        XCTAssertEqual(try RunConfiguration(json: #"{"lr": 0.5, "batch_size": 128}"#).learningRate, 0.5)
    }

    /// The completed JSON has every shared field and the method's own, and reads back to
    /// itself; null means "the default".
    /// `view_batchnorm` defaults to joint (what every earlier run and checkpoint computed) and reads per_view.
    func test_view_batchnorm_is_joint_unless_asked() throws {
        let joint = try RunConfiguration(json: #"{"method": "byol"}"#)
        XCTAssertEqual(joint.viewBatchNorm, .joint)
        XCTAssertEqual(joint.json["view_batchnorm"], .string("joint"))
        XCTAssertEqual(joint.viewBatchNorm.statisticsGroups, 1)
        let perView = try RunConfiguration(json: #"{"method": "byol", "view_batchnorm": "per_view"}"#)
        XCTAssertEqual(perView.viewBatchNorm, .perView)
        XCTAssertEqual(perView.viewBatchNorm.statisticsGroups, 2)
        XCTAssertEqual(try RunConfiguration(json: perView.json.text).viewBatchNorm, .perView)
    }

    func test_completed_json_round_trips() throws {
        let c = try RunConfiguration(json: #"{"method": "mochi", "head_dims": [64, 32], "batch_size": 64, "queue_size": 1024, "temperature": null}"#)
        guard case .object(let members) = c.json else { return XCTFail("not an object") }
        XCTAssertEqual(members.map(\.0), RunConfiguration.sharedFields.map(\.name) + MoCoSettings.fields.map(\.name))
        XCTAssertEqual(c.json["temperature"], .number(0.2))
        XCTAssertEqual(try RunConfiguration(json: c.json.text).json, c.json)
    }

    /// The augmentation: presets by name, overrides by key, normalisation by image size.
    func test_augment_overrides_and_normalisation() throws {
        let small = try RunConfiguration(json: #"{"augment": {"blur": 0, "brightness": 0.4, "hue": [-0.1, 0.05]}}"#)
        XCTAssertEqual(small.augment.json["pipeline"], .string("simclr"), "the pipeline is filled in")
        XCTAssertEqual(small.augment.configuration.blur, 0)
        XCTAssertEqual(small.augment.configuration.brightness, 0.6...1.4)
        XCTAssertEqual(small.augment.configuration.hue, -0.1...0.05)
        XCTAssertEqual(small.augment.configuration.normalization, .cifar10)
        let large = try RunConfiguration(json: #"{"image_size": 96, "augment": "mocov2"}"#)
        XCTAssertEqual(large.augment.configuration.normalization, .imagenet)
        let unit = try RunConfiguration(json: #"{"augment": {"normalize": null}}"#)
        XCTAssertEqual(unit.augment.configuration.normalization, .unit)
    }

    /// Every broken rule throws, naming the field, with the kind the ABI maps to a status.
    func test_bad_fields_are_named() {
        let cases: [(String, ConfigurationError.Kind, String)] = [
            (#"5"#, .type, "configuration"),
            (#"{"#, .value, "JSON"),
            (#"{"method": "swav"}"#, .value, "method"),
            (#"{"method": 3}"#, .type, "method"),
            (#"{"batch_size": 1}"#, .value, "batch_size"),
            (#"{"batch_size": 8.5}"#, .type, "batch_size"),
            (#"{"batch_size": true}"#, .type, "batch_size"),
            (#"{"head_dims": 5}"#, .type, "head_dims"),
            (#"{"head_dims": [64, 0]}"#, .value, "head_dims[1]"),
            (#"{"weight_decay": "Infinity"}"#, .value, "weight_decay"),
            (#"{"temperature": 0}"#, .value, "temperature"),
            (#"{"seed": 9223372036854775808}"#, .value, "seed"),
            (#"{"image_size": 4}"#, .value, "image_size"),
            (#"{"colour": "red"}"#, .value, "colour"),
            (#"{"augment": {"flip": 2}}"#, .value, "augment.flip"),
            (#"{"augment": {"pipeline": "mocov2", "strength": 1}}"#, .value, "augment.strength"),
            (#"{"augment": {"scale": [0.5, 0.1]}}"#, .value, "augment.scale"),
            (#"{"augment": {"tint": 1}}"#, .value, "augment.tint"),
            (#"{"augment": 3}"#, .type, "augment"),
            (#"{"method": "moco", "batch_size": 256, "queue_size": 1000}"#, .value, "queue_size"),
            (#"{"method": "moco", "batch_size": 32, "queue_size": 32, "symmetric": true}"#, .value, "queue_size"),
            (#"{"method": "moco", "queue_size": 16777216}"#, .value, "queue_size"),
            (#"{"method": "mochi", "batch_size": 32, "queue_size": 64, "mochi_n_hard": 65}"#, .value, "mochi_n_hard"),
            (#"{"method": "moco", "momentum_encoder": 1}"#, .value, "momentum_encoder"),
            (#"{"method": "moco", "queue_warmup": 1}"#, .type, "queue_warmup"),
            (#"{"method": "dcl", "queue_size": 4096}"#, .value, "queue_size is a setting of moco, moco-dcl, mochi"),
            (#"{"view_batchnorm": "per_image"}"#, .value, "view_batchnorm"),
            (#"{"view_batchnorm": 2}"#, .type, "view_batchnorm"),
        ]
        for (json, kind, field) in cases {
            XCTAssertThrowsError(try RunConfiguration(json: json), json) { error in
                guard let error = error as? ConfigurationError else { return XCTFail("\(json): \(error)") }
                XCTAssertEqual(error.kind, kind, "\(json): \(error)")
                XCTAssertTrue(error.description.contains(field), "\(json): \(error)")
            }
        }
    }

    /// Every registered method has a unique name, a family whose members share their defaults
    /// and settings, and builds the method its entry names.
    func test_registry_entries_are_consistent() throws {
        XCTAssertEqual(Set(MethodRegistry.names).count, MethodRegistry.all.count)
        for family in Set(MethodRegistry.all.map(\.family)) {
            let members = MethodRegistry.all.filter { $0.family == family }
            XCTAssertEqual(Set(members.map(\.defaults.head)).count, 1, family)
        }
        for entry in MethodRegistry.all {
            let c = try RunConfiguration(json: #"{"method": "\#(entry.name)", "batch_size": 8, "queue_size": 1024}"#.replacingOccurrences(
                of: #", "queue_size": 1024"#, with: entry.family == "moco" ? #", "queue_size": 1024"# : ""))
            XCTAssertEqual(c.method.name, entry.name)
            XCTAssertEqual(c.encoder.head, entry.defaults.head, entry.name)
        }
    }

    /// A format-2 checkpoint's configuration holds every method's fields: read back, those of
    /// other methods are dropped.
    func test_checkpoint_configuration_drops_other_methods_fields() throws {
        let old = #"{"method": "dcl", "sigma": 0.5, "queue_size": 65536, "mochi_s": 256, "support_size": 6144}"#
        XCTAssertThrowsError(try RunConfiguration(json: old))
        let c = try RunConfiguration(checkpointJSON: old)
        XCTAssertNil(c.json["queue_size"])
        XCTAssertEqual(c.json["sigma"], .number(0.5))
    }
}
