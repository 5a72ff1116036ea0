#if canImport(Glibc)
import Glibc
#endif
import DCLKit

/// resnet18 with the CIFAR stem and SimCLR head on 32×32 images: forward and training-pass
/// throughput, achieved GFLOP/s against a large sgemm measured in the same run, where the time
/// goes per layer kind, and the peak memory of a batch-256 two-view training pass (measured in a
/// child process, since peak RSS is per process).
enum EncoderBench {
    private static let childVariable = "DCLKIT_BENCH_CHILD"

    static func run() {
        if let role = getenv(childVariable), String(cString: role) == "encoder-memory" {
            memoryPass()
            exit(0)
        }
        let configuration = try! EncoderConfiguration(architecture: .resnet18, stem: .cifar, head: .simclr)
        print("\n### Encoder: resnet18, CIFAR stem, SimCLR head, 32×32 (threads: \(Threads.count), BLAS core: \(BLAS.coreName))\n")
        print("Each timed pass alternates with a 2048×2048×2048 sgemm; medians of both, so that load from")
        print("other processes affects the ratio less. Convolutions: `ConvolutionPlanner`'s default rule, and im2col")
        print("everywhere for comparison; GFLOP/s count the direct convolution's multiply-adds.\n")
        print("| width | batch | convolutions | pass | median ms | images/s | GFLOP/s | sgemm GFLOP/s | % of sgemm |")
        print("|---:|---:|---|---|---:|---:|---:|---:|---:|")
        let sgemm = SquareProduct(2048)
        for (width, batch) in [(1.0, 64), (1.0, 128), (0.25, 128)] {
            let configuration = try! EncoderConfiguration(architecture: .resnet18, stem: .cifar, width: width, head: .simclr)
            for (policy, name) in [(ConvolutionPlanner.Policy.rule, "rule"), (.forced(.im2col), "im2col")] {
                ConvolutionPlanner.policy = policy
                defer { ConvolutionPlanner.policy = .rule }
                let encoder = Encoder(configuration: configuration, seed: 1)
                let x = randomImages(batch)
                let dz = Tensor(shape: [batch, 128])
                dz.fill(1e-3)
                let repeats = 7
                let forward = alternating(repeats, sgemm) { encoder.forward(x, training: true) }
                let forwardFlops = 2 * Double(encoder.multiplyAdds)
                let train = alternating(repeats, sgemm) { trainingPass(encoder, x, dz) }
                let trainFlops = 2 * Double(trainingMultiplyAdds(encoder))
                for (pass, (seconds, peak), flops) in [("forward", forward, forwardFlops), ("forward + backward", train, trainFlops)] {
                    let rate = flops / seconds / 1e9
                    print("| \(width) | \(batch) | \(name) | \(pass) | \(Timing.format(seconds * 1000)) | \(Timing.format(Double(batch) / seconds)) "
                          + "| \(Timing.format(rate)) | \(Timing.format(peak)) | \(Timing.format(100 * rate / peak)) |")
                }
                if policy == .rule {
                    if batch == 128 { printChoices(encoder) }
                    printSplit(encoder, x, dz, passes: repeats)
                }
            }
        }
        printSingleThreaded(configuration)
        measureMemoryInChild()
    }

    /// The batch-128 training pass and the sgemm on one thread: per-core efficiency, which
    /// suffers less than the two-thread figures when other processes share the machine.
    private static func printSingleThreaded(_ configuration: EncoderConfiguration) {
        let threads = Threads.count
        Threads.setCount(1)
        defer { Threads.setCount(threads) }
        let encoder = Encoder(configuration: configuration, seed: 1)
        let x = randomImages(128)
        let dz = Tensor(shape: [128, 128])
        dz.fill(1e-3)
        let (seconds, peak) = alternating(5, SquareProduct(2048)) { trainingPass(encoder, x, dz) }
        let rate = 2 * Double(trainingMultiplyAdds(encoder)) / seconds / 1e9
        print("\nOne thread, batch 128, forward + backward: \(Timing.format(seconds * 1000)) ms, "
              + "\(Timing.format(rate)) GFLOP/s, \(Timing.format(100 * rate / peak)) % of the one-thread sgemm (\(Timing.format(peak)) GFLOP/s).")
    }

    /// How many of the encoder's convolutions ran each algorithm in its last pass.
    private static func printChoices(_ encoder: Encoder) {
        let counts = ConvolutionAlgorithm.allCases.map { algorithm in
            (algorithm, encoder.trunk.convolutions.filter { $0.lastAlgorithm == algorithm }.count)
        }
        print("\nConvolution layers per algorithm: " + counts.map { "\($0.0.rawValue): \($0.1)" }.joined(separator: ", ")
              + " (per shape: the `convolution` section).\n")
    }

