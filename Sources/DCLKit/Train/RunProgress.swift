/// Where a run stands between steps: epochs finished, the position in the current epoch, the
/// epoch length, the running sums of the current epoch and the history of finished epochs.
/// `ContrastiveTrainer` advances it; a checkpoint stores it as metadata strings (`metadata`,
/// `init(metadata:)`), so a resumed run continues in the middle of an epoch as exactly as at
/// its end.
public struct RunProgress: Equatable {
    /// Epochs finished.
    public internal(set) var epoch = 0
    /// Batches done in the current epoch.
    public internal(set) var batch = 0
    /// Steps per epoch (dataset size // batch size), fixed by the first step on a dataset; nil before.
    public internal(set) var stepsPerEpoch: Int?
    /// One record per finished epoch.
    public internal(set) var history: [EpochRecord] = []
    /// Sum of the current epoch's losses of steps that updated the weights, their count, and the
    /// seconds its steps took so far.
    var lossSum = 0.0
    var updates = 0
    var seconds = 0.0

    /// A run that has not started.
    public init() {}

    /// Adds one step on the dataset, closing the epoch after its last batch (`batchSize` images
    /// each; `learningRate` is the rate of the next step, recorded when the epoch closes).
    /// Returns whether the step closed the epoch.
    @discardableResult
    mutating func record(loss: Double, updated: Bool, seconds stepSeconds: Double, batchSize: Int, learningRate: Double) -> Bool {
        if updated {
            lossSum += loss
            updates += 1
        }
        seconds += stepSeconds
        batch += 1
        guard let steps = stepsPerEpoch, batch == steps else { return false }
        epoch += 1
        var entry = EpochRecord(epoch: epoch, loss: updates > 0 ? lossSum / Double(updates) : .nan, learningRate: learningRate,
                                seconds: seconds, imagesPerSecond: Double(steps * batchSize) / max(seconds, 1e-9))
        entry.warmupSteps = steps - updates
        history.append(entry)
        batch = 0
        lossSum = 0
        updates = 0
        seconds = 0
        return true
    }

    /// Adds measurements (the diagnostics, "knn_top1") to the last finished epoch's record; a
    /// non-finite value is left out (the history holds finite numbers only).
    mutating func appendToLastEpoch(_ values: [(name: String, value: Double)]) {
        guard !history.isEmpty else { return }
        history[history.count - 1].measurements += values.filter { $0.value.isFinite }
    }

    /// The history as a JSON array of objects (a NaN loss as null).
    public var historyJSON: JSON { .array(history.map(\.json)) }

    /// The progress as checkpoint metadata: `epoch`, `batch`, `steps_per_epoch` (0 before the
    /// first step on a dataset), `history` (JSON), and the current epoch's `epoch_loss_sum`,
    /// `epoch_updates`, `epoch_seconds` (doubles written so that they read back exactly).
    public var metadata: [String: String] {
        ["epoch": String(epoch), "batch": String(batch), "steps_per_epoch": String(stepsPerEpoch ?? 0),
         "history": historyJSON.text, "epoch_loss_sum": "\(lossSum)", "epoch_updates": String(updates),
         "epoch_seconds": "\(seconds)"]
    }

    /// The progress stored by `metadata`; throws a `TrainingError` naming a missing or bad key.
    public init(metadata: [String: String]) throws {
        func text(_ key: String) throws -> String {
            guard let v = metadata[key] else { throw TrainingError.format("the checkpoint has no \(key)") }
            return v
        }
        func count(_ key: String) throws -> Int {
            guard let v = FileNumbers.count(try text(key)) else {
                throw TrainingError.format("the checkpoint's \(key) is not a count below 2^40")
            }
            return v
        }
        func real(_ key: String) throws -> Double {
            guard let v = FileNumbers.finite(try text(key)) else { throw TrainingError.format("the checkpoint's \(key) is not a finite number") }
            return v
        }
        epoch = try count("epoch")
        batch = try count("batch")
        let steps = try count("steps_per_epoch")
        stepsPerEpoch = steps == 0 ? nil : steps
        guard batch < max(steps, 1) else { throw TrainingError.format("the checkpoint's batch (\(batch)) is not within its epoch of \(steps) steps") }
        guard case .array(let entries)? = try? JSON.parse(Array(try text("history").utf8)) else {
            throw TrainingError.format("the checkpoint's history is not a JSON array")
        }
        history = try entries.map(EpochRecord.init(json:))
        guard history.count == epoch else { throw TrainingError.format("the checkpoint's history has \(history.count) epochs, not \(epoch)") }
        lossSum = try real("epoch_loss_sum")
        updates = try count("epoch_updates")
        seconds = try real("epoch_seconds")
    }

