import XCTest
@testable import DCLKit

/// Whole encoders (tiny widths): gradients against finite differences, torchvision naming and
/// initialisation, BatchNorm semantics at model level, state dicts, files and input checks.
final class EncoderTests: XCTestCase {
    private func encoder(_ arch: EncoderConfiguration.Architecture = .resnet18, stem: EncoderConfiguration.Stem = .cifar,
                         width: Double = 1.0 / 16, head: EncoderConfiguration.Head? = .simclr, seed: UInt64 = 0,
                         hidden: Int? = 8) throws -> Encoder {
        let config = try EncoderConfiguration(architecture: arch, stem: stem, width: width, head: head, headHidden: hidden, headOutput: 4)
        return Encoder(configuration: config, seed: seed, workspace: Workspace(columnElements: 4096))
    }

    /// L = Σ r_z ⊙ z + Σ r_h ⊙ h through the whole model in training mode, both gradients at once.
    /// Inputs leave at least 8 values per channel at every BatchNorm; β is shifted to 2 (see GradientCheck).
    func test_tiny_resnets_gradients_match_finite_differences() throws {
        let cases: [(Encoder, [Int], [String])] = [
            (try encoder(.resnet18, head: .simclr), [4, 16, 16, 3], ["conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.weight", "head.0.weight", "head.1.bias", "head.3.weight"]),
            (try encoder(.resnet18, stem: .imagenet, head: .moco), [3, 64, 64, 3], ["conv1.weight", "bn1.weight", "layer1.0.conv2.weight", "head.0.bias", "head.2.weight"]),
            (try encoder(.resnet50, width: 1.0 / 32, head: nil), [3, 16, 16, 3], ["conv1.weight", "layer1.0.conv3.weight", "layer3.0.downsample.1.weight", "layer4.2.bn3.bias"]),
            (try encoder(.resnet50, stem: .imagenet, width: 1.0 / 32, head: nil), [3, 64, 64, 3], ["bn1.weight", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight", "layer1.1.conv3.weight"]),
        ]
        for (enc, shape, names) in cases {
            let what = "\(enc.configuration.architecture) \(enc.configuration.stem)"
            let stateNames = Set(enc.stateEntries.map { $0.name })
            for (name, p) in enc.namedParameters where name.hasSuffix(".bias") {
                if stateNames.contains(name.dropLast(4) + "running_mean") { p.value.fill(2) }
            }
            let x = GradientCheck.random(shape, seed: 81)
            let (h0, z0) = enc.forward(x, training: true)
            let rh = GradientCheck.random(h0.shape, seed: 82)
            let rz = z0.map { GradientCheck.random($0.shape, seed: 83) }
            let loss = { () -> Double in
                let (h, z) = enc.forward(x, training: true)
                return GradientCheck.weightedSum(h, rh) + (z.map { GradientCheck.weightedSum($0, rz!) } ?? 0)
            }
            enc.forward(x, training: true)
            let dx = enc.backward(projectionGradient: rz, featureGradient: rh).clone()
            GradientCheck.check(x, gradient: dx, samples: 12, precision: GradientCheck.network, what + " dx", loss)
            let parameters = Dictionary(uniqueKeysWithValues: enc.namedParameters.map { ($0.name, $0.parameter) })
            for name in names {
                let p = try XCTUnwrap(parameters[name], name)
                GradientCheck.check(p.value, gradient: p.gradient, samples: 4, precision: GradientCheck.network, what + " " + name, loss)
            }
        }
    }

    func test_accumulate_gradients_gives_the_parameter_gradients_of_backward() throws {
        let a = try encoder(), b = try encoder()
        let x = GradientCheck.random([3, 8, 8, 3], seed: 84)
        let z = a.forward(x, training: true).projection!
        b.forward(x, training: true)
        let r = GradientCheck.random(z.shape, seed: 85)
        a.backward(projectionGradient: r, featureGradient: nil)
        b.accumulateGradients(projectionGradient: r, featureGradient: nil)
        // Equal up to rounding: the stem's chunks differ when its input gradient is skipped.
        for (p, q) in zip(a.parameters, b.parameters) {
            for i in 0..<p.gradient.count { XCTAssertEqual(p.gradient[i], q.gradient[i], accuracy: 1e-5 * (1 + abs(p.gradient[i]))) }
        }
        b.zeroGradients()
        XCTAssertTrue(b.parameters.allSatisfy { $0.gradient.toArray().allSatisfy { $0 == 0 } })
    }

    /// Backward consumes the trunk's activations; a second backward of the same forward replays
    /// it: the gradients it adds are bit for bit the first one's, and the running statistics
    /// stay as one forward left them.
    func test_second_backward_of_one_forward_adds_the_same_gradients_and_keeps_running_statistics() throws {
        for enc in [try encoder(.resnet18), try encoder(.resnet50, width: 1.0 / 32)] {
            let x = GradientCheck.random([3, 16, 16, 3], seed: 86)
            let z = enc.forward(x, training: true).projection!
            let buffers = enc.namedBuffers.map { $0.tensor.clone() }
            let r = GradientCheck.random(z.shape, seed: 87)
            let dx = enc.backward(projectionGradient: r, featureGradient: nil).clone()
            let once = enc.parameters.map { $0.gradient.clone() }
            enc.zeroGradients()
            XCTAssertEqual(enc.backward(projectionGradient: r, featureGradient: nil).toArray(), dx.toArray())
            for (p, first) in zip(enc.parameters, once) { XCTAssertEqual(p.gradient.toArray(), first.toArray()) }
            for (b, before) in zip(enc.namedBuffers, buffers) { XCTAssertEqual(b.tensor.toArray(), before.toArray(), b.name) }
        }
    }

    /// After the first step every buffer keeps its storage: steps do not allocate tensors.
    func test_steps_after_the_first_reuse_every_buffer() throws {
        let enc = try encoder(.resnet50, width: 1.0 / 32, head: .simclr)
        let x = GradientCheck.random([4, 16, 16, 3], seed: 91)
        let dz = GradientCheck.random([4, 4], seed: 92)
        func step() {
            enc.forward(x, training: true)
            enc.backward(projectionGradient: dz, featureGradient: nil)
        }
        func storage() -> [UnsafeMutablePointer<Float>] {
            let w = enc.workspace
            let buffers = [w.activation.tensor, w.partials, w.flippedWeight, w.columns(0)] + w.gradients
                + enc.trunk.convolutions.map { $0.output } + [enc.trunk.bn1.output, enc.trunk.pool.output]
                + enc.trunk.stages.joined().map { $0.lastNorm.output }
            return buffers.map { $0.data }
        }
        step()
        let first = storage()
        step()
        step()
        XCTAssertEqual(storage(), first)
    }

    /// The ImageNet stem's outputs (four times a first-stage map's pixels) live in the second
    /// bottleneck's conv3 output and block output without growing them, and a projection
    /// shortcut lives in its block's output: the shared activation holds no more than the
    /// widest bn1 or bn2 output (the second stage's first bn1, 64 channels at width ½, 16×16).
    func test_resnet50_stem_outputs_and_shortcuts_grow_no_buffer() throws {
        let enc = try encoder(.resnet50, stem: .imagenet, width: 0.5, head: nil)
        enc.forward(GradientCheck.random([2, 64, 64, 3], seed: 93), training: true)
        _ = enc.backward(projectionGradient: nil, featureGradient: GradientCheck.random([2, 1024], seed: 94))
        let donor = try XCTUnwrap(enc.trunk.stages[0][1] as? Bottleneck)
        XCTAssertTrue(enc.trunk.conv1.output === donor.conv3.output)
        XCTAssertEqual(donor.conv3.output.capacity, 2 * 16 * 16 * 128)
        XCTAssertEqual(donor.outputBuffer.tensor.capacity, 2 * 16 * 16 * 128)
        XCTAssertEqual(enc.workspace.activation.tensor.capacity, 2 * 16 * 16 * 64)
    }

    func test_state_dict_follows_torchvision_names_and_order() throws {
        let enc = try encoder(width: 0.25, head: nil)
        let names = enc.stateDict().map { $0.name }
        XCTAssertEqual(names.count, 120, "torchvision's resnet18 has 122 entries, 2 of them fc")
        XCTAssertEqual(Array(names.prefix(7)), ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                                 "bn1.num_batches_tracked", "layer1.0.conv1.weight"])
        XCTAssertFalse(names.contains { $0.hasPrefix("fc.") })
        let shapes = Dictionary(uniqueKeysWithValues: enc.stateDict().map { ($0.name, $0.tensor.shape) })
        XCTAssertEqual(shapes["conv1.weight"], [16, 3, 3, 3])
        XCTAssertEqual(shapes["layer3.0.conv1.weight"], [64, 32, 3, 3])
        XCTAssertEqual(shapes["layer4.0.downsample.0.weight"], [128, 64, 1, 1])
        XCTAssertEqual(shapes["layer4.1.bn2.running_var"], [128])
        XCTAssertEqual(shapes["bn1.num_batches_tracked"], [])
        let heads = try encoder(head: .moco).stateDict().map { $0.name }.filter { $0.hasPrefix("head.") }
        XCTAssertEqual(heads, ["head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"])
        let simclr = try encoder(head: .simclr).stateDict().map { $0.name }.filter { $0.hasPrefix("head.") }
        XCTAssertEqual(simclr, ["head.0.weight", "head.1.weight", "head.1.bias", "head.1.running_mean", "head.1.running_var",
                                "head.1.num_batches_tracked", "head.3.weight", "head.3.bias"])
    }

    func test_initialisation_is_seeded_and_follows_torchvision() throws {
        let a = try encoder(width: 0.25, seed: 5), b = try encoder(width: 0.25, seed: 5), c = try encoder(width: 0.25, seed: 6)
        XCTAssertEqual(a.parameters.map { $0.value.toArray() }, b.parameters.map { $0.value.toArray() })
        XCTAssertNotEqual(a.parameters[0].value.toArray(), c.parameters[0].value.toArray())
        // Kaiming normal, fan_out: std = √(2 / (Cout·3·3)) for layer4's 128→128 3×3 convolutions.
        let w = a.trunk.stages[3][1].convolutions[1].weight.value.toArray().map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)).squareRoot()
        let expected: Double = (2.0 / 1152).squareRoot()
        XCTAssertEqual(std, expected, accuracy: 0.02 * expected)
        XCTAssertEqual(mean, 0, accuracy: 0.01 * std)
        for block in a.trunk.stages.joined() { XCTAssertTrue(block.lastNorm.weight.value.toArray().allSatisfy { $0 == 1 }) }
        // PyTorch's Linear: uniform in ±1/√fan_in, fan_in = 128 features.
        let head = try XCTUnwrap(a.head)
        let bound = Float(1 / 128.0.squareRoot())
        let first = head.first.weight.value.toArray()
        XCTAssertTrue(first.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(first.map(abs).max()!, 0.9 * bound)
        let zeroed = Encoder(configuration: a.configuration, seed: 5, zeroInitResidual: true)
        for block in zeroed.trunk.stages.joined() { XCTAssertTrue(block.lastNorm.weight.value.toArray().allSatisfy { $0 == 0 }) }
        XCTAssertEqual(zeroed.trunk.conv1.weight.value.toArray(), a.trunk.conv1.weight.value.toArray())
    }

