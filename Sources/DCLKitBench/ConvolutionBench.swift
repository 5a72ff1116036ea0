import DCLKit

/// The convolution algorithms per layer shape of resnet18 (CIFAR stem, 32×32): for every distinct
/// stride-1 3×3 shape, the forward + backward time of each candidate (with the input gradient,
/// except for the stem, whose input is the image, as in training), timed alternately, the
/// fastest, and the one `ConvolutionPlanner`'s default rule picks; "–" where a candidate does not
/// apply.
enum ConvolutionBench {
    static func run() {
        print("\n### Convolution algorithms per layer shape, resnet18 CIFAR 32×32 (threads: \(Threads.count))\n")
        print("Forward + backward (weight and input gradient; the stem: weight gradient only) of one layer, "
              + "median ms of 5 alternated runs.\n")
        let candidates = ConvolutionAlgorithm.allCases
        print("| width | shape (N×H×W×Cin → Cout) | layers | " + candidates.map { "\($0.rawValue) ms" }.joined(separator: " | ")
              + " | fastest | rule picks |")
        print("|---|---|---:|" + String(repeating: "---:|", count: candidates.count) + "---|---|")
        for (width, images) in [(1.0, 128), (1.0, 256), (0.25, 256)] {
            for (index, (shape, layers)) in shapes(width: width, images: images).enumerated() where shape.candidates.count > 1 {
                let times = timings(shape, inputGradient: index > 0)
                let fastest = times.min { $0.1 < $1.1 }!.0
                let rule = ConvolutionPlanner.rule(shape)
                let cells = candidates.map { candidate in times.first { $0.0 == candidate }.map { Timing.format($0.1 * 1000, 2) } ?? "–" }
                print("| \(width) | \(shape.batch)×\(shape.height)×\(shape.width)×\(shape.inChannels) → \(shape.outChannels) | \(layers) | "
                      + cells.joined(separator: " | ")
                      + " | \(fastest.rawValue) | \(rule.rawValue)\(rule == fastest ? "" : " (not fastest)") |")
            }
        }
    }

    /// The distinct convolution shapes of one training forward, in order (the stem's first), with
    /// how many layers have each.
    private static func shapes(width: Double, images: Int) -> [(ConvolutionShape, Int)] {
        let configuration = try! EncoderConfiguration(architecture: .resnet18, stem: .cifar, width: width, head: .simclr)
        let encoder = Encoder(configuration: configuration, seed: 1)
        encoder.forward(Tensor(shape: [images, 32, 32, 3]), training: true)
        var seen: [(ConvolutionShape, Int)] = []
        for conv in encoder.trunk.convolutions {
            guard let shape = conv.lastShape else { continue }
            if let i = seen.firstIndex(where: { $0.0 == shape }) { seen[i].1 += 1 } else { seen.append((shape, 1)) }
        }
        return seen
    }

    /// Median forward + backward seconds of each candidate on `shape`, alternating candidates;
    /// the backward computes dL/dx only with `inputGradient`.
    private static func timings(_ shape: ConvolutionShape, inputGradient: Bool) -> [(ConvolutionAlgorithm, Double)] {
        let conv = Conv2d(inChannels: shape.inChannels, outChannels: shape.outChannels, kernel: shape.kernel, stride: shape.stride,
                          padding: shape.padding)
        var rng = CounterRNG(seed: 5)
        for i in 0..<conv.weight.value.count { conv.weight.value[i] = Float(rng.normal()) * 0.05 }
        let x = Tensor(shape: [shape.batch, shape.height, shape.width, shape.inChannels])
        for i in 0..<x.count { x[i] = Float(rng.normal()) }
        let dy = Tensor(shape: [shape.batch, conv.outputSide(shape.height), conv.outputSide(shape.width), shape.outChannels])
        for i in 0..<dy.count { dy[i] = Float(rng.normal()) }
        let dx = Tensor(shape: [0])
        let candidates = shape.candidates
        var seconds = [[Double]](repeating: [], count: candidates.count)
        for round in 0..<6 {
            for (k, candidate) in candidates.enumerated() {
                conv.algorithm = candidate
                let start = Timing.now()
                conv.forward(x, training: true)
                conv.backward(dy, into: inputGradient ? dx : nil)
                if round > 0 { seconds[k].append(Timing.now() - start) }
            }
        }
        return zip(candidates, seconds).map { ($0, $1.sorted()[$1.count / 2]) }
    }
}

