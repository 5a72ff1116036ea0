#if canImport(Glibc)
import Glibc
#endif

/// A dense float32 array: a shape and 64-byte aligned, row-major storage (last axis fastest).
///
/// A reference type, so layers can keep tensors as buffers that live across steps:
/// `resize(_:)` reuses the storage whenever the new element count fits the capacity,
/// which keeps the training loop free of allocation after its first step.
/// Activations are NHWC: shape `[N, H, W, C]`.
public final class Tensor {
    /// Size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// Number of elements (product of `shape`).
    public private(set) var count: Int
    /// Number of elements the storage can hold without reallocating.
    public private(set) var capacity: Int
    /// The first element; valid for `capacity` elements.
    public private(set) var data: UnsafeMutablePointer<Float>

    /// A tensor of the given shape, every element zero.
    public init(shape: [Int]) {
        let n = Tensor.elementCount(shape)
        self.shape = shape
        self.count = n
        self.capacity = n
        self.data = Tensor.allocate(n)
        data.initialize(repeating: 0, count: max(n, 1))
    }

    /// A tensor of the given shape holding `values` in row-major order.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { free(data) }

    /// Gives the tensor a new shape. Storage is kept when it is large enough; the contents
    /// are then whatever was there (callers that need zeros call `zero()`).
    public func resize(_ newShape: [Int]) {
        let n = Tensor.elementCount(newShape)
        if n > capacity {
            free(data)
            data = Tensor.allocate(n)
            data.initialize(repeating: 0, count: n)
            capacity = n
        }
        shape = newShape
        count = n
    }

    /// The elements as a mutable buffer of `count` floats.
    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// Element `i` in row-major order.
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// Sets every element to zero.
    public func zero() { fill(0) }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Resizes to `other`'s shape and copies its elements.
    public func copy(from other: Tensor) {
        resize(other.shape)
        data.update(from: other.data, count: count)
    }

    /// A new tensor with the same shape and elements.
    public func clone() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// The elements as a Swift array, row-major.
    public func toArray() -> [Float] { Array(buffer) }

    private static func elementCount(_ shape: [Int]) -> Int {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative axis in \(shape)")
        return shape.reduce(1, *)
    }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        let bytes = max(n, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("Tensor: out of memory allocating \(bytes) bytes")
        }
        return raw.bindMemory(to: Float.self, capacity: max(n, 1))
    }
}