    /// Where the time of a training pass goes, per layer kind.
    private static func printSplit(_ encoder: Encoder, _ x: Tensor, _ dz: Tensor, passes: Int) {
        let profile = LayerProfile()
        encoder.workspace.profile = profile
        let start = Timing.now()
        for _ in 0..<passes { trainingPass(encoder, x, dz) }
        let total = Timing.now() - start
        encoder.workspace.profile = nil
        let split = LayerProfile.Kind.allCases.map { ($0, profile.seconds[$0] ?? 0) }
        let measured = split.reduce(0) { $0 + $1.1 }
        print("\nTime per layer kind, training pass at width \(encoder.configuration.width), batch \(x.shape[0]) (\(passes) passes, "
              + "\(Timing.format(total, 2)) s):\n")
        print("| kind | share of the pass |")
        print("|---|---:|")
        for (kind, seconds) in split { print("| \(kind.rawValue) | \(Timing.format(100 * seconds / total)) % |") }
        print("| other (loops, residual bookkeeping) | \(Timing.format(100 * (total - measured) / total)) % |")
    }

    /// Median seconds of `body` and median GFLOP/s of `sgemm`, timed alternately `repeats` times
    /// after one untimed run of each.
    private static func alternating(_ repeats: Int, _ sgemm: SquareProduct, _ body: () -> Void) -> (Double, Double) {
        body()
        sgemm.run()
        var seconds: [Double] = [], rates: [Double] = []
        for _ in 0..<repeats {
            let t0 = Timing.now()
            sgemm.run()
            let t1 = Timing.now()
            body()
            seconds.append(Timing.now() - t1)
            rates.append(sgemm.flops / (t1 - t0) / 1e9)
        }
        return (seconds.sorted()[repeats / 2], rates.sorted()[repeats / 2])
    }

    /// One training step's encoder work: forward in training mode and parameter gradients.
    private static func trainingPass(_ encoder: Encoder, _ x: Tensor, _ dz: Tensor) {
        encoder.forward(x, training: true)
        encoder.zeroGradients()
        encoder.accumulateGradients(projectionGradient: dz, featureGradient: nil)
    }

    /// Multiply-adds of `trainingPass`: forward, weight gradients, and input gradients of every
    /// layer but the stem convolution (its input is the image).
    private static func trainingMultiplyAdds(_ encoder: Encoder) -> Int {
        3 * encoder.multiplyAdds - encoder.trunk.conv1.multiplyAdds
    }

    private static func randomImages(_ n: Int) -> Tensor {
        let x = Tensor(shape: [n, 32, 32, 3])
        var rng = CounterRNG(seed: 3)
        for i in 0..<x.count { x[i] = Float(rng.normal()) }
        return x
    }

    /// Runs this benchmark again as a child that only does `memoryPass`.
    private static func measureMemoryInChild() {
        print("\nPeak memory, batch 256 × 2 views = 512 images per training pass (child process):\n")
        fflush(stdout)
        setenv(childVariable, "encoder-memory", 1)
        defer { unsetenv(childVariable) }
        var pid: pid_t = 0
        let arguments = ["dclkit-bench", "encoder"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        guard posix_spawn(&pid, "/proc/self/exe", nil, nil, &argv, environ) == 0 else {
            print("could not start the child process")
            return
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// Two training passes over 512 images; prints the step time and the peak resident memory.
    private static func memoryPass() {
        let configuration = try! EncoderConfiguration(architecture: .resnet18, stem: .cifar, head: .simclr)
        let encoder = Encoder(configuration: configuration, seed: 1)
        let x = randomImages(512)
        let dz = Tensor(shape: [512, 128])
        dz.fill(1e-3)
        trainingPass(encoder, x, dz)
        let start = Timing.now()
        trainingPass(encoder, x, dz)
        let seconds = Timing.now() - start
        let peak = Double(Timing.peakResidentBytes()) / Double(1 << 30)
        print("| images | pass s | images/s | peak RSS GB |")
        print("|---:|---:|---:|---:|")
        print("| 512 | \(Timing.format(seconds, 2)) | \(Timing.format(512 / seconds)) | \(Timing.format(peak, 2)) |")
    }
}

/// An n×n×n single-precision matrix product on fixed operands.
private final class SquareProduct {
    let a: Tensor, b: Tensor, c: Tensor
    let n: Int
    /// Floating-point operations of one product, 2n³.
    var flops: Double { 2 * Double(n * n * n) }

    init(_ n: Int) {
        self.n = n
        a = Tensor(shape: [n, n])
        b = Tensor(shape: [n, n])
        c = Tensor(shape: [n, n])
        a.fill(0.5)
        b.fill(0.25)
    }

    func run() { BLAS.gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n) }
}
