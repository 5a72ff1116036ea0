/// The whole checkpoint of a run in one safetensors file: every tensor of `stateTensors()` and,
/// as metadata, the format tag, the completed configuration (JSON), the optimiser step count and
/// the `RunProgress` (epoch, position in the epoch, epoch length, history, the current epoch's
/// running sums). A run resumed from it continues exactly as if it had not stopped.
///
/// ```swift
/// try trainer.save(to: FilePath("run.safetensors"))
/// let again = try ContrastiveTrainer.resume(from: FilePath("run.safetensors"))
/// ```
extension ContrastiveTrainer {
    /// The value of the checkpoint's "format" metadata.
    public static let checkpointFormat = "dclkit.trainer/2"

    /// Writes the checkpoint to `path` atomically (a temporary file renamed over it). In a
    /// data-parallel run every rank calls it, rank 0 alone writes (the state is the same on
    /// every rank and holds nothing of W), and every rank returns rank 0's outcome: rank 0's
    /// error, or `DistributedError.invalid` naming it on the others.
    public func save(to path: FilePath) throws {
        var failure: Error?
        if communicator.rank == 0 {
            var metadata = progress.metadata
            metadata["format"] = ContrastiveTrainer.checkpointFormat
            metadata["config"] = configuration.json.text
            metadata["step"] = String(stepCount)
            metadata.merge(diagnostics.metadata) { _, new in new }
            do { try Safetensors.write(stateTensors(), metadata: metadata, to: path) } catch { failure = error }
        }
        guard communicator.size > 1 else {
            if let failure { throw failure }
            return
        }
        var status: [Int64] = [failure == nil ? 0 : 1]
        try status.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
        if let failure { throw failure }
        if status[0] != 0 { throw DistributedError.invalid("rank 0 could not write the checkpoint \(path)") }
    }

    /// The run saved at `path`: built from the checkpoint's configuration, then its tensors,
    /// step count and progress restored. Throws `IOFailure` for an unreadable file and a
    /// `TrainingError` (format) for a file that is not a dclkit trainer checkpoint. With a
    /// `communicator` every rank reads the file (a shared file system, or a copy on each
    /// machine) and the run continues on its W ranks, any W that divides the batch.
    public static func resume(from path: FilePath, communicator: Communicator? = nil) throws -> ContrastiveTrainer {
        let (tensors, metadata) = try Safetensors.read(from: path)
        guard metadata["format"] == checkpointFormat else {
            throw TrainingError.format("\(path) is not a dclkit trainer checkpoint (format \(metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(checkpointFormat)\")")
        }
        let configuration: RunConfiguration
        do { configuration = try RunConfiguration(checkpointJSON: metadata["config"] ?? "") } catch let error as ConfigurationError {
            throw TrainingError.format("\(path): the stored configuration is not valid: \(error.description)")
        }
        guard let stepText = metadata["step"], let step = Int(stepText), step >= 0 else {
            throw TrainingError.format("\(path) has no step count")
        }
        let progress = try RunProgress(metadata: metadata)
        let trainer = try ContrastiveTrainer(configuration: configuration, communicator: communicator)
        try trainer.loadState(tensors, stepCount: step)
        try trainer.diagnostics.restore(metadata: metadata, tensors: tensors)
        trainer.progress = progress
        return trainer
    }

    /// A 64-bit FNV-1a hash of the names and float32 bytes of every checkpoint tensor whose name
    /// starts with `prefix` ("" for all; "queue" for MoCo's queue, "encoder." for the model), in
    /// checkpoint order: equal on every rank of a data-parallel run, whose state is replicated.
    public func stateHash(prefix: String) -> UInt64 {
        var h = FNVHash()
        for (name, tensor) in stateTensors() where name.hasPrefix(prefix) {
            h.mix(name.utf8)
            h.mix(UnsafeRawBufferPointer(tensor.buffer))
        }
        return h.value
    }
}
