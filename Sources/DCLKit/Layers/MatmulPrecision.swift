import DCLKitKernels
import Synchronization

/// The process-wide precision of the convolutions' large matrix products (issue 24's bfloat16
/// experiment), `.float32` unless set: `dclkit.set_matmul_precision` in Python, `dcl_set_matmul_precision`
/// in C, `native_info()["matmul_precision"]` reports it.
///
/// Under `.bfloat16`, Winograd's point products of layers with at least `minimumChannels` input
/// and output channels round both operands to bfloat16 (8 significant bits, relative error up to
/// 2⁻⁹ each) and sum the exact products in float32 (`dclk_bf16_gemm`: VDPBF16PS on AVX512_BF16,
/// elsewhere a portable loop with the same sums, bit for bit, and many times slower); every other
/// product stays float32. Set it between steps: a layer reads it once per pass.
public enum MatmulPrecision: String, CaseIterable, Sendable {
    /// Every product in float32 (the default).
    case float32
    /// Wide layers' Winograd point products on bfloat16 operands with float32 sums.
    case bfloat16

    /// The precision in force.
    public static var current: MatmulPrecision {
        get { allCases[state.load(ordering: .relaxed)] }
        set { state.store(allCases.firstIndex(of: newValue)!, ordering: .relaxed) }
    }

    /// The narrower side, in channels, from which a layer's Winograd point products run in
    /// bfloat16 under `.bfloat16`: the products' rate against the small float32 GEMM's, one
    /// thread, Zen 4, the tiles' conversion included (`dclkit-bench bf16`, 2026-12-07): 0.69–1.0×
    /// at 16 channels, 1.6× at 32, 1.8× at 64, 1.9–2.0× at 128 to 512.
    static let minimumChannels = 32

    /// Whether the Winograd point products of an `inChannels` → `outChannels` layer run in
    /// bfloat16 now.
    static func coversWinograd(inChannels: Int, outChannels: Int) -> Bool {
        current == .bfloat16 && min(inChannels, outChannels) >= minimumChannels
    }

    /// The one owner of the setting: an index into `allCases`.
    private static let state = Atomic<Int>(0)
}
