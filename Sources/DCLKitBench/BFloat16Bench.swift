#if canImport(Glibc)
import Glibc
#endif
import DCLKit
import DCLKitKernels

/// Issue 24's bfloat16 experiment, its first half: the convolutions' matrix products on one
/// thread in float32 (`dclk_small_gemm`, what the Winograd point products and the small layers
/// run today) against bfloat16 operands with float32 sums (`dclk_bf16_gemm`, VDPBF16PS), on
/// shapes of ResNet-18's Winograd point products and ResNet-50's 1×1 convolutions, with each
/// result's relative L2 error against float64. "with packing" adds rounding A (the activations)
/// to bfloat16 per call; B (the weights) is packed once per step in a training pass.
enum BFloat16Bench {
    static func run() {
        print("\n### bfloat16 products with float32 sums against float32 products (one thread)\n")
        guard dclk_bf16_available() != 0 else {
            print("This CPU (or the forced SIMD level) has no AVX512_BF16: only the portable loop would run; skipped.")
            return
        }
        print("| m × k × n | shape from | float32 GFLOP/s | bf16 GFLOP/s | with packing | speed-up | float32 error | bf16 error |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        let shapes: [(Int, Int, Int, String)] = [
            (1024, 64, 64, "R18 ×1 layer1 Winograd point, 1,024 tiles"), (1024, 128, 128, "R18 ×1 layer2 point"),
            (512, 256, 256, "R18 ×1 layer3 point"), (128, 512, 512, "R18 ×1 layer4 point, batch 64"),
            (1024, 16, 16, "R18 ×0.25 layer1 point"), (1024, 32, 32, "R18 ×0.25 layer2 point"), (4096, 256, 64, "R50 1×1 reduce, 4,096 pixels"),
            (4096, 64, 256, "R50 1×1 expand"),
        ]
        for (m, k, n, source) in shapes { row(m: m, k: k, n: n, source: source) }
    }

    private static func row(m: Int, k: Int, n: Int, source: String) {
        var rng = CounterRNG(seed: 7)
        let a = (0..<(m * k)).map { _ in Float(rng.normal()) }, b = (0..<(k * n)).map { _ in Float(rng.normal()) }
        let pairs = (k + 1) / 2
        var packedA = [UInt32](repeating: 0, count: m * pairs), packedB = [UInt32](repeating: 0, count: pairs * n)
        dclk_bf16_pack_columns(b, k, n, n, &packedB)
        var single = [Float](repeating: 0, count: m * n), half = single
        let threads = Threads.count
        Threads.setCount(1)
        defer { Threads.setCount(threads) }
        let floatSeconds = Timing.median(repeats: 9) { dclk_small_gemm(m, n, k, a, k, 1, b, n, &single, n, 0) }
        dclk_bf16_pack_rows(a, m, k, k, &packedA)
        let bf16Seconds = Timing.median(repeats: 9) { dclk_bf16_gemm(m, n, k, packedA, packedB, &half, n, 0) }
        let packedSeconds = Timing.median(repeats: 9) {
            dclk_bf16_pack_rows(a, m, k, k, &packedA)
            dclk_bf16_gemm(m, n, k, packedA, packedB, &half, n, 0)
        }
        var floatError = 0.0, halfError = 0.0, size = 0.0
        for r in stride(from: 0, to: m, by: max(1, m / 64)) {
            for j in 0..<n {
                var exact = 0.0
                for p in 0..<k { exact += Double(a[r * k + p]) * Double(b[p * n + j]) }
                floatError += (Double(single[r * n + j]) - exact) * (Double(single[r * n + j]) - exact)
                halfError += (Double(half[r * n + j]) - exact) * (Double(half[r * n + j]) - exact)
                size += exact * exact
            }
        }
        let flops = 2 * Double(m * n * k) / 1e9
        print("| \(m) × \(k) × \(n) | \(source) | \(Timing.format(flops / floatSeconds)) | \(Timing.format(flops / bf16Seconds)) "
              + "| \(Timing.format(flops / packedSeconds)) | \(Timing.format(floatSeconds / packedSeconds, 2)) "
              + "| \(scientific((floatError / size).squareRoot())) | \(scientific((halfError / size).squareRoot())) |")
    }

    /// x as d.dde±x.
    private static func scientific(_ x: Double) -> String {
        guard x > 0 else { return "0" }
        let exponent = Int((log10(x)).rounded(.down))
        return "\(Timing.format(x / pow(10, Double(exponent)), 1))e\(exponent)"
    }
}
