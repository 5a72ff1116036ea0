import DCLKitKernels
import XCTest
@testable import DCLKit

/// The bfloat16 products of issue 24's experiment (`dclk_bf16_*`): rounding to bfloat16 against
/// the two neighbouring bfloat16 values worked out here, and the products against float64 sums of
/// the rounded operands, at every SIMD level (the AVX-512 BF16 kernel where the CPU has it, the
/// portable loop elsewhere), with the two builds compared bit for bit.
final class BFloat16ProductsTests: XCTestCase {
    /// The float32 value of a bfloat16 bit pattern.
    private func value(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    func test_rounding_is_to_nearest_with_ties_to_even() {
        XCTAssertEqual(dclk_bf16_from_float(1), 0x3F80)
        XCTAssertEqual(dclk_bf16_from_float(1 + 0x1p-8), 0x3F80, "a tie goes to the even 1.0")
        XCTAssertEqual(dclk_bf16_from_float(1 + 3 * 0x1p-8), 0x3F82, "a tie goes to the even 1 + 2⁻⁶")
        XCTAssertEqual(dclk_bf16_from_float(1 + 0x1p-8 + 0x1p-20), 0x3F81, "above the tie rounds up")
        XCTAssertEqual(dclk_bf16_from_float(-2), 0xC000)
        XCTAssertTrue(value(dclk_bf16_from_float(.nan)).isNaN)
        XCTAssertEqual(value(dclk_bf16_from_float(.infinity)), .infinity)
        var rng = CounterRNG(seed: 11)
        for _ in 0..<2000 {
            let x = Float(rng.normal()) * Float(1 << Int(rng.next() % 20)) / 1024
            let bits = x.bitPattern
            // The two bfloat16 values around x: its top 16 bits, and one unit of the last place further out.
            let below = value(UInt16(bits >> 16)), above = value(UInt16(bits >> 16) + 1)
            let rounded = value(dclk_bf16_from_float(x))
            let toBelow = abs(Double(x) - Double(below)), toAbove = abs(Double(x) - Double(above))
            if toBelow < toAbove { XCTAssertEqual(rounded, below, "\(x)") }
            else if toAbove < toBelow { XCTAssertEqual(rounded, above, "\(x)") }
            else { XCTAssertEqual(dclk_bf16_from_float(x) & 1, 0, "tie at \(x) must round to even") }
        }
    }

    /// Row-major random values of size ≈ 1.
    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = CounterRNG(seed: seed)
        return (0..<count).map { _ in Float(rng.normal()) }
    }

    /// C from the kernel for A (m, k) and B (k, n), starting from `start` when accumulating.
    private func product(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, start: [Float]?) -> [Float] {
        let pairs = (k + 1) / 2
        var packedA = [UInt32](repeating: 0, count: m * pairs), packedB = [UInt32](repeating: 0, count: pairs * n)
        dclk_bf16_pack_rows(a, m, k, k, &packedA)
        dclk_bf16_pack_columns(b, k, n, n, &packedB)
        var c = start ?? [Float](repeating: .nan, count: m * n)
        dclk_bf16_gemm(m, n, k, packedA, packedB, &c, n, start == nil ? 0 : 1)
        return c
    }

    func test_products_match_float64_sums_of_the_rounded_operands_at_every_level() {
        // An odd k (a padded pair), rows beyond whole blocks of 6, columns beyond whole vectors.
        let (m, n, k) = (13, 70, 37)
        let a = random(m * k, seed: 1), b = random(k * n, seed: 2), start = random(m * n, seed: 3)
        let rounded = { (x: Float) in Double(self.value(dclk_bf16_from_float(x))) }
        var results: [[Float]] = []
        SIMDLevels.forEach { level in
            for accumulate in [false, true] {
                let c = product(a, b, m: m, n: n, k: k, start: accumulate ? start : nil)
                for r in 0..<m {
                    for j in 0..<n {
                        var sum = accumulate ? Double(start[r * n + j]) : 0, magnitude = abs(sum)
                        for p in 0..<k {
                            let term = rounded(a[r * k + p]) * rounded(b[p * n + j])
                            sum += term
                            magnitude += abs(term)
                        }
                        // k + 1 float32 additions, each within half an ulp of its partial sum.
                        let bound = Double(k + 1) * 0x1p-24 * magnitude
                        XCTAssertEqual(Double(c[r * n + j]), sum, accuracy: bound, "level \(level.rawValue) (\(r), \(j))")
                    }
                }
                if accumulate { results.append(c) }
            }
            // Against the unrounded operands the error is bfloat16's: a few 2⁻⁹ of the terms' size.
            let c = product(a, b, m: m, n: n, k: k, start: nil)
            var error = 0.0, size = 0.0
            for r in 0..<m {
                for j in 0..<n {
                    let exact = (0..<k).reduce(0.0) { $0 + Double(a[r * k + $1]) * Double(b[$1 * n + j]) }
                    error += (Double(c[r * n + j]) - exact) * (Double(c[r * n + j]) - exact)
                    size += exact * exact
                }
            }
            let relative = (error / size).squareRoot()
            XCTAssertGreaterThan(relative, 1e-4, "the operands are rounded to bfloat16, not kept in float32")
            XCTAssertLessThan(relative, 1e-2)
        }
        for other in results.dropFirst() {
            XCTAssertEqual(other.map(\.bitPattern), results[0].map(\.bitPattern), "every level computes the same sums")
        }
    }

    /// Packing in place (the Winograd point products' way: `packed` over the floats) gives the
    /// words packing into a separate buffer gives, for rows and columns, with an odd k and a
    /// part vector of columns, at every level.
    func test_packing_in_place_equals_packing_into_a_separate_buffer_at_every_level() {
        let (rows, k, n) = (5, 37, 21)
        let a = random(rows * k, seed: 4), b = random(k * n, seed: 5)
        let pairs = (k + 1) / 2
        SIMDLevels.forEach { level in
            var separateA = [UInt32](repeating: 0, count: rows * pairs), separateB = [UInt32](repeating: 0, count: pairs * n)
            dclk_bf16_pack_rows(a, rows, k, k, &separateA)
            dclk_bf16_pack_columns(b, k, n, n, &separateB)
            for (source, separate, packRows) in [(a, separateA, true), (b, separateB, false)] {
                var floats = source
                floats.withUnsafeMutableBufferPointer { buffer in
                    buffer.baseAddress!.withMemoryRebound(to: UInt32.self, capacity: buffer.count) { words in
                        if packRows { dclk_bf16_pack_rows(buffer.baseAddress!, rows, k, k, words) }
                        else { dclk_bf16_pack_columns(buffer.baseAddress!, k, n, n, words) }
                    }
                }
                XCTAssertEqual(floats.prefix(separate.count).map(\.bitPattern), separate,
                               "\(packRows ? "rows" : "columns") at \(SIMDLevels.name(level))")
            }
        }
    }
}
