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
}
