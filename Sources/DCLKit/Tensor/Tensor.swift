#if canImport(Glibc)
import Glibc
#endif

/// A dense float32 array: a shape and 64-byte aligned, row-major storage (last axis fastest).
///
/// A reference type, so layers can keep tensors as buffers that live across steps:
/// `resize(_:)` reuses the storage whenever the new element count fits the capacity,
/// which keeps the training loop free of allocation after its first step.
/// Activations are NHWC: shape `[N, H, W, C]`.
///
/// Two ways to get storage: `init(shape:)` and `resize(_:)` are for sizes the code itself
/// derives from checked sizes, and trap if the allocation fails (an internal invariant);
/// `zeros(_:)` and `reserve(_:)` are for sizes that come from outside (a file, an argument)
/// and throw `TensorError` instead, so a size the machine cannot hold is an error, not a crash.
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
    /// - Precondition: the shape's axes are ≥ 0 and its storage can be allocated.
    public convenience init(shape: [Int]) {
        do {
            let n = try Tensor.checkedCount(shape)
            self.init(shape: shape, count: n, data: try Tensor.allocate(n))
        } catch {
            fatalError("Tensor(shape: \(shape)): \(error)")
        }
    }

    /// A tensor of the given shape, every element zero; throws `TensorError` when an axis is
    /// negative, the element count or byte size overflows, or the memory cannot be allocated.
    public static func zeros(_ shape: [Int]) throws -> Tensor {
        let n = try checkedCount(shape)
        return Tensor(shape: shape, count: n, data: try allocate(n))
    }

    private init(shape: [Int], count: Int, data: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.count = count
        self.capacity = count
        self.data = data
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor of the given shape holding `values` in row-major order.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { Tensor.release(data, capacity: capacity) }

    /// Gives the tensor a new shape. Storage is kept when it is large enough; the contents
    /// are then whatever was there (callers that need zeros call `zero()`).
    /// - Precondition: the shape's axes are ≥ 0 and its storage can be allocated.
    public func resize(_ newShape: [Int]) {
        do {
            try resize(checked: newShape)
        } catch {
            fatalError("Tensor.resize(\(newShape)): \(error)")
        }
    }

    /// As `resize(_:)`, but throws `TensorError` (leaving the tensor unchanged) when the shape
    /// is invalid or its storage cannot be allocated.
    public func resize(checked newShape: [Int]) throws {
        let n = try Tensor.checkedCount(newShape)
        try reserve(n)
        shape = newShape
        count = n
    }

    /// Grows the storage to hold at least `elements` floats (zeroed), keeping shape and count;
    /// throws `TensorError` when that cannot be allocated. Later `resize`s up to that size
    /// do not allocate.
    public func reserve(_ elements: Int) throws {
        guard elements > capacity else { return }
        let fresh = try Tensor.allocate(elements)
        fresh.initialize(repeating: 0, count: elements)
        fresh.update(from: data, count: count)
        Tensor.release(data, capacity: capacity)
        data = fresh
        capacity = elements
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

    /// Exchanges this tensor's storage and shape with `other`'s without moving an element (an
    /// encoder lending its layers to another encoder's state, `Encoder.forward(_:stateOf:)`).
    public func exchangeStorage(with other: Tensor) {
        guard other !== self else { return }
        swap(&shape, &other.shape)
        swap(&count, &other.count)
        swap(&capacity, &other.capacity)
        swap(&data, &other.data)
    }

    /// A new tensor with the same shape and elements.
    public func clone() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// The elements as a Swift array, row-major.
    public func toArray() -> [Float] { Array(buffer) }

    /// The product of `factors`, or nil when one is negative or the product overflows `Int`:
    /// the one overflow-checked size product used wherever a count reaches an allocation.
    public static func product(_ factors: [Int]) -> Int? {
        var total = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (next, overflow) = total.multipliedReportingOverflow(by: f)
            guard !overflow else { return nil }
            total = next
        }
        return total
    }

    /// Bytes of physical memory of the machine (0 when unknown): the ceiling that size checks
    /// compare a request against before anything is allocated.
    public static var physicalMemoryBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return 0 }
        return product([pages, pageSize]) ?? Int.max
    }

    /// Throws `TensorError.outOfMemory` unless `floats` float32 values, with an eighth and 4 MiB
    /// more for the allocator's rounding, fit the machine's physical memory and the allocator
    /// grants them at this moment (the block is released at once, untouched): the check before
    /// work whose buffers grow without throwing. `Int.max` stands for a count that overflowed.
    public static func requireAllocatable(floats: Int) throws {
        let bytes = product([floats, MemoryLayout<Float>.stride]) ?? .max
        let padded = bytes > Int.max / 2 ? Int.max : bytes + bytes / 8 + (4 << 20)
        let memory = physicalMemoryBytes
        guard padded < Int.max, memory == 0 || padded <= memory else { throw TensorError.outOfMemory(bytes: padded) }
        let floats = padded / MemoryLayout<Float>.stride + 1
        release(try allocate(floats), capacity: floats)
    }

    private static func checkedCount(_ shape: [Int]) throws -> Int {
        guard let n = product(shape), product([n, MemoryLayout<Float>.stride]) != nil else {
            throw TensorError.invalidShape(shape)
        }
        return n
    }

    /// Storage of at least this many bytes is mapped from the kernel page by page instead of
    /// taken from malloc's heaps, so a large tensor costs its size rounded to pages and nothing
    /// more (freed heap space that a larger buffer cannot reuse, the heaps' reservations per
    /// thread) and memory checks can count it exactly.
    private static let mappedBytes = 1 << 18

    /// Storage for `n` floats (at least one), 64-byte aligned; throws when it cannot be had.
    private static func allocate(_ n: Int) throws -> UnsafeMutablePointer<Float> {
        let bytes = max(n, 1) * MemoryLayout<Float>.stride
        if bytes >= mappedBytes {
            let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let raw, raw != MAP_FAILED else { throw TensorError.outOfMemory(bytes: bytes) }
            return raw.bindMemory(to: Float.self, capacity: max(n, 1))
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { throw TensorError.outOfMemory(bytes: bytes) }
        return raw.bindMemory(to: Float.self, capacity: max(n, 1))
    }

    /// Returns storage from `allocate(capacity)`.
    private static func release(_ data: UnsafeMutablePointer<Float>, capacity: Int) {
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride
        if bytes >= mappedBytes { munmap(data, bytes) } else { free(data) }
    }
}

/// Why a tensor's storage could not be made.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// An axis is negative, or the element count or byte size overflows.
    case invalidShape([Int])
    /// The allocator refused this many bytes.
    case outOfMemory(bytes: Int)

    /// The message.
    public var description: String {
        switch self {
        case .invalidShape(let shape): return "shape \(shape) has a negative axis or is too large to address"
        case .outOfMemory(let bytes) where bytes == .max: return "out of memory: the size is too large to address"
        case .outOfMemory(let bytes): return "out of memory allocating \(bytes) bytes"
        }
    }
}
