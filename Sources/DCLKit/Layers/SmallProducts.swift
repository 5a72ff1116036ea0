import DCLKitKernels

/// The one rule for which convolution products run DCLKitKernels' register-blocked
/// `dclk_small_gemm` (or its packed form `dclk_panel_gemm`) rather than OpenBLAS, and the im2col
/// layers' products in either form.
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

    /// Whether an im2col or pointwise layer's forward and input gradient run on the panel GEMM
    /// (`dclk_panel_gemm`, B packed once per call): both channel counts multiples of 16 (the
    /// small GEMM's whole vectors) and both inner dimensions, K = kernel²·Cin (forward) and Cout
    /// (input gradient), at most `maximumPanelDepth`, so that one panel fits in half a 1 MiB L2.
    /// Measured per product on Zen 4, one thread, CPU time (2026-12-07, machine loaded 6–9): on
    /// ResNet-50's 1×1 shapes of 256 to 2048 channels (one worker's 288 to 4608 rows at 96 px,
    /// 32 pairs), OpenBLAS (SkylakeX kernels, packing included) ran the forward at 84–96 GFLOP/s
    /// and the input gradient at 80–97, the panel GEMM (packing included) at 76–108 and 85–108,
    /// ahead in 30 of 36 measurements over two runs (behind in 6, mostly layer4's 288-row
    /// products in one run); the unpacked small GEMM fell to 50–63 on 2048², its weight rows
    /// 8 KiB apart (the same L1 sets). The weight gradient stays where it was: its inner
    /// dimension is the rows, and the panel form of it was not faster.
    static func coverPanels(inChannels: Int, outChannels: Int, kernel: Int) -> Bool {
        inChannels % 16 == 0 && outChannels % 16 == 0 && kernel * kernel * inChannels <= maximumPanelDepth
            && outChannels <= maximumPanelDepth
    }

    /// The deepest panel (rows of 64 floats) of `coverPanels`: 2048 rows, 512 KiB.
    static let maximumPanelDepth = 2048

    /// Rows per block of a pointwise layer's products on the small GEMM: 128–256 were the best
    /// blocks of the weight gradient (whose inner dimension they cut) at every ResNet-50 width,
    /// 2048 rows ran it at 0.55–0.75 of that; the forward and input gradient were level from 128
    /// to 512 (Zen 4, 2026-12-07). A constant, so the sums' order does not depend on the machine.
    static let pointwiseRows = 192
}

/// The three products of an im2col convolution with weight W (Cout, K) over `rows` rows of
/// columns (rows, K). The forward and the input gradient run on `dclk_panel_gemm` when `panels`
/// (their weight operand packed by `pack`), else OpenBLAS; the weight gradient on the small GEMM
/// when `small`, else OpenBLAS.
struct ColumnProducts {
    /// Whether the weight gradient runs on the small GEMM (`SmallProducts.coverColumns` or `coverPointwise`).
    let small: Bool
    /// Whether the forward and input gradient run on the panel GEMM (`SmallProducts.coverPanels`).
    let panels: Bool
    /// K, the columns per row (kernel²·Cin).
    let k: Int
    /// Cout.
    let outChannels: Int

    /// y (rows, Cout) = columns · Wᵀ; the panel GEMM reads `packedWeight`, Wᵀ packed by
    /// `pack(_:into:transposed: true)`, OpenBLAS reads `weight`.
    func forward(rows: Int, columns: UnsafePointer<Float>, weight: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>,
                 into y: UnsafeMutablePointer<Float>) {
        if panels {
            dclk_panel_gemm(rows, outChannels, k, columns, k, 1, packedWeight, y, outChannels, 0)
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

    /// out (rows, K) = dy · W, or += when `accumulate`; dy (rows, Cout). The panel GEMM reads
    /// `packedWeight`, W packed by `pack(_:into:transposed: false)`, OpenBLAS reads `weight`.
    func inputGradient(rows: Int, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>,
                       into out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if panels {
            dclk_panel_gemm(rows, k, outChannels, dy, outChannels, 1, packedWeight, out, k, accumulate ? 1 : 0)
        } else {
            BLAS.gemm(m: rows, n: k, k: outChannels, a: dy, lda: outChannels, b: weight, ldb: k, beta: accumulate ? 1 : 0, c: out, ldc: k)
        }
    }

    /// Packs `weight` (Cout, K) into `packed` for the panel GEMM when `panels`: Wᵀ (K, Cout) for
    /// the forward when `transposed`, W (Cout, K) for the input gradient otherwise.
    func pack(_ weight: UnsafePointer<Float>, into packed: Tensor, transposed: Bool) {
        guard panels else { return }
        packed.resize([k * outChannels])
        if transposed {
            dclk_pack_panels(weight, k, outChannels, 1, k, packed.data)
        } else {
            dclk_pack_panels(weight, outChannels, k, k, 1, packed.data)
        }
    }
}