    func test_training_forward_moves_running_statistics_and_evaluation_does_not() throws {
        let enc = try encoder()
        let x = GradientCheck.random([4, 8, 8, 3], seed: 86)
        let before = enc.namedBuffers.map { $0.tensor.toArray() }
        enc.forward(x, training: false)
        XCTAssertEqual(enc.namedBuffers.map { $0.tensor.toArray() }, before)
        enc.forward(x, training: true)
        for (name, t) in enc.namedBuffers where name.hasSuffix("num_batches_tracked") { XCTAssertEqual(t[0], 1, name) }
        XCTAssertNotEqual(enc.namedBuffers.map { $0.tensor.toArray() }, before)
    }

    /// The whole input is one BatchNorm batch: in training, an image's features depend on the
    /// rest of the batch; in evaluation they do not.
    func test_whole_input_is_one_batchnorm_batch() throws {
        let enc = try encoder()
        let x = GradientCheck.random([4, 8, 8, 3], seed: 87)
        let firstTwo = Tensor(shape: [2, 8, 8, 3], values: Array(x.toArray().prefix(2 * 8 * 8 * 3)))
        for training in [true, false] {
            let whole = Array(enc.forward(x, training: training).features.toArray().prefix(2 * 32))
            let part = enc.forward(firstTwo, training: training).features.toArray()
            if training {
                XCTAssertGreaterThan(zip(whole, part).map { abs($0 - $1) }.max()!, 1e-3)
            } else {
                for (a, b) in zip(whole, part) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            }
        }
    }

