/// The transform matrices of a Winograd minimal-filtering algorithm F(m×m, 3×3). Their
/// hand-factored forms, applied to tiles of channel vectors, are the `dclk_winograd_*` kernels
/// of DCLKitKernels (`WinogradTiles`); the tests check those against these matrices.
///
/// With input tile d (α×α, α = m + 2), kernel g (3×3) and output tile Y (m×m),
/// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` is the 3×3 correlation of d with g (Lavin & Gray 2016).
/// The α² elementwise products become α² matrix products when summed over channels.
/// Backward uses the adjoints: dL/d(the α×α product) = A dY Aᵀ and dL/dg = Gᵀ dU G.
final class WinogradTiling {
    /// Output tile side m.
    let outputTile: Int
    /// Input tile side α = m + 2.
    let inputTile: Int
    /// Bᵀ (α×α), G (α×3) and Aᵀ (m×α), row-major: the definition the kernels factor (and the
    /// tests check them against).
    let matrices: (inputTransform: [Float], kernelTransform: [Float], outputTransform: [Float])

    /// Transform points α², one matrix product each.
    var points: Int { inputTile * inputTile }

    /// A tiling from Bᵀ (α×α), G (α×3) and Aᵀ (m×α), all row-major.
    init(outputTile m: Int, inputTransform bt: [Float], kernelTransform g: [Float], outputTransform at: [Float]) {
        precondition(bt.count == (m + 2) * (m + 2) && g.count == (m + 2) * 3 && at.count == m * (m + 2), "WinogradTiling: F(\(m), 3)")
        outputTile = m
        inputTile = m + 2
        matrices = (bt, g, at)
    }

    /// F(2×2, 3×3): interpolation points 0, ±1, ∞; 16 products per 4 outputs (2.25× fewer
    /// multiplications than the direct sum); the entries are 0, ±1, ±½, so float32 rounding stays
    /// near that of the direct sum.
    static let f2 = WinogradTiling(
        outputTile: 2,
        inputTransform: [1, 0, -1, 0,
                         0, 1, 1, 0,
                         0, -1, 1, 0,
                         0, 1, 0, -1],
        kernelTransform: [1, 0, 0,
                          0.5, 0.5, 0.5,
                          0.5, -0.5, 0.5,
                          0, 0, 1],
        outputTransform: [1, 1, 1, 0,
                          0, 1, -1, -1])

    /// F(4×4, 3×3): interpolation points 0, ±1, ±2, ∞; 36 products per 16 outputs (4× fewer
    /// multiplications than the direct sum), with entries up to 8 in Aᵀ and 5 in Bᵀ, so float32
    /// errors grow: on `WinogradConvolutionTests`' shapes the largest forward error is 3.5e-6 of
    /// the sum of |terms| (im2col: 1.8e-7, F(2×2): 4.7e-7). In a network's gradients that is up to
    /// 3.7x a float32 direct convolution's error when it runs every pass, within 1.6x when it runs
    /// the weight gradient only, as `ConvolutionPlanner.rule` has it.
    static let f4 = WinogradTiling(
        outputTile: 4,
        inputTransform: [4, 0, -5, 0, 1, 0,
                         0, -4, -4, 1, 1, 0,
                         0, 4, -4, -1, 1, 0,
                         0, -2, -1, 2, 1, 0,
                         0, 2, -1, -2, 1, 0,
                         0, 4, 0, -5, 0, 1],
        kernelTransform: [1.0 / 4, 0, 0,
                          -1.0 / 6, -1.0 / 6, -1.0 / 6,
                          -1.0 / 6, 1.0 / 6, -1.0 / 6,
                          1.0 / 24, 1.0 / 12, 1.0 / 6,
                          1.0 / 24, -1.0 / 12, 1.0 / 6,
                          0, 0, 1],
        outputTransform: [1, 1, 1, 1, 1, 0,
                          0, 1, -1, 2, -2, 0,
                          0, 1, 1, 4, 4, 0,
                          0, 1, -1, 8, -8, 1])
}
