/// The one checked conversion of every number that comes from outside: a checkpoint's metadata
/// and history, a safetensors header, a configuration's JSON. A number is read here or not at all:
/// every integer is a whole number in a stated range (never a conversion that traps, never a value
/// later arithmetic can overflow), every real is finite. Each function returns nil for a refused
/// value and its caller throws its own format or configuration error naming the field.
///
/// Counts (steps, epochs, positions, updates) are below `countLimit` = 2⁴⁰: a count that large
/// is already beyond any run (a trillion steps), and sums and products of a few such counts with
/// the configuration's own bounds (epochs ≤ 2²⁰) stay far inside `Int`.
///
/// ```swift
/// FileNumbers.count("123")                      // 123
/// FileNumbers.count("9223372036854775000")      // nil: not below 2^40
/// FileNumbers.integer(3.0, in: 0...8)           // 3
/// FileNumbers.finite("inf")                     // nil
/// ```
public enum FileNumbers {
    /// Every count read from a file is below this (2⁴⁰).
    public static let countLimit = 1 << 40

    /// Largest magnitude of an integer held by a JSON number (a double): 2⁵³, beyond which
    /// doubles skip integers.
    public static let exactIntegerLimit = 1 << 53

    /// The count written as decimal text (`String(n)`), in 0..<`limit`; nil otherwise (a sign
    /// other than an optional "+", spaces, a fraction, an exponent, a value out of range).
    public static func count(_ text: String, below limit: Int = countLimit) -> Int? {
        guard let n = Int(text), n >= 0, n < limit else { return nil }
        return n
    }

    /// The count a JSON number holds: a whole number in 0..<`limit`; nil otherwise.
    public static func count(_ x: Double, below limit: Int = countLimit) -> Int? {
        guard let n = integer(x, in: 0...max(0, limit - 1)) else { return nil }
        return n
    }

    /// The integer a JSON number holds: finite, without a fraction, below 2⁵³ in magnitude (so
    /// the double is exact) and in `range`; nil otherwise. The conversion to `Int` never traps.
    public static func integer(_ x: Double, in range: ClosedRange<Int>) -> Int? {
        guard x.isFinite, x == x.rounded(), abs(x) <= Double(exactIntegerLimit) else { return nil }
        let n = Int(x)
        return range.contains(n) ? n : nil
    }

    /// The finite number written as text (`"\(x)"` or `String(x)`, which read back exactly); nil
    /// for text that is not a number and for "inf", "nan" and numbers beyond `Double`'s range.
    public static func finite(_ text: String) -> Double? {
        guard let x = Double(text), x.isFinite else { return nil }
        return x
    }

    /// `x` when it is finite and lies in `range`; nil otherwise.
    public static func finite(_ x: Double, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) -> Double? {
        x.isFinite && range.contains(x) ? x : nil
    }
}