    /// Two statistics groups: a training forward of two stacked views is the encoder called once
    /// per view (features, projections, running statistics after view 0 then view 1), and the
    /// backward of the stacked gradient is the sum of the two views' backwards; evaluation does
    /// not depend on the groups.
    func test_two_statistics_groups_are_the_encoder_called_once_per_view() throws {
        let grouped = try encoder(seed: 6), single = try encoder(seed: 6)
        let n = 3, values = n * 8 * 8 * 3
        let x = GradientCheck.random([2 * n, 8, 8, 3], seed: 96)
        for i in values..<x.count { x[i] = 0.5 * x[i] + 1 }  // the views differ
        let out = grouped.forward(x, training: true, statisticsGroups: 2)
        let (h, z) = (out.features.toArray(), out.projection!.toArray())
        let r = GradientCheck.random(out.projection!.shape, seed: 97)
        grouped.accumulateGradients(projectionGradient: r, featureGradient: nil)
        var (hViews, zViews): ([Float], [Float]) = ([], [])
        for k in 0..<2 {
            let view = Tensor(shape: [n, 8, 8, 3], values: Array(x.toArray()[(k * values)..<((k + 1) * values)]))
            let o = single.forward(view, training: true)
            hViews += o.features.toArray()
            zViews += o.projection!.toArray()
            let rz = Tensor(shape: [n, 4], values: Array(r.toArray()[(k * n * 4)..<((k + 1) * n * 4)]))
            single.accumulateGradients(projectionGradient: rz, featureGradient: nil)
        }
        assertClose(h, hViews, "features")
        assertClose(z, zViews, "projections")
        for ((name, a), (_, b)) in zip(grouped.namedParameters, single.namedParameters) {
            assertClose(a.gradient.toArray(), b.gradient.toArray(), name + " gradient")
        }
        for ((name, a), (_, b)) in zip(grouped.namedBuffers, single.namedBuffers) { assertClose(a.toArray(), b.toArray(), name) }
        let joint = try encoder(seed: 6)
        XCTAssertGreaterThan(zip(joint.forward(x, training: true).projection!.toArray(), z).map { abs($0 - $1) }.max()!, 1e-3,
                             "per view differs from one batch")
        assertClose(grouped.forward(x, training: false).projection!.toArray(), single.forward(x, training: false).projection!.toArray(),
                    "evaluation")
    }

