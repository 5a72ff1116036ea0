import DCLKit

/// The object behind a `dcl_comm *` handle: one communicator (a single process, or the host's
/// MPI through callbacks).
final class CommunicatorHandle {
    let communicator: Communicator

    init(_ communicator: Communicator) { self.communicator = communicator }

    /// The handle behind `pointer`; throws for a null pointer.
    static func from(_ pointer: OpaquePointer?) throws -> CommunicatorHandle {
        guard let pointer else { throw ABIError.invalid("comm is a null pointer") }
        return Unmanaged<CommunicatorHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    /// Stores a new handle for `communicator` in `out`.
    static func publish(_ communicator: Communicator, to out: UnsafeMutablePointer<OpaquePointer?>) {
        out.pointee = OpaquePointer(Unmanaged.passRetained(CommunicatorHandle(communicator)).toOpaque())
    }
}

/// The object behind a `dcl_grad_allreduce *` handle: the bucket plan of one encoder's
/// parameters, keeping the encoder and the communicator alive.
final class GradientAllreduceHandle {
    let reducer: BucketedAverage
    let encoder: EncoderHandle
    let communicator: CommunicatorHandle

    init(_ reducer: BucketedAverage, encoder: EncoderHandle, communicator: CommunicatorHandle) {
        self.reducer = reducer
        self.encoder = encoder
        self.communicator = communicator
    }

    /// The handle behind `pointer`; throws for a null pointer.
    static func from(_ pointer: OpaquePointer?) throws -> GradientAllreduceHandle {
        guard let pointer else { throw ABIError.invalid("reducer is a null pointer") }
        return Unmanaged<GradientAllreduceHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }
}

extension Arguments {
    /// A collective element code (DCL_FLOAT32, DCL_FLOAT64, DCL_INT64).
    static func element(_ code: Int32) throws -> CollectiveElement {
        guard let element = CollectiveElement(rawValue: code) else {
            throw ABIError.type("unknown element code \(code) (0 = float32, 1 = float64, 2 = int64)")
        }
        return element
    }

    /// A non-null pointer to `count` elements of `element`; floating-point ones must be finite.
    static func collectiveBuffer(_ p: UnsafeRawPointer?, count: Int, element: CollectiveElement, name: String) throws -> UnsafeRawPointer {
        guard let p else { throw ABIError.invalid("\(name) is a null pointer") }
        switch element {
        case .float32: try requireFinite(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: count), name: name)
        case .float64: _ = try doubles(p.assumingMemoryBound(to: Double.self), count: count, name: name)
        case .int64: break
        }
        return p
    }

    /// A count of elements, 1 ... 2^34.
    static func elementCount(_ n: Int64, name: String) throws -> Int {
        let n = try atLeast(n, 1, name: name)
        return try product(n, 1, name: name)
    }
}

/// Creates a communicator over the host's collectives; see dclkit.h.
@_cdecl("dcl_comm_create")
public func dcl_comm_create(
    _ rank: Int32, _ size: Int32,
    _ allreduce: CallbackCommunicator.Allreduce?, _ allgather: CallbackCommunicator.Allgather?,
    _ broadcast: CallbackCommunicator.Broadcast?, _ context: UnsafeMutableRawPointer?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        guard let allreduce else { throw ABIError.invalid("allreduce is a null function pointer") }
        guard let allgather else { throw ABIError.invalid("allgather is a null function pointer") }
        guard let broadcast else { throw ABIError.invalid("broadcast is a null function pointer") }
        let communicator = try CallbackCommunicator(rank: Int(rank), size: Int(size), allreduce: allreduce, allgather: allgather,
                                                    broadcast: broadcast, context: context)
        CommunicatorHandle.publish(communicator, to: out)
    }
}

/// Creates the one-process communicator; see dclkit.h.
@_cdecl("dcl_comm_create_single")
public func dcl_comm_create_single(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        CommunicatorHandle.publish(SingleProcessCommunicator(), to: out)
    }
}

/// Releases a communicator handle (null is a no-op).
@_cdecl("dcl_comm_free")
public func dcl_comm_free(_ comm: OpaquePointer?) {
    guard let comm else { return }
    Unmanaged<CommunicatorHandle>.fromOpaque(UnsafeRawPointer(comm)).release()
}

