/// MoCo's queue of negatives: a ring buffer of the K most recent keys, unit vectors of dimension D.
///
/// `keys` has shape (K, D), one key per row (the transpose of MoCo's (D, K) `queue` buffer).
/// `enqueue` overwrites the oldest rows, starting at `pointer` and wrapping around at K, then
/// moves `pointer` past them; with K a multiple of the batch size (MoCo's rule, checked by the
/// callers) a batch never wraps mid-way, but any batch of at most K rows is handled.
/// A new queue holds random unit vectors (standard normal rows, normalised), as MoCo starts;
/// `filled` counts the real keys enqueued since (up to K), so a trainer can wait until the queue
/// holds real keys only (`isFull`) before it trusts it as negatives (see `MoCoMethod`).
///
/// ```swift
/// let queue = NegativeQueue(size: 4096, dim: 128, seed: 0)
/// queue.enqueue(keys.data, count: batch)            // after each training step
/// let state = queue.stateTensors()                  // for a checkpoint
/// ```
public final class NegativeQueue {
    /// K, the number of keys held.
    public let size: Int
    /// D, the dimension of a key.
    public let dim: Int
    /// The keys, shape (K, D), unit rows; row `pointer` is the next to be overwritten.
    public let keys: Tensor
    /// The row the next enqueued key goes to, in 0..<K.
    public private(set) var pointer: Int = 0
    /// How many rows hold enqueued keys rather than the random start vectors, in 0...K.
    public private(set) var filled: Int = 0
    /// Whether every row holds an enqueued key.
    public var isFull: Bool { filled == size }

    /// Checkpoint name of the keys, shape (K, D).
    public static let keysName = "queue"
    /// Checkpoint name of the pointer, shape (1), stored exactly as a float (K < 2²⁴).
    public static let pointerName = "queue_ptr"
    /// Checkpoint name of `filled`, shape (1), stored exactly as a float.
    public static let filledName = "queue_filled"

    private let norms = Tensor(shape: [0])

    /// A queue of `size` ≥ 1 random unit vectors of dimension `dim` ≥ 1; row r is drawn from
    /// `CounterRNG(seed: seed, index: r)`. Requires size < 2²⁴ (the pointer's float export).
    public init(size: Int, dim: Int, seed: UInt64) {
        precondition(size >= 1 && size < 1 << 24 && dim >= 1, "NegativeQueue: size \(size), dim \(dim)")
        self.size = size
        self.dim = dim
        keys = Tensor(shape: [size, dim])
        let data = keys.data
        Threads.forEachChunk(size) { rows in
            var norm: Float = 0
            for r in rows {
                let row = data + r * dim
                var rng = CounterRNG(seed: seed, index: UInt64(r))
                for c in 0..<dim { row[c] = Float(rng.normal()) }
                RowNormalization.forward(row, rows: 1, dim: dim, into: row, norms: &norm)
            }
        }
    }

    /// Writes the `count` rows of `newKeys` (count × dim, raw or unit: each row is normalised as
    /// it is stored) over the oldest keys, in order, and advances the pointer by `count` mod K.
    /// Requires 1 ≤ count ≤ K.
    public func enqueue(_ newKeys: UnsafePointer<Float>, count: Int) {
        precondition(count >= 1 && count <= size, "NegativeQueue.enqueue: \(count) keys into a queue of \(size)")
        norms.resize([count])
        let first = min(count, size - pointer)
        RowNormalization.forward(newKeys, rows: first, dim: dim, into: keys.data + pointer * dim, norms: norms.data)
        if first < count {
            RowNormalization.forward(newKeys + first * dim, rows: count - first, dim: dim,
                                     into: keys.data, norms: norms.data)
        }
        pointer = (pointer + count) % size
        filled = min(size, filled + count)
    }

    /// The queue's state for a checkpoint: copies of the keys (`keysName`, (K, D)), of the
    /// pointer (`pointerName`, (1)) and of the fill count (`filledName`, (1)).
    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        [(NegativeQueue.keysName, keys.clone()),
         (NegativeQueue.pointerName, Tensor(shape: [1], values: [Float(pointer)])),
         (NegativeQueue.filledName, Tensor(shape: [1], values: [Float(filled)]))]
    }

    /// Restores the state saved by `stateTensors`: `savedKeys` must have shape (K, D) and
    /// `savedPointer` shape (1) holding an integer in 0..<K, `savedFilled` shape (1) holding an
    /// integer in 0...K (nil, for a checkpoint written before the count existed, means full).
    /// The keys are copied as saved.
    public func restore(keys savedKeys: Tensor, pointer savedPointer: Tensor, filled savedFilled: Tensor? = nil) throws {
        guard savedKeys.shape == [size, dim] else {
            throw StateError(description: "\(NegativeQueue.keysName) has shape \(savedKeys.shape), expected [\(size), \(dim)]")
        }
        guard savedPointer.shape == [1], let p = Int(exactly: savedPointer[0]), p >= 0, p < size else {
            throw StateError(description: "\(NegativeQueue.pointerName) must hold one integer in 0..<\(size), got \(savedPointer.toArray())")
        }
        var count = size
        if let savedFilled {
            guard savedFilled.shape == [1], let f = Int(exactly: savedFilled[0]), f >= 0, f <= size else {
                throw StateError(description: "\(NegativeQueue.filledName) must hold one integer in 0...\(size), got \(savedFilled.toArray())")
            }
            count = f
        }
        keys.copy(from: savedKeys)
        pointer = p
        filled = count
    }

    /// A saved queue state that does not fit the queue it is restored into.
    public struct StateError: Error, CustomStringConvertible {
        /// What does not fit, naming the tensor.
        public let description: String
    }
}
