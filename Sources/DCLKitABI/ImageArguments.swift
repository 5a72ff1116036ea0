import DCLKit

// Checks of uint8 image batches, pipelines and sample indices shared by the augmentation and
// trainer exports.

/// The shape of a uint8 image batch (n, h, w, c), checked: every axis ≥ 1, c = 1 or 3, and a
/// total size that cannot overflow.
struct ImageBatchShape {
    let count: Int, height: Int, width: Int, channels: Int

    init(_ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64) throws {
        guard n >= 1 else { throw ABIError.invalid("images must hold at least one image, got n = \(n)") }
        guard h >= 1, w >= 1 else { throw ABIError.invalid("images must be at least 1×1, got \(h)×\(w)") }
        guard c == 1 || c == 3 else { throw ABIError.invalid("images must have 1 or 3 channels, got \(c)") }
        let limit: Int64 = 1 << 40
        guard h <= 1 << 20, w <= 1 << 20, n <= limit / (h * w * c) else {
            throw ABIError.invalid("images of shape (\(n), \(h), \(w), \(c)) are too large")
        }
        (count, height, width, channels) = (Int(n), Int(h), Int(w), Int(c))
    }

    var bytes: Int { count * height * width * channels }
}

extension Arguments {
    /// A non-null pointer to `count` doubles, all finite.
    static func doubles(_ p: UnsafePointer<Double>?, count: Int, name: String) throws -> UnsafeBufferPointer<Double> {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        let values = UnsafeBufferPointer(start: p, count: count)
        for (i, v) in values.enumerated() where !v.isFinite {
            throw ABIError.invalid("\(name) has a non-finite value (\(v)) at index \(i)")
        }
        return values
    }

    /// A non-null pointer to readable bytes.
    static func bytes(_ p: UnsafePointer<UInt8>?, name: String) throws -> UnsafePointer<UInt8> {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return p
    }

    /// A non-null pointer to `count` writable bytes, as a buffer.
    static func byteOutput(_ p: UnsafeMutablePointer<UInt8>?, count: Int, name: String) throws -> UnsafeMutableBufferPointer<UInt8> {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        return UnsafeMutableBufferPointer(start: p, count: count)
    }
}

/// The pipeline behind a handle.
func augmentPipeline(_ handle: OpaquePointer?) throws -> AugmentPipeline {
    guard let handle else { throw ABIError.invalid("pipeline is a null handle") }
    return Unmanaged<AugmentPipeline>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// Runs `body` with the sample indices as Swift Ints (nil when the caller passed none).
func withIndices(_ indices: UnsafePointer<Int64>?, _ body: (UnsafePointer<Int>?) -> Void) throws {
    guard let indices else { return body(nil) }
    guard MemoryLayout<Int>.size == MemoryLayout<Int64>.size else { throw ABIError.invalid("indices need a 64-bit platform") }
    UnsafeRawPointer(indices).withMemoryRebound(to: Int.self, capacity: 1) { body($0) }
}
