/// MoCo's shuffle-BN across ranks: the key encoder's inputs are shuffled over the whole global
/// batch, so a rank's BatchNorm statistics mix samples of other ranks and a query cannot find
/// its key through them; the keys are then brought back to their own rank and order.
///
/// `shuffle`: every rank's `b` rows are gathered (`(W·b, …)`, rank order); rank 0 draws a
/// permutation π of the W·b rows and broadcasts it; rank r keeps the gathered rows
/// π[r·b ..< (r+1)·b]. `unshuffle`: the `(b, d)` keys each rank computed on its shuffled rows
/// are gathered (row j of the gather is the key of global row π[j]) and rank r takes, for its
/// own global rows r·b + i, the gathered row π⁻¹[r·b + i]. For an encoder that treats rows
/// independently, `unshuffle(encode(shuffle(x))) = encode(x)` row for row.
public final class KeyShuffle {
    /// The group the batch is spread over.
    public let communicator: Communicator
    /// This rank's rows of the last shuffle.
    public let shuffled = Tensor(shape: [0])
    /// This rank's own keys of the last unshuffle, in its original row order.
    public let ownKeys = Tensor(shape: [0])
    /// The permutation of the last shuffle (W·b global row indices), the same on every rank.
    public private(set) var permutation: [Int64] = []
    private var inverse: [Int] = []
    private let gathered = Tensor(shape: [0])

    /// A shuffle over `communicator`.
    public init(communicator: Communicator) { self.communicator = communicator }

    /// Shuffles `local` (`(b, …)`, b ≥ 1, any trailing shape) over the global batch and returns
    /// this rank's shuffled rows (`shuffled`, same shape). Rank 0 draws the permutation from the
    /// counter-based stream keyed by (`seed`, `step`), so a run is reproducible.
    @discardableResult
    public func shuffle(_ local: Tensor, seed: UInt64, step: UInt64) throws -> Tensor {
        guard local.shape.count >= 1, local.shape[0] >= 1, local.count >= 1 else {
            throw DistributedError.invalid("the rows to shuffle must be a non-empty array, got shape \(local.shape)")
        }
        let rows = local.shape[0], rowSize = local.count / rows, ranks = communicator.size
        let total = rows * ranks
        if permutation.count != total { permutation = [Int64](repeating: 0, count: total) }
        if communicator.rank == 0 {
            for i in 0..<total { permutation[i] = Int64(i) }
            var rng = CounterRNG(seed: seed, epoch: step, index: 0, view: 8)
            rng.shuffle(&permutation)
        }
        try permutation.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        try adopt(permutation: permutation, rowsPerRank: rows)
        gathered.resize([total, rowSize])
        try communicator.allgather(UnsafeBufferPointer(local.buffer), into: gathered.buffer)
        shuffled.resize(local.shape)
        let first = communicator.rank * rows
        for i in 0..<rows {
            (shuffled.data + i * rowSize).update(from: gathered.data + Int(permutation[first + i]) * rowSize, count: rowSize)
        }
        return shuffled
    }

    /// Makes `permutation` (a permutation of 0..<W·`rowsPerRank`, the same on every rank) the
    /// one `unshuffle` undoes; `shuffle` calls it with the broadcast one.
    public func adopt(permutation: [Int64], rowsPerRank: Int) throws {
        let total = rowsPerRank * communicator.size
        guard rowsPerRank >= 1, permutation.count == total else {
            throw DistributedError.invalid("the permutation must hold \(total) indices (\(rowsPerRank) rows × \(communicator.size) ranks), got \(permutation.count)")
        }
        if inverse.count != total { inverse = [Int](repeating: 0, count: total) }
        for i in 0..<total { inverse[i] = -1 }
        for (j, p) in permutation.enumerated() {
            guard p >= 0, p < Int64(total), inverse[Int(p)] < 0 else {
                throw DistributedError.invalid("the shuffle order is not a permutation of 0..<\(total) (entry \(j) is \(p))")
            }
            inverse[Int(p)] = j
        }
        if self.permutation != permutation { self.permutation = permutation }
    }

    /// Gathers the keys `keys` (`(b, d)`, computed on this rank's shuffled rows) and returns this
    /// rank's own keys in its original row order (`ownKeys`, `(b, d)`).
    @discardableResult
    public func unshuffle(_ keys: Tensor) throws -> Tensor {
        let ranks = communicator.size
        guard keys.shape.count == 2, keys.shape[0] >= 1, keys.shape[1] >= 1 else {
            throw DistributedError.invalid("keys must be a non-empty matrix (rows, dim), got shape \(keys.shape)")
        }
        let rows = keys.shape[0], dim = keys.shape[1]
        guard inverse.count == rows * ranks else {
            throw DistributedError.invalid("keys have \(rows) rows, but the last shuffle spread \(inverse.count) rows over \(ranks) ranks")
        }
        gathered.resize([rows * ranks, dim])
        try communicator.allgather(UnsafeBufferPointer(keys.buffer), into: gathered.buffer)
        ownKeys.resize([rows, dim])
        let first = communicator.rank * rows
        for i in 0..<rows {
            (ownKeys.data + i * dim).update(from: gathered.data + inverse[first + i] * dim, count: dim)
        }
        return ownKeys
    }
}