/// Sums a buffer over the ranks in place; see dclkit.h.
@_cdecl("dcl_comm_allreduce_sum")
public func dcl_comm_allreduce_sum(_ comm: OpaquePointer?, _ element: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int64) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let element = try Arguments.element(element)
        let count = try Arguments.elementCount(count, name: "count")
        let buffer = UnsafeMutableRawPointer(mutating: try Arguments.collectiveBuffer(buffer, count: count, element: element, name: "buffer"))
        try communicator.allreduceSum(buffer, count: count, element: element)
    }
}

/// Gathers every rank's buffer in rank order; see dclkit.h.
@_cdecl("dcl_comm_allgather")
public func dcl_comm_allgather(
    _ comm: OpaquePointer?, _ element: Int32, _ send: UnsafeRawPointer?, _ count: Int64, _ receive: UnsafeMutableRawPointer?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let element = try Arguments.element(element)
        let count = try Arguments.elementCount(count, name: "count")
        _ = try Arguments.product(count, communicator.size, name: "receive")
        let send = try Arguments.collectiveBuffer(send, count: count, element: element, name: "send")
        guard let receive else { throw ABIError.invalid("receive is a null pointer") }
        try communicator.allgather(send, count: count, element: element, into: receive)
    }
}

/// Copies rank root's buffer to every rank; see dclkit.h.
@_cdecl("dcl_comm_broadcast")
public func dcl_comm_broadcast(
    _ comm: OpaquePointer?, _ element: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int64, _ root: Int32
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let element = try Arguments.element(element)
        let count = try Arguments.elementCount(count, name: "count")
        guard let buffer else { throw ABIError.invalid("buffer is a null pointer") }
        try communicator.broadcast(buffer, count: count, element: element, root: Int(root))
    }
}

/// Checks that every rank passes the same configuration text; see dclkit.h.
@_cdecl("dcl_comm_check_configuration")
public func dcl_comm_check_configuration(_ comm: OpaquePointer?, _ text: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let text = try Arguments.string(text, name: "text")
        try ConfigurationAgreement.check(text, communicator: communicator)
    }
}

/// This rank's share of a global batch; see dclkit.h.
@_cdecl("dcl_comm_batch_share")
public func dcl_comm_batch_share(
    _ comm: OpaquePointer?, _ global: Int64, _ local: UnsafeMutablePointer<Int64>?, _ offset: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let local = try Arguments.out(local, name: "local")
        let offset = try Arguments.out(offset, name: "offset")
        let share = try BatchShare(global: Int(global), communicator: communicator)
        local.pointee = Int64(share.local)
        offset.pointee = Int64(share.offset)
    }
}

/// Plans the fused gradient allreduce of an encoder's parameters; see dclkit.h.
@_cdecl("dcl_grad_allreduce_create")
public func dcl_grad_allreduce_create(
    _ comm: OpaquePointer?, _ encoder: OpaquePointer?, _ bucketFloats: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let communicator = try CommunicatorHandle.from(comm)
        let encoder = try EncoderHandle.from(encoder)
        let capacity = try Arguments.elementCount(bucketFloats, name: "bucket_floats")
        // Backward finishes the last layers first: their gradients go in the first buckets.
        let reducer = try BucketedAverage(parameters: encoder.encoder.parameters.reversed(), bucketCapacity: capacity)
        let handle = GradientAllreduceHandle(reducer, encoder: encoder, communicator: communicator)
        out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    }
}

/// The number of buckets of a gradient allreduce; see dclkit.h.
@_cdecl("dcl_grad_allreduce_bucket_count")
public func dcl_grad_allreduce_bucket_count(_ reducer: OpaquePointer?, _ count: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported {
        let handle = try GradientAllreduceHandle.from(reducer)
        try Arguments.out(count, name: "count").pointee = Int64(handle.reducer.bucketSizes.count)
    }
}

/// Averages the encoder's accumulated gradients over the ranks; see dclkit.h.
@_cdecl("dcl_grad_allreduce_run")
public func dcl_grad_allreduce_run(_ reducer: OpaquePointer?) -> Int32 {
    exported {
        let handle = try GradientAllreduceHandle.from(reducer)
        try handle.reducer.average(over: handle.communicator.communicator)
    }
}

/// Releases a gradient allreduce (null is a no-op).
@_cdecl("dcl_grad_allreduce_free")
public func dcl_grad_allreduce_free(_ reducer: OpaquePointer?) {
    guard let reducer else { return }
    Unmanaged<GradientAllreduceHandle>.fromOpaque(UnsafeRawPointer(reducer)).release()
}

