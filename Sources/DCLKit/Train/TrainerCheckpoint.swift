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

    /// Writes the checkpoint to `path` atomically (a temporary file renamed over it).
    public func save(to path: FilePath) throws {
        var metadata = progress.metadata
        metadata["format"] = ContrastiveTrainer.checkpointFormat
        metadata["config"] = configuration.json.text
        metadata["step"] = String(stepCount)
        try Safetensors.write(stateTensors(), metadata: metadata, to: path)
    }

    /// The run saved at `path`: built from the checkpoint's configuration, then its tensors,
    /// step count and progress restored. Throws `IOFailure` for an unreadable file and a
    /// `TrainingError` (format) for a file that is not a dclkit trainer checkpoint.
    public static func resume(from path: FilePath) throws -> ContrastiveTrainer {
        let (tensors, metadata) = try Safetensors.read(from: path)
        guard metadata["format"] == checkpointFormat else {
            throw TrainingError.format("\(path) is not a dclkit trainer checkpoint (format \(metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(checkpointFormat)\")")
        }
        let configuration: RunConfiguration
        do { configuration = try RunConfiguration(json: metadata["config"] ?? "") } catch let error as ConfigurationError {
            throw TrainingError.format("\(path): the stored configuration is not valid: \(error.description)")
        }
        guard let stepText = metadata["step"], let step = Int(stepText), step >= 0 else {
            throw TrainingError.format("\(path) has no step count")
        }
        let progress = try RunProgress(metadata: metadata)
        let trainer = try ContrastiveTrainer(configuration: configuration)
        try trainer.loadState(tensors, stepCount: step)
        trainer.progress = progress
        return trainer
    }
}
