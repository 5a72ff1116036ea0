/// MoCo's momentum (exponential moving average) update of the key encoder:
/// θ_k ← m·θ_k + (1 − m)·θ_q, element by element, after every training step.
///
/// The two lists pair tensor for tensor (same order, same shapes): the key encoder's tensors
/// are updated in place, the query encoder's are only read. MoCo's reference code averages the
/// parameters only; dclkit's trainer also passes the BatchNorm running statistics (issue 6).
/// m = 0.999 is MoCo's ImageNet default, 0.99 its CIFAR demo's; m = 0 copies the query encoder.
///
/// ```swift
/// MomentumUpdate.apply(to: keyTensors, from: queryTensors, momentum: 0.999)
/// ```
public enum MomentumUpdate {
    /// Updates each tensor of `key` as key ← m·key + (1 − m)·query with its partner in `query`.
    /// Requires m in [0, 1) and matching lengths and shapes (checked by callers).
    public static func apply(to key: [Tensor], from query: [Tensor], momentum: Double) {
        precondition(momentum >= 0 && momentum < 1, "MomentumUpdate: momentum \(momentum)")
        precondition(key.count == query.count, "MomentumUpdate: \(key.count) key and \(query.count) query tensors")
        let m = Float(momentum), rest = Float(1 - momentum)
        for (k, q) in zip(key, query) {
            precondition(k.shape == q.shape, "MomentumUpdate: shapes \(k.shape) and \(q.shape)")
            let kd = k.data, qd = q.data
            Threads.forEachChunk(k.count) { range in
                for j in range { kd[j] = m * kd[j] + rest * qd[j] }
            }
        }
    }
}
