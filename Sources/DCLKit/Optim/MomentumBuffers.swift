/// One momentum buffer per parameter, zero at the start, with checkpoint export and import.
///
/// Shared by `SGD` and `LARS`. Buffer `i` has the shape of parameter `i` and is named
/// `"state.<i>.momentum_buffer"`, after PyTorch's optimiser `state_dict`.
final class MomentumBuffers {
    /// The buffers, in parameter order.
    let buffers: [Tensor]

    /// Zero buffers shaped like `parameters`.
    init(for parameters: [Parameter]) {
        buffers = parameters.map { Tensor(shape: $0.value.shape) }
    }

    /// The buffers with their checkpoint names.
    var named: [(String, Tensor)] {
        buffers.enumerated().map { (MomentumBuffers.name(of: $0.offset), $0.element) }
    }

    /// Replaces every buffer by the tensor of the same name. All tensors are checked before
    /// any is copied, so a failed load leaves the buffers as they were.
    func load(_ tensors: [(String, Tensor)]) throws {
        var byName: [String: Tensor] = [:]
        for (name, tensor) in tensors {
            guard byName.updateValue(tensor, forKey: name) == nil else {
                throw OptimizerStateError("optimizer state: duplicate tensor \(name)")
            }
        }
        var sources: [Tensor] = []
        for (name, buffer) in named {
            guard let source = byName.removeValue(forKey: name) else {
                throw OptimizerStateError("optimizer state: missing tensor \(name)")
            }
            guard source.shape == buffer.shape else {
                throw OptimizerStateError("optimizer state: \(name) has shape \(source.shape), expected \(buffer.shape)")
            }
            guard source.buffer.allSatisfy({ $0.isFinite }) else {
                throw OptimizerStateError("optimizer state: \(name) has a non-finite value")
            }
            sources.append(source)
        }
        if let extra = byName.keys.sorted().first {
            throw OptimizerStateError("optimizer state: unexpected tensor \(extra)")
        }
        for (buffer, source) in zip(buffers, sources) { buffer.copy(from: source) }
    }

    private static func name(of index: Int) -> String { "state.\(index).momentum_buffer" }
}