/// Every distinct convolution shape of resnet50 (ImageNet stem) in one training step: forward
/// and backward time per layer on the planner's rule, with the rate in GFLOP/s (2 per
/// multiply-add) and the total over the trunk's layers (`dclkit-bench resnet50`).
enum ResNet50ConvolutionBench {
    static func run() {
        for (side, images) in [(96, 64), (224, 32)] {
            print("\n### resnet50 convolutions, \(side)×\(side), \(images) images (threads: \(Threads.count))\n")
            print("Median ms of 5 runs per layer (the input gradient everywhere but the stem), the planner's rule.\n")
            print("| shape (N×H×W×Cin → Cout) | k s | layers | algorithm | forward ms | GFLOP/s | backward ms | GFLOP/s |")
            print("|---|---|---:|---|---:|---:|---:|---:|")
            var total = (forward: 0.0, backward: 0.0, flops: 0.0)
            for (index, (shape, layers)) in shapes(side: side, images: images).enumerated() {
                let conv = Conv2d(inChannels: shape.inChannels, outChannels: shape.outChannels, kernel: shape.kernel,
                                  stride: shape.stride, padding: shape.padding)
                var rng = CounterRNG(seed: 5)
                for i in 0..<conv.weight.value.count { conv.weight.value[i] = Float(rng.normal()) * 0.05 }
                let x = Tensor(shape: [shape.batch, shape.height, shape.width, shape.inChannels])
                for i in 0..<x.count { x[i] = Float(rng.normal()) }
                conv.forward(x, training: true)
                let dy = Tensor(shape: conv.output.shape)
                for i in 0..<dy.count { dy[i] = Float(rng.normal()) }
                let dx = index > 0 ? Tensor(shape: [0]) : nil
                let forward = Timing.median(repeats: 5) { conv.forward(x, training: true) }
                let backward = Timing.median(repeats: 5) {
                    conv.forward(x, training: true)
                    conv.backward(dy, into: dx)
                } - forward
                let flops = 2 * Double(conv.multiplyAdds)
                let backwardFlops = flops * (dx == nil ? 1 : 2)
                total.forward += forward * Double(layers)
                total.backward += backward * Double(layers)
                total.flops += (flops + backwardFlops) * Double(layers)
                print("| \(shape.batch)×\(shape.height)×\(shape.width)×\(shape.inChannels) → \(shape.outChannels) | "
                      + "\(shape.kernel) \(shape.stride) | \(layers) | \(conv.lastAlgorithm.rawValue) | "
                      + "\(Timing.format(forward * 1000, 2)) | \(Timing.format(flops / forward / 1e9, 1)) | "
                      + "\(Timing.format(backward * 1000, 2)) | \(Timing.format(backwardFlops / backward / 1e9, 1)) |")
            }
            print("| all layers | | | | \(Timing.format(total.forward * 1000, 1)) | | \(Timing.format(total.backward * 1000, 1)) | "
                  + "\(Timing.format(total.flops / (total.forward + total.backward) / 1e9, 1)) overall |")
        }
    }

    /// The distinct convolution shapes of one resnet50 training forward, in order, with how many layers have each.
    private static func shapes(side: Int, images: Int) -> [(ConvolutionShape, Int)] {
        let configuration = try! EncoderConfiguration(architecture: .resnet50, stem: .imagenet, width: 1, head: .simclr)
        let encoder = Encoder(configuration: configuration, seed: 1)
        encoder.forward(Tensor(shape: [images, side, side, 3]), training: true)
        var seen: [(ConvolutionShape, Int)] = []
        for conv in encoder.trunk.convolutions {
            guard let shape = conv.lastShape else { continue }
            if let i = seen.firstIndex(where: { $0.0 == shape }) { seen[i].1 += 1 } else { seen.append((shape, 1)) }
        }
        return seen
    }
}