    /// `a` and `b` agree within 1e-5 of the larger magnitude plus 1e-6 (batches of other sizes
    /// may take other convolution blockings: float32 sums in another order).
    private func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(a.map(abs).max() ?? 0, b.map(abs).max() ?? 0)
        let deviation = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(deviation, 1e-5 * scale + 1e-6, what, file: file, line: line)
    }

    func test_state_dict_round_trip_reproduces_outputs() throws {
        let a = try encoder(seed: 1), b = try encoder(seed: 2)
        a.forward(GradientCheck.random([3, 8, 8, 3], seed: 88), training: true)  // move the running statistics
        try b.loadStateDict(Dictionary(uniqueKeysWithValues: a.stateDict()))
        for ((n1, t1), (n2, t2)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(t1.toArray(), t2.toArray(), n1)
        }
        let x = GradientCheck.random([2, 8, 8, 3], seed: 89)
        XCTAssertEqual(a.forward(x, training: false).projection!.toArray(), b.forward(x, training: false).projection!.toArray())
    }

    func test_load_state_dict_rejects_missing_unexpected_and_misshapen_entries_without_changes() throws {
        let enc = try encoder()
        let before = enc.stateDict().map { $0.tensor.toArray() }
        let good = Dictionary(uniqueKeysWithValues: try encoder(seed: 9).stateDict())
        var missing = good
        missing["layer1.0.bn1.running_mean"] = nil
        var unexpected = good
        unexpected["fc.weight"] = Tensor(shape: [10, 32])
        var misshapen = good
        misshapen["conv1.weight"] = Tensor(shape: [4, 3, 3, 4])
        for (state, fragment) in [(missing, "missing layer1.0.bn1.running_mean"), (unexpected, "unexpected fc.weight"),
                                  (misshapen, "conv1.weight has shape [4, 3, 3, 4], expected [4, 3, 3, 3]")] {
            XCTAssertThrowsError(try enc.loadStateDict(state)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
        XCTAssertEqual(enc.stateDict().map { $0.tensor.toArray() }, before)
    }

    func test_copy_state_takes_every_parameter_and_buffer_of_the_same_configuration() throws {
        let query = try encoder(seed: 3), key = try encoder(seed: 4)
        query.forward(GradientCheck.random([2, 8, 8, 3], seed: 90), training: true)
        try key.copyState(from: query)
        XCTAssertEqual(key.stateDict().map { $0.tensor.toArray() }, query.stateDict().map { $0.tensor.toArray() })
        XCTAssertThrowsError(try key.copyState(from: try encoder(head: .moco)))
    }

    /// A forward by another encoder's state in this encoder's layers gives bit for bit that
    /// encoder's own training forward and moves its running statistics alike, leaves this
    /// encoder's state as it was, and allocates no activation in the other encoder.
    func test_forward_with_another_encoders_state_is_its_own_forward_without_its_buffers() throws {
        for (arch, width) in [(EncoderConfiguration.Architecture.resnet18, 1.0 / 16), (.resnet50, 1.0 / 32)] {
            let online = try encoder(arch, width: width, seed: 3), target = try encoder(arch, width: width, seed: 4)
            let reference = try encoder(arch, width: width, seed: 5)
            let x = GradientCheck.random([4, 8, 8, 3], seed: 93)
            online.forward(GradientCheck.random([4, 8, 8, 3], seed: 94), training: true)
            try reference.copyState(from: target)
            let before = online.stateDict().map { $0.tensor.toArray() }
            for _ in 0..<2 {
                let expected = reference.forward(x, training: true)
                let borrowed = online.forward(x, stateOf: target)
                XCTAssertEqual(borrowed.features.toArray(), expected.features.toArray(), "\(arch)")
                XCTAssertEqual(borrowed.projection!.toArray(), expected.projection!.toArray(), "\(arch)")
                XCTAssertEqual(target.stateDict().map { $0.tensor.toArray() }, reference.stateDict().map { $0.tensor.toArray() })
            }
            XCTAssertEqual(online.stateDict().map { $0.tensor.toArray() }, before, "the lender's state is put back")
            XCTAssertFalse(online.hasForward, "the lender's own forward is gone")
            XCTAssertTrue((target.trunk.convolutions.map(\.output) + [target.trunk.pool.output]).allSatisfy { $0.capacity == 0 })
            XCTAssertEqual(target.workspace.gradients.map(\.capacity), [0, 0, 0])
        }
    }

    func test_save_and_load_rebuild_the_encoder() throws {
        let enc = try encoder(.resnet18, stem: .imagenet, head: .moco, seed: 7)
        let path = NSTemporaryDirectory() + "dclkit-encoder-\(getpid()).safetensors"
        defer { unlink(path) }
        try enc.save(to: FilePath(path))
        let loaded = try Encoder.load(from: FilePath(path))
        XCTAssertEqual(loaded.configuration, enc.configuration)
        XCTAssertEqual(loaded.stateDict().map { $0.tensor.toArray() }, enc.stateDict().map { $0.tensor.toArray() })
        XCTAssertThrowsError(try Encoder.load(from: FilePath(path + ".absent")))
    }

    func test_validate_rejects_inputs_the_architecture_cannot_take() throws {
        let enc = try encoder()
        XCTAssertNoThrow(try enc.validate(inputShape: [2, 8, 8, 3], training: true))
        let bad: [([Int], Bool, String)] = [
            ([8, 8, 3], false, "4 dimensions"), ([2, 8, 8, 1], false, "3 channels"), ([0, 8, 8, 3], false, "at least one image"),
            ([2, 7, 8, 3], false, "at least 8"), ([1, 8, 8, 3], true, "at least 2 values"),
        ]
        for (shape, training, fragment) in bad {
            XCTAssertThrowsError(try enc.validate(inputShape: shape, training: training)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(shape): \(error)")
            }
        }
        XCTAssertNoThrow(try enc.validate(inputShape: [1, 8, 8, 3], training: false))
        XCTAssertThrowsError(try EncoderConfiguration(architecture: "resnet19", stem: "cifar", width: 1, head: nil, headHidden: nil, headOutput: 128))
        XCTAssertThrowsError(try EncoderConfiguration(width: 0))
        XCTAssertThrowsError(try EncoderConfiguration(head: .moco, headOutput: 0))
    }
}
