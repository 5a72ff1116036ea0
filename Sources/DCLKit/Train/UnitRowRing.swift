/// A first-in first-out ring of the K most recent rows, unit vectors of dimension D: the storage
/// of MoCo's queue of negatives (`NegativeQueue`) and NNCLR's support set (`SupportSet`).
///
/// `keys` has shape (K, D), one row per entry (the transpose of MoCo's (D, K) `queue` buffer).
/// `enqueue` overwrites the oldest rows, starting at `pointer` and wrapping around at K, then
/// moves `pointer` past them; with K a multiple of the batch size (MoCo's rule, checked by the
/// callers) a batch never wraps mid-way, but any batch of at most K rows is handled.
/// A new ring holds random unit vectors (standard normal rows, normalised), as MoCo starts;
/// `filled` counts the real rows enqueued since (up to K), so a trainer can wait until the ring
/// holds real rows only (`isFull`) before it trusts it (see `MoCoMethod`). In a checkpoint the
/// ring is three tensors named after `checkpointPrefix`: the rows, "_ptr" and "_filled".
///
/// ```swift
/// let queue = NegativeQueue(size: 4096, dim: 128, seed: 0)
/// queue.enqueue(keys.data, count: batch)            // after each training step
/// let state = queue.stateTensors()                  // for a checkpoint
/// ```
public class UnitRowRing {
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

    /// Checkpoint name of the rows, shape (K, D).
    public let keysName: String
    /// Checkpoint name of the pointer, shape (1), stored exactly as a float (K < 2²⁴).
    public var pointerName: String { keysName + "_ptr" }
    /// Checkpoint name of `filled`, shape (1), stored exactly as a float.
    public var filledName: String { keysName + "_filled" }

    /// The checkpoint names of a ring saved under `prefix`: the rows, the pointer, the fill count.
    public static func checkpointNames(prefix: String) -> [String] {
        [prefix, prefix + "_ptr", prefix + "_filled"]
    }

    private let norms = Tensor(shape: [0])

    /// A ring of `size` ≥ 1 random unit vectors of dimension `dim` ≥ 1; row r is drawn from
    /// `CounterRNG(seed: seed, index: r)`. Requires size < 2²⁴ (the pointer's float export).
    init(size: Int, dim: Int, seed: UInt64, checkpointPrefix: String) {
        precondition(size >= 1 && size < 1 << 24 && dim >= 1, "UnitRowRing: size \(size), dim \(dim)")
        keysName = checkpointPrefix
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
        precondition(count >= 1 && count <= size, "UnitRowRing.enqueue: \(count) rows into a ring of \(size)")
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

    /// The ring's state for a checkpoint: copies of the rows (`keysName`, (K, D)), of the
    /// pointer (`pointerName`, (1)) and of the fill count (`filledName`, (1)).
    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        [(keysName, keys.clone()),
         (pointerName, Tensor(shape: [1], values: [Float(pointer)])),
         (filledName, Tensor(shape: [1], values: [Float(filled)]))]
    }

    /// Restores the state `stateTensors` wrote from a checkpoint's `tensors`; throws
    /// `MethodStateError` when they are missing or do not fit (see `restore`).
    public func loadState(_ tensors: [String: Tensor]) throws {
        guard let saved = tensors[keysName], let pointer = tensors[pointerName] else {
            throw MethodStateError(description: "the checkpoint has no \(keysName) and \(pointerName)")
        }
        try restore(keys: saved, pointer: pointer, filled: tensors[filledName])
    }

    /// Restores the state saved by `stateTensors`: `savedKeys` must have shape (K, D) and
    /// `savedPointer` shape (1) holding an integer in 0..<K, `savedFilled` shape (1) holding an
    /// integer in 0...K (nil, for a checkpoint written before the count existed, means full).
    /// The keys are copied as saved.
    public func restore(keys savedKeys: Tensor, pointer savedPointer: Tensor, filled savedFilled: Tensor? = nil) throws {
        guard savedKeys.shape == [size, dim] else {
            throw MethodStateError(description: "\(keysName) has shape \(savedKeys.shape), expected [\(size), \(dim)]")
        }
        guard savedPointer.shape == [1], let p = Int(exactly: savedPointer[0]), p >= 0, p < size else {
            throw MethodStateError(description: "\(pointerName) must hold one integer in 0..<\(size), got \(savedPointer.toArray())")
        }
        var count = size
        if let savedFilled {
            guard savedFilled.shape == [1], let f = Int(exactly: savedFilled[0]), f >= 0, f <= size else {
                throw MethodStateError(description: "\(filledName) must hold one integer in 0...\(size), got \(savedFilled.toArray())")
            }
            count = f
        }
        keys.copy(from: savedKeys)
        pointer = p
        filled = count
    }
}