/// A (rows, dim) float32 matrix argument copied into a tensor.
private func matrix(_ p: UnsafePointer<Float>?, rows: Int64, dim: Int64, name: String) throws -> Tensor {
    let rows = try Arguments.atLeast(rows, 1, name: "rows of \(name)")
    let dim = try Arguments.atLeast(dim, 1, name: "dim of \(name)")
    let count = try Arguments.product(rows, dim, name: name)
    let values = try Arguments.floats(p, count: count, name: name)
    try Arguments.requireFinite(values, name: name)
    let t = Tensor(shape: [rows, dim])
    t.data.update(from: values.baseAddress!, count: count)
    return t
}

/// The forward of the projection gather; see dclkit.h.
@_cdecl("dcl_projection_gather")
public func dcl_projection_gather(
    _ comm: OpaquePointer?, _ local: UnsafePointer<Float>?, _ rows: Int64, _ dim: Int64, _ gathered: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let z = try matrix(local, rows: rows, dim: dim, name: "local")
        let out = try Arguments.output(gathered, count: try Arguments.product(z.count, communicator.size, name: "gathered"), name: "gathered")
        let gather = ProjectionGather(communicator: communicator)
        let result = try gather.forward(z)
        out.baseAddress!.update(from: result.data, count: result.count)
    }
}

/// The backward of the projection gather; see dclkit.h.
@_cdecl("dcl_projection_gather_backward")
public func dcl_projection_gather_backward(
    _ comm: OpaquePointer?, _ gradGathered: UnsafePointer<Float>?, _ rows: Int64, _ dim: Int64,
    _ gradLocal: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let local = try Arguments.atLeast(rows, 1, name: "rows")
        let g = try matrix(gradGathered, rows: Int64(try Arguments.product(local, communicator.size, name: "grad_gathered")),
                           dim: dim, name: "grad_gathered")
        let out = try Arguments.output(gradLocal, count: local * Int(dim), name: "grad_local")
        let gather = ProjectionGather(communicator: communicator)
        let result = try gather.backward(g)
        out.baseAddress!.update(from: result.data, count: result.count)
    }
}

/// SyncBN's forward reduction; see dclkit.h.
@_cdecl("dcl_sync_bn_statistics")
public func dcl_sync_bn_statistics(
    _ comm: OpaquePointer?, _ sum: UnsafePointer<Double>?, _ sumOfSquares: UnsafePointer<Double>?, _ count: Int64,
    _ channels: Int64, _ mean: UnsafeMutablePointer<Double>?, _ variance: UnsafeMutablePointer<Double>?,
    _ globalCount: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let c = try Arguments.elementCount(channels, name: "channels")
        guard count >= 0, count <= 1 << 50 else { throw ABIError.invalid("count must be between 0 and 2^50, got \(count)") }
        let s = try Arguments.doubles(sum, count: c, name: "sum")
        let s2 = try Arguments.doubles(sumOfSquares, count: c, name: "sum_sq")
        guard let mean else { throw ABIError.invalid("mean is a null pointer") }
        guard let variance else { throw ABIError.invalid("var is a null pointer") }
        let total = try Arguments.out(globalCount, name: "global_count")
        let reduction = try SyncBatchStatistics(channels: c, communicator: communicator)
        total.pointee = Int64(try reduction.meanAndVariance(sum: s, sumOfSquares: s2, count: Int(count),
                                                            mean: UnsafeMutableBufferPointer(start: mean, count: c),
                                                            variance: UnsafeMutableBufferPointer(start: variance, count: c)))
    }
}

/// SyncBN's backward reduction; see dclkit.h.
@_cdecl("dcl_sync_bn_gradient_sums")
public func dcl_sync_bn_gradient_sums(
    _ comm: OpaquePointer?, _ sumGradient: UnsafePointer<Double>?, _ sumGradientTimesNormalized: UnsafePointer<Double>?,
    _ channels: Int64, _ globalSumGradient: UnsafeMutablePointer<Double>?,
    _ globalSumGradientTimesNormalized: UnsafeMutablePointer<Double>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let c = try Arguments.elementCount(channels, name: "channels")
        let dy = try Arguments.doubles(sumGradient, count: c, name: "sum_dy")
        let dyx = try Arguments.doubles(sumGradientTimesNormalized, count: c, name: "sum_dy_xhat")
        guard let outDy = globalSumGradient else { throw ABIError.invalid("global_sum_dy is a null pointer") }
        guard let outDyx = globalSumGradientTimesNormalized else { throw ABIError.invalid("global_sum_dy_xhat is a null pointer") }
        let a = UnsafeMutableBufferPointer(start: outDy, count: c), b = UnsafeMutableBufferPointer(start: outDyx, count: c)
        _ = a.update(fromContentsOf: dy)
        _ = b.update(fromContentsOf: dyx)
        let reduction = try SyncBatchStatistics(channels: c, communicator: communicator)
        try reduction.reduceGradientSums(sumGradient: a, sumGradientTimesNormalized: b)
    }
}

