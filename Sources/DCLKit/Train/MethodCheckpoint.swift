extension ProjectionHead {
    /// Copies of the head's state entries, named `prefix` + their Sequential names ("predictor.head.0.weight"),
    /// for a checkpoint (a method's own prediction head: NNCLR, BYOL, SimSiam).
    func checkpointTensors(prefix: String) -> [(name: String, tensor: Tensor)] {
        stateEntries().map { (prefix + $0.name, $0.tensor.clone()) }
    }

    /// Restores the entries `checkpointTensors(prefix:)` wrote; throws `MethodStateError`
    /// naming the first missing or misshapen entry (before any value is copied).
    func loadCheckpoint(_ tensors: [String: Tensor], prefix: String) throws {
        let entries = stateEntries()
        for entry in entries where tensors[prefix + entry.name]?.shape != entry.tensor.shape {
            throw MethodStateError(description: "the checkpoint has no \(prefix)\(entry.name) of shape \(entry.tensor.shape)")
        }
        for entry in entries { entry.tensor.copy(from: tensors[prefix + entry.name]!) }
    }
}

extension Encoder {
    /// The state dict of a method's second encoder (MoCo's key encoder, BYOL's target network)
    /// under `prefix` ("key_encoder.conv1.weight"), for a checkpoint.
    func checkpointTensors(prefix: String) -> [(name: String, tensor: Tensor)] {
        stateDict().map { (prefix + $0.name, $0.tensor) }
    }

    /// Loads the entries of `tensors` named `prefix` + a state-dict name (`loadStateDict`'s checks).
    func loadCheckpoint(_ tensors: [String: Tensor], prefix: String) throws {
        var state: [String: Tensor] = [:]
        for (name, tensor) in tensors where name.hasPrefix(prefix) { state[String(name.dropFirst(prefix.count))] = tensor }
        try loadStateDict(state)
    }
}
