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
    ///
    /// A checkpoint that `resume(from:)` would refuse is never written: before anything reaches
    /// the disk, the metadata is read back by the reader's own rules (the configuration, the step
    /// count, the progress and history, the diagnostics) and every tensor is checked finite; a
    /// failure throws `TrainingError.state` naming the value, and a file already at `path` (a
    /// good checkpoint) is left as it was.
    public func save(to path: FilePath) throws {
        var failure: Error?
        if communicator.rank == 0 {
            var metadata = progress.metadata
            metadata["format"] = ContrastiveTrainer.checkpointFormat
            metadata["config"] = configuration.json.text
            metadata["step"] = String(stepCount)
            metadata.merge(diagnostics.metadata) { _, new in new }
            do {
                // The checkpoint's copies (the encoder's state, the method's second encoder,
                // head and queue) are bounded before they are made: a save the process cannot
                // hold is a TensorError, not a trap.
                try Tensor.requireAllocatable(floats: [encoder.stateElements, configuration.settings.constructionElements(encoder: configuration.encoder),
                                                       ProjectionDiagnostics.maximumMultipliers].reduce(0, saturatingSum))
                let tensors = stateTensors()
                try ContrastiveTrainer.requireResumable(metadata: metadata, tensors: tensors, progress: progress)
                try Safetensors.write(tensors, metadata: metadata, to: path)
            } catch { failure = error }
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

    /// Throws `TrainingError.state` unless a checkpoint of `metadata` and `tensors` reads back as
    /// `resume(from:)` reads it: the configuration resolves, the step is a count
    /// (`FileNumbers`), the progress reads back equal to `progress`, the diagnostics restore, and
    /// every tensor value is finite.
    static func requireResumable(metadata: [String: String], tensors: [(name: String, tensor: Tensor)], progress: RunProgress) throws {
        func refuse(_ what: String) -> TrainingError {
            TrainingError.state("the run cannot be saved, its checkpoint would not resume: \(what)")
        }
        do {
            _ = try RunConfiguration(checkpointJSON: metadata["config"] ?? "")
            _ = try step(metadata)
            guard try RunProgress(metadata: metadata) == progress else { throw refuse("the progress does not read back") }
            try ProjectionDiagnostics().restore(metadata: metadata, tensors: Dictionary(tensors, uniquingKeysWith: { a, _ in a }))
        } catch let error as TrainingError where error.kind == .format {
            throw refuse(error.description)
        } catch let error as ConfigurationError {
            throw refuse("the configuration does not resolve: \(error.description)")
        }
        for (name, tensor) in tensors {
            if let i = (0..<tensor.count).first(where: { !tensor[$0].isFinite }) {
                throw refuse("\(name) has a non-finite value (\(tensor[i])) at flat index \(i); lower the learning rate")
            }
        }
    }

    /// The checkpoint's optimiser step count: a count below 2⁴⁰ (`FileNumbers.count`), so the
    /// steps a run adds to it never overflow.
    private static func step(_ metadata: [String: String]) throws -> Int {
        guard let text = metadata["step"] else { throw TrainingError.format("the checkpoint has no step count") }
        guard let step = FileNumbers.count(text) else { throw TrainingError.format("the checkpoint's step (\(text)) is not a count below 2^40") }
        return step
    }

    /// The run saved at `path`: built from the checkpoint's configuration, then its tensors,
    /// step count and progress restored. Throws `IOFailure` for an unreadable file and a
    /// `TrainingError` (format) for a file that is not a dclkit trainer checkpoint. With a
    /// `communicator` every rank reads the file (a shared file system, or a copy on each
    /// machine) and the run continues on its W ranks, any W that divides the batch.
    ///
    /// Nothing is built before it is checked: the header against the file's size, the metadata
    /// (configuration, step and progress, every number through `FileNumbers`), the shapes of the
    /// "encoder." tensors against the model the configuration describes (`Encoder.stateShapes`:
    /// a mismatch names the tensor), and the memory the run needs (`requireMemory(for:)`).
    public static func resume(from path: FilePath, communicator: Communicator? = nil) throws -> ContrastiveTrainer {
        let file = try Safetensors.File(path)
        let metadata = file.metadata
        guard metadata["format"] == checkpointFormat else {
            throw TrainingError.format("\(path) is not a dclkit trainer checkpoint (format \(metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(checkpointFormat)\")")
        }
        let configuration: RunConfiguration
        do { configuration = try RunConfiguration(checkpointJSON: metadata["config"] ?? "") } catch let error as ConfigurationError {
            throw TrainingError.format("\(path): the stored configuration is not valid: \(error.description)")
        }
        let step: Int, progress: RunProgress
        do {
            step = try self.step(metadata)
            progress = try RunProgress(metadata: metadata)
            var encoderShapes: [String: [Int]] = [:]
            for entry in file.entries where entry.name.hasPrefix("encoder.") { encoderShapes[String(entry.name.dropFirst(8))] = entry.shape }
            try Encoder.checkShapes(encoderShapes, expected: Encoder.stateShapes(configuration.encoder),
                                    architecture: configuration.encoder.architecture, prefix: "encoder.")
        } catch let error as TrainingError {
            throw TrainingError.format("\(path): \(error.description)")
        } catch let error as EncoderError {
            throw TrainingError.format("\(path): the stored configuration does not describe its tensors: \(error.description)")
        }
        try requireMemory(for: configuration)
        let tensors = try file.tensors()
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
