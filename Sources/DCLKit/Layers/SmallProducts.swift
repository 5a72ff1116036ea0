import DCLKitKernels

/// The one rule for which convolution products run DCLKitKernels' register-blocked
/// `dclk_small_gemm` rather than OpenBLAS, and the im2col layers' products in either form.
///
/// Layers of at most 128 channels: their products are too small for OpenBLAS's packing to pay.
/// A fixed rule (no timing). For Winograd's point products it was set from training passes of
/// resnet18 at widths 1 and 0.25 on Zen 5 (2026-12-01): thresholds 0 / 64 / 128 / 256 / 512 with
/// OpenBLAS's Haswell and Cooperlake kernels; 128 was fastest or level with the fastest in every
/// case. For the im2col layers' products (stride-2 3×3 and 1×1 convolutions of 16 to 128
/// channels, one thread, Zen 5, OpenBLAS Haswell kernels, 2026-12-02) the small GEMM took
/// 0.43–0.64 of OpenBLAS's time in every direction. Pointwise layers need only their narrower
/// side within the bound (`coverPointwise`): their products are plain tall GEMMs, which the
/// small GEMM runs in cache-sized row blocks.
enum SmallProducts {
    /// The widest layer, in channels, whose products run on the small GEMM (for pointwise
    /// layers, the narrower side).
    static let maximumChannels = 128

    /// Whether Winograd's point products of an `inChannels` → `outChannels` layer run on the small GEMM.
    static func cover(inChannels: Int, outChannels: Int) -> Bool { max(inChannels, outChannels) <= maximumChannels }

    /// Whether an im2col layer's products run on the small GEMM: `cover`, and in-channels a
    /// multiple of 16, since the weight gradient's columns are kernel²·Cin and the small GEMM
    /// runs the last columns short of a whole vector one at a time (a 3-channel stem's 27
    /// columns were 20× slower there than in OpenBLAS).
    static func coverColumns(inChannels: Int, outChannels: Int) -> Bool {
        cover(inChannels: inChannels, outChannels: outChannels) && inChannels % 16 == 0
    }

    /// Whether a pointwise (1×1 stride-1) layer's products run on the small GEMM: the narrower
    /// side at most `maximumChannels` and both sides multiples of 16. Row blocks of
    /// `pointwiseRows` keep each block's operands in cache. Measured per product on Zen 4, one
    /// thread, 18 432 rows (2026-12-07): OpenBLAS (SkylakeX kernels) ran ResNet-50's 64 ↔ 256
    /// products at 66–83 GFLOP/s, the small GEMM at 83–99; 128 ↔ 512 and 256 → 128 at 72–90
    /// against 80–103 (its weight gradient of 128 → 512 level); 256 ↔ 1024 and wider level, so
    /// they stay on OpenBLAS.
    static func coverPointwise(inChannels: Int, outChannels: Int) -> Bool {
        min(inChannels, outChannels) <= maximumChannels && inChannels % 16 == 0 && outChannels % 16 == 0
    }

    /// Rows per block of a pointwise layer's products on the small GEMM: 128–256 were the best
    /// blocks of the weight gradient (whose inner dimension they cut) at every ResNet-50 width,
    /// 2048 rows ran it at 0.55–0.75 of that; the forward and input gradient were level from 128
    /// to 512 (Zen 4, 2026-12-07). A constant, so the sums' order does not depend on the machine.
    static let pointwiseRows = 192
}

/// The three products of an im2col convolution with weight W (Cout, K) over `rows` rows of
/// columns (rows, K), on the small GEMM when `small`, else OpenBLAS.
struct ColumnProducts {
    /// Whether the products run on the small GEMM (`SmallProducts.coverColumns`).
    let small: Bool
    /// K, the columns per row (kernel²·Cin).
    let k: Int
    /// Cout.
    let outChannels: Int

    /// y (rows, Cout) = columns · Wᵀ; the small GEMM reads `transposedWeight`, Wᵀ (K, Cout)
    /// (`transpose`), OpenBLAS reads `weight`.
    func forward(rows: Int, columns: UnsafePointer<Float>, weight: UnsafePointer<Float>, transposedWeight: UnsafePointer<Float>,
                 into y: UnsafeMutablePointer<Float>) {
        if small {
            dclk_small_gemm(rows, outChannels, k, columns, k, 1, transposedWeight, outChannels, y, outChannels, 0)
        } else {
            BLAS.gemm(transB: true, m: rows, n: outChannels, k: k, a: columns, lda: k, b: weight, ldb: k, c: y, ldc: outChannels)
        }
    }

    /// dW (Cout, K) += dyᵀ · columns, dy (rows, Cout).
    func accumulateWeightGradient(rows: Int, dy: UnsafePointer<Float>, columns: UnsafePointer<Float>, into dW: UnsafeMutablePointer<Float>) {
        if small {
            dclk_small_gemm(outChannels, k, rows, dy, 1, outChannels, columns, k, dW, k, 1)
        } else {
            BLAS.gemm(transA: true, m: outChannels, n: k, k: rows, a: dy, lda: outChannels, b: columns, ldb: k, beta: 1, c: dW, ldc: k)
        }
    }

    /// out (rows, K) = dy · W, or += when `accumulate`; dy (rows, Cout).
    func inputGradient(rows: Int, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                       accumulate: Bool) {
        if small {
            dclk_small_gemm(rows, k, outChannels, dy, outChannels, 1, weight, k, out, k, accumulate ? 1 : 0)
        } else {
            BLAS.gemm(m: rows, n: k, k: outChannels, a: dy, lda: outChannels, b: weight, ldb: k, beta: accumulate ? 1 : 0, c: out, ldc: k)
        }
    }

    /// Writes Wᵀ (K, Cout) of `weight` (Cout, K) into `transposed` when the small GEMM needs it.
    func transpose(_ weight: UnsafePointer<Float>, into transposed: Tensor) {
        guard small else { return }
        transposed.resize([k, outChannels])
        let t = transposed.data
        for o in 0..<outChannels {
            for p in 0..<k { t[p * outChannels + o] = weight[o * k + p] }
        }
    }
}
