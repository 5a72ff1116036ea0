/// Four floats in one SSE register: the unit of the hand-vectorised image loops, which the
/// compiler cannot vectorise on its own (strided, multi-plane or reduction loops).
typealias Vector = SIMD4<Float>

extension UnsafeMutablePointer where Pointee == Float {
    /// The four floats starting at element `i` (no alignment needed).
    @inline(__always)
    func vector(at i: Int) -> Vector {
        UnsafeRawPointer(self + i).loadUnaligned(as: Vector.self)
    }

    /// Stores four floats starting at element `i` (no alignment needed).
    @inline(__always)
    func store(_ v: Vector, at i: Int) {
        UnsafeMutableRawPointer(self + i).storeBytes(of: v, as: Vector.self)
    }

    /// The `count` < 4 floats starting at element `i`, padded with zeros.
    @inline(never)
    func partialVector(at i: Int, count: Int) -> Vector {
        var v = Vector()
        for j in 0..<count { v[j] = self[i &+ j] }
        return v
    }

    /// Stores the first `count` < 4 lanes of `v` starting at element `i`.
    @inline(never)
    func storePartial(_ v: Vector, at i: Int, count: Int) {
        for j in 0..<count { self[i &+ j] = v[j] }
    }
}

/// Lane-wise minimum, written as SSE's `minps` computes it (a < b ? a : b) so it compiles to
/// one instruction (the standard library's `pointwiseMin` is a call that handles NaN lane by
/// lane; the operands here are never NaN).
@inline(__always)
func min(_ a: Vector, _ b: Vector) -> Vector { b.replacing(with: a, where: a .< b) }

/// Lane-wise maximum, as `maxps` computes it (a > b ? a : b).
@inline(__always)
func max(_ a: Vector, _ b: Vector) -> Vector { b.replacing(with: a, where: a .> b) }
