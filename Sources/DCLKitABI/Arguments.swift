import DCLKit

/// Checks shared by the exported functions: every pointer, size and number that crosses
/// the boundary goes through one of these before the core sees it.
enum Arguments {
    /// A non-null pointer to `count` readable floats, as a buffer.
    static func floats(_ p: UnsafePointer<Float>?, count: Int, name: String) throws -> UnsafeBufferPointer<Float> {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return UnsafeBufferPointer(start: p, count: count)
    }

    /// A non-null pointer to `count` writable floats, as a buffer.
    static func output(_ p: UnsafeMutablePointer<Float>?, count: Int, name: String) throws -> UnsafeMutableBufferPointer<Float> {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return UnsafeMutableBufferPointer(start: p, count: count)
    }

    /// A non-null pointer to one writable value.
    static func out<T>(_ p: UnsafeMutablePointer<T>?, name: String) throws -> UnsafeMutablePointer<T> {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return p
    }

    /// Floats that are all finite (no NaN or infinity).
    static func requireFinite(_ values: UnsafeBufferPointer<Float>, name: String) throws {
        for (i, v) in values.enumerated() where !v.isFinite {
            throw ABIError.invalid("\(name) has a non-finite value (\(v)) at flat index \(i)")
        }
    }

    /// `loss`, refused with a message naming the temperature when it or a `gradient` value is not
    /// finite: a temperature so small or so large that s/τ or its gradient leaves float32's range
    /// gives NaN, which is reported instead of returned.
    static func finiteLoss(_ loss: Double, gradient: UnsafeBufferPointer<Float>, temperature: Double) throws -> Double {
        guard loss.isFinite, gradient.allSatisfy({ $0.isFinite }) else {
            throw ABIError.invalid("the loss or its gradient is not finite with temperature \(temperature): "
                                   + "s/τ leaves float32's range; use a temperature nearer 1 (typically 0.05 to 1)")
        }
        return loss
    }

    /// A finite number greater than zero.
    static func positive(_ x: Double, name: String) throws -> Double {
        guard x.isFinite, x > 0 else { throw ABIError.invalid("\(name) must be a finite positive number, got \(x)") }
        return x
    }

    /// An integer at least `minimum`, returned as Int.
    static func atLeast(_ x: Int64, _ minimum: Int, name: String) throws -> Int {
        guard x >= Int64(minimum) else { throw ABIError.invalid("\(name) must be at least \(minimum), got \(x)") }
        return Int(x)
    }

    /// A null-terminated UTF-8 string.
    static func string(_ p: UnsafePointer<CChar>?, name: String) throws -> String {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return String(cString: p)
    }

    /// A null-terminated path, kept as its bytes (a name that is not UTF-8 stays as it is).
    static func path(_ p: UnsafePointer<CChar>?, name: String) throws -> FilePath {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return FilePath(cString: p)
    }

    /// The product of `factors` (each ≥ 0), refused when it overflows or passes `limit`
    /// elements: every count the exports compute from several sizes goes through here.
    static func product(_ factors: Int..., limit: Int = 1 << 34, name: String) throws -> Int {
        try product(factors, limit: limit, name: name)
    }

    /// The product of an array of factors; see `product(_:limit:name:)`.
    static func product(_ factors: [Int], limit: Int = 1 << 34, name: String) throws -> Int {
        guard let count = Tensor.product(factors), count <= limit else {
            throw ABIError.invalid("\(name) is too large (\(factors.map(String.init).joined(separator: " × ")) elements)")
        }
        return count
    }
}
