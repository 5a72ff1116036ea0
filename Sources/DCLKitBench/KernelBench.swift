import DCLKit
import DCLKitKernels

/// BatchNorm + ReLU (+ residual) passes of a residual block (its bn2, and its bn1 without the
/// residual) on ResNet-18's first-stage shapes
/// (2 × 128 views of 32×32, width 0.25 and 1), at each SIMD level the CPU runs: the baseline
/// kernels against the AVX2 + FMA and AVX-512 ones, in ms per call and in GB/s of activation
/// traffic.
enum KernelBench {
    static func run() {
        print("\n### SIMD kernels: BatchNorm + ReLU on (256, 32, 32, C) (threads: \(Threads.count))\n")
        print("| C | pass | level | ms | GB/s |")
        print("|---:|---|---|---:|---:|")
        let original = dclk_simd_level()
        defer { dclk_set_simd_level(original) }
        let levels = [DCLK_SIMD_BASELINE, DCLK_SIMD_AVX2_FMA, DCLK_SIMD_AVX512].filter { dclk_set_simd_level($0) == $0 }
        for c in [16, 64] {
            let shape = [256, 32, 32, c]
            var rng = CounterRNG(seed: 5)
            let x = Tensor(shape: shape), skip = Tensor(shape: shape), g = Tensor(shape: shape), dx = Tensor(shape: shape)
            for t in [x, skip, g] { for i in 0..<t.count { t[i] = Float(rng.normal()) } }
            let norm = BatchNorm(channels: c, relu: true), plain = BatchNorm(channels: c, relu: true)
            let bytes = Double(x.count * MemoryLayout<Float>.stride)
            // Forward reads x twice, the residual once, writes y; backward reads g, x, y and
            // writes g (the sums), then reads g, x and writes dx. Without the residual, forward
            // reads no residual and backward recomputes the ReLU mask from x: it reads g, x
            // (the sums), then g, x and writes dx.
            let passes: [(String, Double, () -> Void)] = [
                ("forward, residual + ReLU", 4, { norm.forward(x, training: true, residual: skip) }),
                ("backward, mask from the output", 7, { norm.backward(g, into: dx) }),
                ("forward, ReLU", 3, { plain.forward(x, training: true) }),
                ("backward, mask from x", 5, { plain.backward(g, into: dx) }),
            ]
            for (pass, traffic, body) in passes {
                for level in levels {
                    dclk_set_simd_level(level)
                    let seconds = Timing.median(repeats: 9, body)
                    print("| \(c) | \(pass) | \(String(cString: dclk_simd_level_name(level))) | \(Timing.format(seconds * 1000, 2)) "
                          + "| \(Timing.format(traffic * bytes / seconds / 1e9, 1)) |")
                }
            }
        }
    }
}
