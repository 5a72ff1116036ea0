/// Quantisation of float values to uint8 levels, written so that loops over them vectorise
/// on any x86-64 (no SSE4.1 rounding instructions, no trapping integer conversions).
enum Level {
    /// 2²³: adding and subtracting it rounds a float in [0, 2²³) to the nearest integer, ties to
    /// even (the processor's default rounding mode), with no rounding instruction.
    static let roundingMagic: Float = 0x1p23

    /// x rounded to the nearest integer, ties to even (`torch.round`), for x in [0, 2²³).
    @inline(__always)
    static func round(_ x: Float) -> Float { (x + roundingMagic) - roundingMagic }

    /// A level as a byte, clamped to 0...255 (NaN gives 0).
    @inline(__always)
    static func byte(_ x: Float) -> UInt8 {
        let c = min(max(x, 0), 255)
        return c == c ? UInt8(round(c)) : 0
    }

    /// `clamp` on four lanes.
    @inline(__always)
    static func clamp(_ x: Vector) -> Vector { min(max(x, Vector(repeating: 0)), Vector(repeating: 255)) }

    /// ⌊x⌋ on four lanes, x in [0, 2²³): what torch's `.to(torch.uint8)` does to a
    /// non-negative float.
    @inline(__always)
    static func floor(_ x: Vector) -> Vector {
        let r = (x + roundingMagic) - roundingMagic
        return r - Vector(repeating: 0).replacing(with: 1, where: r .> x)
    }

    /// `round` on four lanes.
    @inline(__always)
    static func round(_ x: Vector) -> Vector { (x + roundingMagic) - roundingMagic }
}