    public static func == (a: RunProgress, b: RunProgress) -> Bool {
        a.metadata == b.metadata
    }
}

/// One finished epoch: its number, the mean loss of its updating steps (NaN when every step was
/// a MoCo queue warm-up step), the learning rate of the next step, the seconds its steps took, the
/// images per second, the warm-up steps (MoCo), and measurements added afterwards (kNN top-1).
public struct EpochRecord: Equatable {
    public var epoch: Int
    public var loss: Double
    public var learningRate: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    public var warmupSteps = 0
    public var measurements: [(name: String, value: Double)] = []

    /// Records are equal when their JSON is.
    public static func == (a: EpochRecord, b: EpochRecord) -> Bool { a.json == b.json }

    /// The record's own keys in JSON.
    static let fieldNames = ["epoch", "loss", "lr", "seconds", "images_per_s", "warmup_steps"]

    init(epoch: Int, loss: Double, learningRate: Double, seconds: Double, imagesPerSecond: Double) {
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
    }

    /// The record as a JSON object: epoch, loss (null for NaN), lr, seconds, images_per_s,
    /// warmup_steps (only when some steps were warm-up steps), then the measurements.
    public var json: JSON {
        var members: [(String, JSON)] = [
            ("epoch", .number(Double(epoch))), ("loss", loss.isNaN ? .null : .number(loss)), ("lr", .number(learningRate)),
            ("seconds", .number(seconds)), ("images_per_s", .number(imagesPerSecond)),
        ]
        if warmupSteps > 0 { members.append(("warmup_steps", .number(Double(warmupSteps)))) }
        return .object(members + measurements.map { ($0.name, JSON.number($0.value)) })
    }

    /// The record written by `json`.
    init(json: JSON) throws {
        guard case .object(let members) = json else { throw TrainingError.format("a history entry is not an object") }
        func number(_ key: String) throws -> Double {
            guard case .number(let x)? = json[key], let finite = FileNumbers.finite(x) else {
                throw TrainingError.format("a history entry has no finite number \(key)")
            }
            return finite
        }
        func count(_ key: String) throws -> Int {
            guard let n = FileNumbers.count(try number(key)) else { throw TrainingError.format("history entry field \(key) is not a count below 2^40") }
            return n
        }
        epoch = try count("epoch")
        loss = json["loss"] == .null ? .nan : try number("loss")
        learningRate = try number("lr")
        seconds = try number("seconds")
        imagesPerSecond = try number("images_per_s")
        warmupSteps = json["warmup_steps"] == nil ? 0 : try count("warmup_steps")
        for (key, value) in members where !EpochRecord.fieldNames.contains(key) {
            guard case .number(let x) = value, let finite = FileNumbers.finite(x) else {
                throw TrainingError.format("history entry field \(key) is not a finite number")
            }
            measurements.append((key, finite))
        }
    }
}

/// A training call the run's state or data does not allow, or a checkpoint whose progress does
/// not read back.
public struct TrainingError: Error, CustomStringConvertible {
    /// A wrong argument (`value`), a call the state does not allow (`state`), or a bad checkpoint (`format`).
    public enum Kind {
        case value, state, format
    }

    /// The kind of mistake.
    public let kind: Kind
    /// The message.
    public let description: String

    static func value(_ message: String) -> TrainingError { TrainingError(kind: .value, description: message) }
    static func state(_ message: String) -> TrainingError { TrainingError(kind: .state, description: message) }
    static func format(_ message: String) -> TrainingError { TrainingError(kind: .format, description: message) }
}
