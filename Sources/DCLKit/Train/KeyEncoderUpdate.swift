/// MoCo's momentum (exponential moving average) update of the key encoder:
/// θ_k ← m·θ_k + (1 − m)·θ_q, element by element, after every training step.
///
/// The two lists pair tensor for tensor (same order, same shapes): the key encoder's tensors
/// are updated in place, the query encoder's are only read. MoCo's reference code averages the
/// parameters only; dclkit's `MoCoMethod` also passes the BatchNorm running statistics, so the
/// key encoder's eval-mode statistics follow the query encoder's.
/// m = 0.999 is MoCo's ImageNet default, 0.99 its CIFAR demo's; m = 0 copies the query encoder,
/// m = 1 leaves the key encoder as it is (BYOL's τ_K at the end of its schedule).
/// BYOL's target network (`BYOLMethod`) follows its online network by the same update.
///
/// ```swift
/// KeyEncoderUpdate.apply(to: keyTensors, from: queryTensors, momentum: 0.999)
/// ```
public enum KeyEncoderUpdate {
    /// The tensors an encoder's momentum copy follows, in an order two encoders of one
    /// configuration share: every parameter, then every BatchNorm running mean and variance.
    public static func tensors(of encoder: Encoder) -> [Tensor] {
        encoder.namedParameters.map { $0.parameter.value } + encoder.runningStatistics
    }

    /// Updates each tensor of `key` as key ← m·key + (1 − m)·query with its partner in `query`.
    /// Requires m in [0, 1] and matching lengths and shapes (checked by callers).
    public static func apply(to key: [Tensor], from query: [Tensor], momentum: Double) {
        precondition(momentum >= 0 && momentum <= 1, "KeyEncoderUpdate: momentum \(momentum)")
        precondition(key.count == query.count, "KeyEncoderUpdate: \(key.count) key and \(query.count) query tensors")
        let m = Float(momentum), rest = Float(1 - momentum)
        for (k, q) in zip(key, query) {
            precondition(k.shape == q.shape, "KeyEncoderUpdate: shapes \(k.shape) and \(q.shape)")
            let kd = k.data, qd = q.data
            Threads.forEachChunk(k.count) { range in
                for j in range { kd[j] = m * kd[j] + rest * qd[j] }
            }
        }
    }
}
