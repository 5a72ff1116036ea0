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
