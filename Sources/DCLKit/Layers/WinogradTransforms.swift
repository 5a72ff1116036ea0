/// The transform matrices of a Winograd minimal-filtering algorithm F(m×m, 3×3) and the
/// two-sided products `L · X · Lᵀ` that apply them to tiles of channel vectors.
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
    /// Bᵀ (α×α), G (α×3) and Aᵀ (m×α), row-major (for error bounds in tests).
    let matrices: (inputTransform: [Float], kernelTransform: [Float], outputTransform: [Float])
    /// Bᵀ (α×α): input tile → transform points.
    let input: TileTransform
    /// G (α×3): kernel → transform points.
    let kernel: TileTransform
    /// Aᵀ (m×α): transform points → output tile.
    let output: TileTransform
    /// A (α×m): output-tile gradient → transform-point gradient (the adjoint of `output`).
    let outputGradient: TileTransform
    /// Gᵀ (3×α): transform-point gradient → kernel gradient (the adjoint of `kernel`).
    let kernelGradient: TileTransform

    /// Transform points α², one matrix product each.
    var points: Int { inputTile * inputTile }

    /// A tiling from Bᵀ (α×α), G (α×3) and Aᵀ (m×α), all row-major.
    init(outputTile m: Int, inputTransform bt: [Float], kernelTransform g: [Float], outputTransform at: [Float]) {
        let a = m + 2
        outputTile = m
        inputTile = a
        matrices = (bt, g, at)
        input = TileTransform(bt, rows: a, columns: a)
        kernel = TileTransform(g, rows: a, columns: 3)
        output = TileTransform(at, rows: m, columns: a)
        outputGradient = TileTransform(WinogradTiling.transposed(at, rows: m, columns: a), rows: a, columns: m)
        kernelGradient = TileTransform(WinogradTiling.transposed(g, rows: a, columns: 3), rows: 3, columns: a)
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
    /// errors grow by about an order of magnitude against the direct sum (measured in the tests).
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

    /// `matrix` (rows × columns) transposed.
    private static func transposed(_ matrix: [Float], rows: Int, columns: Int) -> [Float] {
        var t = [Float](repeating: 0, count: matrix.count)
        for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = matrix[r * columns + c] } }
        return t
    }
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

/// A small dense matrix L with its nonzero entries listed row by row, for `L · X · Lᵀ` on tiles
/// whose elements are `Lanes`. The lists live in storage allocated once (the transforms are
/// built once per tiling), so applying one touches no reference counts.
final class TileTransform {
    /// Rows s and columns r of L.
    let rows, columns: Int
    /// Row i's nonzero entries are `column[i·r ..< i·r + count[i]]` with `coefficient` alike.
    private let count: UnsafeMutablePointer<Int>
    private let column: UnsafeMutablePointer<Int>
    private let coefficient: UnsafeMutablePointer<Float>

    /// L given row-major, `rows × columns`.
    init(_ matrix: [Float], rows: Int, columns: Int) {
        precondition(matrix.count == rows * columns, "TileTransform: \(matrix.count) entries for \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        count = .allocate(capacity: rows)
        column = .allocate(capacity: rows * columns)
        coefficient = .allocate(capacity: rows * columns)
        for i in 0..<rows {
            var n = 0
            for c in 0..<columns where matrix[i * columns + c] != 0 {
                column[i * columns + n] = c
                coefficient[i * columns + n] = matrix[i * columns + c]
                n += 1
            }
            count[i] = n
        }
    }

    deinit {
        count.deallocate()
        column.deallocate()
        coefficient.deallocate()
    }

    /// `out = L · x · Lᵀ`: x is r×r, `scratch` holds s·r, out s×s, all row-major.
    @inline(__always)
    func apply(_ x: UnsafePointer<Lanes>, scratch: UnsafeMutablePointer<Lanes>, into out: UnsafeMutablePointer<Lanes>) {
        let (s, r) = (rows, columns)
        // scratch = L · x  (s×r)
        for i in 0..<s {
            let t = scratch + i * r
            for l in 0..<r { t[l] = Lanes() }
            for e in (i * r)..<(i * r + count[i]) {
                let (xk, c) = (x + column[e] * r, Lanes(repeating: coefficient[e]))
                for l in 0..<r { t[l] += c * xk[l] }
            }
        }
        // out = scratch · Lᵀ  (s×s): out[i][j] = Σ_l scratch[i][l] L[j][l]
        for i in 0..<s {
            let t = scratch + i * r
            for j in 0..<s {
                var acc = Lanes()
                for e in (j * r)..<(j * r + count[j]) { acc += Lanes(repeating: coefficient[e]) * t[column[e]] }
                out[i * s + j] = acc
            }
        }
    }
}