/// Shuffles rows over the global batch (MoCo's shuffle-BN); see dclkit.h.
@_cdecl("dcl_key_shuffle")
public func dcl_key_shuffle(
    _ comm: OpaquePointer?, _ rows: UnsafePointer<Float>?, _ n: Int64, _ rowLength: Int64, _ seed: UInt64, _ step: UInt64,
    _ shuffled: UnsafeMutablePointer<Float>?, _ permutation: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let x = try matrix(rows, rows: n, dim: rowLength, name: "rows")
        let out = try Arguments.output(shuffled, count: x.count, name: "shuffled")
        let total = try Arguments.product(x.shape[0], communicator.size, name: "permutation")
        guard let permutation else { throw ABIError.invalid("permutation is a null pointer") }
        let shuffle = KeyShuffle(communicator: communicator)
        let result = try shuffle.shuffle(x, seed: seed, step: step)
        out.baseAddress!.update(from: result.data, count: result.count)
        permutation.update(from: shuffle.permutation, count: total)
    }
}

/// Brings keys computed on shuffled rows back to their rank and order; see dclkit.h.
@_cdecl("dcl_key_unshuffle")
public func dcl_key_unshuffle(
    _ comm: OpaquePointer?, _ keys: UnsafePointer<Float>?, _ n: Int64, _ dim: Int64, _ permutation: UnsafePointer<Int64>?,
    _ ownKeys: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let communicator = try CommunicatorHandle.from(comm).communicator
        let k = try matrix(keys, rows: n, dim: dim, name: "keys")
        let out = try Arguments.output(ownKeys, count: k.count, name: "own_keys")
        let total = try Arguments.product(k.shape[0], communicator.size, name: "permutation")
        guard let permutation else { throw ABIError.invalid("permutation is a null pointer") }
        let shuffle = KeyShuffle(communicator: communicator)
        try shuffle.adopt(permutation: Array(UnsafeBufferPointer(start: permutation, count: total)), rowsPerRank: k.shape[0])
        let result = try shuffle.unshuffle(k)
        out.baseAddress!.update(from: result.data, count: result.count)
    }
}

// ---- The distributed trainer ----------------------------------------------------------------

/// Creates a trainer whose run is spread over the ranks of a communicator; see dclkit.h.
@_cdecl("dcl_trainer_create_distributed")
public func dcl_trainer_create_distributed(
    _ config: UnsafePointer<CChar>?, _ comm: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let text = try Arguments.string(config, name: "config")
        let communicator = try CommunicatorHandle.from(comm)
        let trainer = try ContrastiveTrainer(configuration: try RunConfiguration(json: text), communicator: communicator.communicator)
        TrainerHandle.publish(trainer, communicator: communicator, to: out)
    }
}

/// Resumes a checkpoint on the ranks of a communicator; see dclkit.h.
@_cdecl("dcl_trainer_resume_distributed")
public func dcl_trainer_resume_distributed(
    _ path: UnsafePointer<CChar>?, _ comm: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let path = try Arguments.path(path, name: "path")
        let communicator = try CommunicatorHandle.from(comm)
        let trainer = try ContrastiveTrainer.resume(from: path, communicator: communicator.communicator)
        TrainerHandle.publish(trainer, communicator: communicator, to: out)
    }
}

/// Seconds a trainer spent inside collectives; see dclkit.h.
@_cdecl("dcl_trainer_comm_seconds")
public func dcl_trainer_comm_seconds(_ trainer: OpaquePointer?, _ seconds: UnsafeMutablePointer<Double>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        try Arguments.out(seconds, name: "seconds").pointee = t.communicator.seconds
    }
}

/// A hash of a trainer's checkpoint tensors; see dclkit.h.
@_cdecl("dcl_trainer_state_hash")
public func dcl_trainer_state_hash(
    _ trainer: OpaquePointer?, _ prefix: UnsafePointer<CChar>?, _ hash: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let prefix = try Arguments.string(prefix, name: "prefix")
        try Arguments.out(hash, name: "hash").pointee = t.stateHash(prefix: prefix)
    }
}
