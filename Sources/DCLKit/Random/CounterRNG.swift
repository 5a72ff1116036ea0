#if canImport(Glibc)
import Glibc
#endif

/// A counter-based random generator: the stream is a pure function of its key
/// (seed, epoch, sample index, view) and a counter, so the same key gives the same
/// draws whatever thread or order it runs in.
///
/// Each draw is the SplitMix64 finaliser of `key + counter · golden`, where `key` mixes
/// the four key words the same way; SplitMix64 passes BigCrush and is counter-based by
/// construction.
public struct CounterRNG {
    private let key: UInt64
    private var counter: UInt64 = 0

    /// A stream keyed by the four words; any of them may be zero.
    public init(seed: UInt64, epoch: UInt64 = 0, index: UInt64 = 0, view: UInt64 = 0) {
        var k = CounterRNG.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        k = CounterRNG.mix(k ^ (epoch &* 0xD1B5_4A32_D192_ED03))
        k = CounterRNG.mix(k ^ (index &* 0x8CB9_2BA7_2F3D_8DD7))
        k = CounterRNG.mix(k ^ (view &* 0xABC9_8388_FB8F_AC03))
        key = k
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        counter &+= 1
        return CounterRNG.mix(key &+ counter &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform double in [low, high).
    @inline(__always)
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * uniform()
    }

    /// A uniform integer in `0..<n` (n ≥ 1), without modulo bias.
    public mutating func below(_ n: Int) -> Int {
        precondition(n >= 1, "CounterRNG.below: \(n)")
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        var x = next()
        while x >= limit { x = next() }
        return Int(x % bound)
    }

    /// Puts `values` in a uniformly random order (Fisher–Yates from the last element, each swap
    /// partner drawn with `below`): the one shuffle of the epoch order, MoCo's shuffle-BN and the
    /// key shuffle across ranks.
    public mutating func shuffle<T>(_ values: inout [T]) {
        for i in stride(from: values.count - 1, to: 0, by: -1) { values.swapAt(i, below(i + 1)) }
    }

    /// A standard normal draw (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = 1.0 - uniform()  // (0, 1]
        let u2 = uniform()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// True with probability `p`.
    @inline(__always)
    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    @inline(__always)
    private static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
