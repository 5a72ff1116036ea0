/// What an encoder's state dict holds, computed from its configuration alone, so that a file
/// (an encoder file, a trainer checkpoint) is compared with the model its metadata describes
/// before anything of that model is allocated. `EncoderStateTests` checks both against built encoders.
extension Encoder {
    /// The torchvision names and PyTorch shapes of the state dict of an encoder of `configuration`,
    /// in `stateDict()`'s order, without building it.
    public static func stateShapes(_ configuration: EncoderConfiguration) -> [(name: String, shape: [Int])] {
        var shapes: [(name: String, shape: [Int])] = []
        func conv(_ name: String, _ cin: Int, _ cout: Int, _ k: Int) { shapes.append((name + ".weight", [cout, cin, k, k])) }
        func norm(_ name: String, _ c: Int) {
            shapes += ["weight", "bias", "running_mean", "running_var"].map { (name + "." + $0, [c]) }
            shapes.append((name + ".num_batches_tracked", []))
        }
        func linear(_ name: String, _ cin: Int, _ cout: Int, bias: Bool) {
            shapes.append((name + ".weight", [cout, cin]))
            if bias { shapes.append((name + ".bias", [cout])) }
        }
        let stem = configuration.channels(64)
        conv("conv1", 3, stem, configuration.stem == .imagenet ? 7 : 3)
        norm("bn1", stem)
        var inChannels = stem
        for (k, blocks) in configuration.blocksPerStage.enumerated() {
            let planes = configuration.channels(64 << k), out = planes * configuration.expansion
            for b in 0..<blocks {
                let block = "layer\(k + 1).\(b)"
                if configuration.architecture == .resnet50 {
                    conv(block + ".conv1", inChannels, planes, 1); norm(block + ".bn1", planes)
                    conv(block + ".conv2", planes, planes, 3); norm(block + ".bn2", planes)
                    conv(block + ".conv3", planes, out, 1); norm(block + ".bn3", out)
                } else {
                    conv(block + ".conv1", inChannels, planes, 3); norm(block + ".bn1", planes)
                    conv(block + ".conv2", planes, planes, 3); norm(block + ".bn2", planes)
                }
                if (k > 0 && b == 0) || inChannels != out {
                    conv(block + ".downsample.0", inChannels, out, 1)
                    norm(block + ".downsample.1", out)
                }
                inChannels = out
            }
        }
        let (f, hidden, d) = (configuration.featureDimension, configuration.headHidden, configuration.headOutput)
        switch configuration.head {
        case .simclr?:
            linear("head.0", f, hidden, bias: false); norm("head.1", hidden); linear("head.3", hidden, d, bias: true)
        case .moco?:
            linear("head.0", f, hidden, bias: true); linear("head.2", hidden, d, bias: true)
        case .barlowtwins?, .simsiam?:
            linear("head.0", f, hidden, bias: false); norm("head.1", hidden)
            linear("head.3", hidden, hidden, bias: false); norm("head.4", hidden)
            linear("head.6", hidden, d, bias: false)
            if configuration.head == .simsiam { norm("head.7", d) }
        case nil: break
        }
        return shapes
    }

    /// Throws `EncoderError.stateMismatch` unless `shapes` has exactly the names of `expected`,
    /// each with its shape: the message names the first five missing, misshapen or unexpected
    /// tensors (`prefix` before each name, such as "encoder." in a trainer checkpoint).
    static func checkShapes(_ shapes: [String: [Int]], expected: [(name: String, shape: [Int])],
                            architecture: EncoderConfiguration.Architecture, prefix: String = "") throws {
        var problems: [String] = []
        for (name, shape) in expected {
            guard let given = shapes[name] else { problems.append("missing \(prefix)\(name)"); continue }
            if given != shape { problems.append("\(prefix)\(name) has shape \(given), expected \(shape)") }
        }
        let known = Set(expected.map(\.name))
        problems += shapes.keys.filter { !known.contains($0) }.sorted().map { "unexpected \(prefix)\($0)" }
        guard problems.isEmpty else {
            let shown = problems.prefix(5).joined(separator: "; ")
            let more = problems.count > 5 ? " (and \(problems.count - 5) more)" : ""
            throw EncoderError.stateMismatch("state dict does not match \(architecture.rawValue): \(shown)\(more)")
        }
    }

    /// Floats that building an encoder of `configuration` allocates, bounded: every parameter's
    /// value and gradient and every buffer, plus each BatchNorm's per-channel scratch (its mean,
    /// inverse deviation and three coefficient rows), at most three times the state's values,
    /// and 1 Mi floats for the layers' small tensors and the allocator's rounding.
    public static func constructionElements(_ configuration: EncoderConfiguration) -> Int {
        saturatingSum(saturatingProduct(3, stateCount(configuration)), 1 << 20)
    }
}

extension ProjectionHead {
    /// Values in the state of a head of `kind` (its Linear weights and biases and BatchNorm
    /// entries), without building it.
    public static func stateCount(kind: EncoderConfiguration.Head, inFeatures f: Int, hidden: Int, outFeatures d: Int) -> Int {
        func norm(_ c: Int) -> Int { saturatingSum(saturatingProduct(4, c), 1) }
        switch kind {
        case .simclr: return [saturatingProduct(f, hidden), norm(hidden), saturatingProduct(hidden, d), d].reduce(0, saturatingSum)
        case .moco: return [saturatingProduct(f, hidden), hidden, saturatingProduct(hidden, d), d].reduce(0, saturatingSum)
        case .barlowtwins, .simsiam:
            return [saturatingProduct(f, hidden), norm(hidden), saturatingProduct(hidden, hidden), norm(hidden), saturatingProduct(hidden, d),
                    kind == .simsiam ? norm(d) : 0].reduce(0, saturatingSum)
        }
    }

    /// Floats that building a method's own head of `kind` allocates and that the trainer's
    /// optimiser adds for it (a momentum buffer per parameter), bounded as the encoder's are:
    /// four times the state's values.
    public static func constructionElements(kind: EncoderConfiguration.Head, inFeatures: Int, hidden: Int, outFeatures: Int) -> Int {
        saturatingProduct(4, stateCount(kind: kind, inFeatures: inFeatures, hidden: hidden, outFeatures: outFeatures))
    }
}
