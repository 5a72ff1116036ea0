/// The transform matrices of a Winograd minimal-filtering algorithm F(m×m, 3×3), and their
/// hand-factored forms (`WinogradCodelets`) that apply them to tiles of channel vectors.
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
    /// Bᵀ (α×α), G (α×3) and Aᵀ (m×α), row-major: the definition the codelets factor (and the
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
    /// the sum of |terms| (im2col: 1.8e-7, F(2×2): 4.7e-7), far below the noise of a training
    /// step, and every layer it runs in is followed by BatchNorm.
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

/// Eight channels of one tile element: the unit the transforms work on (channels are the
/// contiguous axis of NHWC data, so every load and store is a run of consecutive floats).
typealias Lanes = SIMD8<Float>

/// Reads `count` ≤ 8 consecutive floats (the rest zero).
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ count: Int) -> Lanes {
    if count == 8 { return UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
    var v = Lanes()
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Writes the first `count` ≤ 8 lanes of `v` (adding them to what is there when `add`).
@inline(__always)
func storeLanes(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ count: Int, add: Bool) {
    if count == 8 {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: add ? raw.loadUnaligned(as: Lanes.self) + v : v, as: Lanes.self)
        return
    }
    for i in 0..<count { p[i] = add ? p[i] + v[i] : v[i] }
}

/// The 1-D transforms of one tiling as straight-line code over `Lanes`: each reads its inputs
/// at `x[0], x[xs], x[2·xs], …` and writes its outputs at `y[0], y[ys], …`. A 2-D transform
/// `L · X · Lᵀ` is the 1-D one over the columns, then over the rows (`twoSided`).
protocol WinogradCodelets {
    /// Output tile side m (the input tile side is m + 2).
    static var outputTile: Int { get }
    /// Bᵀ d: α → α.
    static func input(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int)
    /// Aᵀ M: α → m.
    static func output(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int)
    /// A dY: m → α (the adjoint of `output`).
    static func outputGradient(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int)
    /// G g: 3 → α.
    static func kernel(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int)
    /// Gᵀ dU: α → 3 (the adjoint of `kernel`).
    static func kernelGradient(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int)
}

extension WinogradCodelets {
    /// Input tile side α.
    static var inputTile: Int { outputTile + 2 }

    /// `out = L · x · Lᵀ` for the 1-D transform `f` from r to s points: x is r×r, `scratch` holds
    /// s·r, out s×s, all row-major.
    @inline(__always)
    static func twoSided(_ f: (UnsafePointer<Lanes>, Int, UnsafeMutablePointer<Lanes>, Int) -> Void, from r: Int, to s: Int,
                         _ x: UnsafePointer<Lanes>, scratch: UnsafeMutablePointer<Lanes>, into out: UnsafeMutablePointer<Lanes>) {
        for column in 0..<r { f(x + column, r, scratch + column, r) }
        for row in 0..<s { f(scratch + row * r, 1, out + row * s, 1) }
    }
}

/// F(2×2, 3×3)'s transforms (`WinogradTiling.f2`).
enum F2Codelets: WinogradCodelets {
    static var outputTile: Int { 2 }

    @inline(__always)
    static func input(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (d0, d1, d2, d3) = (x[0], x[xs], x[2 * xs], x[3 * xs])
        y[0] = d0 - d2
        y[ys] = d1 + d2
        y[2 * ys] = d2 - d1
        y[3 * ys] = d1 - d3
    }

    @inline(__always)
    static func output(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (m0, m1, m2, m3) = (x[0], x[xs], x[2 * xs], x[3 * xs])
        y[0] = m0 + m1 + m2
        y[ys] = m1 - m2 - m3
    }

    @inline(__always)
    static func outputGradient(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (e0, e1) = (x[0], x[xs])
        y[0] = e0
        y[ys] = e0 + e1
        y[2 * ys] = e0 - e1
        y[3 * ys] = -e1
    }

    @inline(__always)
    static func kernel(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (g0, g1, g2) = (x[0], x[xs], x[2 * xs])
        let (a, half) = (g0 + g2, Lanes(repeating: 0.5))
        y[0] = g0
        y[ys] = (a + g1) * half
        y[2 * ys] = (a - g1) * half
        y[3 * ys] = g2
    }

    @inline(__always)
    static func kernelGradient(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (u0, u1, u2, u3) = (x[0], x[xs], x[2 * xs], x[3 * xs])
        let half = Lanes(repeating: 0.5)
        let sum = (u1 + u2) * half
        y[0] = u0 + sum
        y[ys] = (u1 - u2) * half
        y[2 * ys] = sum + u3
    }
}

/// F(4×4, 3×3)'s transforms (`WinogradTiling.f4`), with the usual pairing of rows ±1 and ±2.
enum F4Codelets: WinogradCodelets {
    static var outputTile: Int { 4 }

    @inline(__always)
    static func input(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (d0, d1, d2, d3, d4, d5) = (x[0], x[xs], x[2 * xs], x[3 * xs], x[4 * xs], x[5 * xs])
        let (four, five, two) = (Lanes(repeating: 4), Lanes(repeating: 5), Lanes(repeating: 2))
        let (p1, q1) = (d4 - four * d2, d3 - four * d1)
        let (p2, q2) = (d4 - d2, two * (d3 - d1))
        y[0] = four * d0 - five * d2 + d4
        y[ys] = p1 + q1
        y[2 * ys] = p1 - q1
        y[3 * ys] = p2 + q2
        y[4 * ys] = p2 - q2
        y[5 * ys] = four * d1 - five * d3 + d5
    }

    @inline(__always)
    static func output(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (m0, m1, m2, m3, m4, m5) = (x[0], x[xs], x[2 * xs], x[3 * xs], x[4 * xs], x[5 * xs])
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4)
        y[0] = m0 + s12 + s34
        y[ys] = d12 + Lanes(repeating: 2) * d34
        y[2 * ys] = s12 + Lanes(repeating: 4) * s34
        y[3 * ys] = d12 + Lanes(repeating: 8) * d34 + m5
    }

    @inline(__always)
    static func outputGradient(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (e0, e1, e2, e3) = (x[0], x[xs], x[2 * xs], x[3 * xs])
        let (p1, q1) = (e0 + e2, e1 + e3)
        let (p2, q2) = (e0 + Lanes(repeating: 4) * e2, Lanes(repeating: 2) * e1 + Lanes(repeating: 8) * e3)
        y[0] = e0
        y[ys] = p1 + q1
        y[2 * ys] = p1 - q1
        y[3 * ys] = p2 + q2
        y[4 * ys] = p2 - q2
        y[5 * ys] = e3
    }

    @inline(__always)
    static func kernel(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (g0, g1, g2) = (x[0], x[xs], x[2 * xs])
        let a = g0 + g2
        let b = g0 * Lanes(repeating: 1.0 / 24) + g2 * Lanes(repeating: 1.0 / 6)
        let c = g1 * Lanes(repeating: 1.0 / 12)
        let minusSixth = Lanes(repeating: -1.0 / 6)
        y[0] = g0 * Lanes(repeating: 0.25)
        y[ys] = (a + g1) * minusSixth
        y[2 * ys] = (a - g1) * minusSixth
        y[3 * ys] = b + c
        y[4 * ys] = b - c
        y[5 * ys] = g2
    }

    @inline(__always)
    static func kernelGradient(_ x: UnsafePointer<Lanes>, _ xs: Int, _ y: UnsafeMutablePointer<Lanes>, _ ys: Int) {
        let (u0, u1, u2, u3, u4, u5) = (x[0], x[xs], x[2 * xs], x[3 * xs], x[4 * xs], x[5 * xs])
        let (s12, d12, s34, d34) = (u1 + u2, u2 - u1, u3 + u4, u3 - u4)
        let sixth = Lanes(repeating: 1.0 / 6)
        y[0] = u0 * Lanes(repeating: 0.25) - s12 * sixth + s34 * Lanes(repeating: 1.0 / 24)
        y[ys] = d12 * sixth + d34 * Lanes(repeating: 1.0 / 12)
        y[2 * ys] = (s34 - s12) * sixth + u5
    }
}
