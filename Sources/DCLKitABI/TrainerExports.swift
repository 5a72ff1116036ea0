import DCLKit

// The trainer: one handle owns a whole run (encoder, head, augmentation, method, optimiser,
// schedule, progress, checkpoint). See the Trainer section of dclkit.h.

/// The object behind a `dcl_trainer *` handle.
final class TrainerHandle {
    let trainer: ContrastiveTrainer
    /// The communicator of a distributed trainer, kept alive as long as the trainer.
    let communicator: CommunicatorHandle?
    init(_ trainer: ContrastiveTrainer, communicator: CommunicatorHandle? = nil) {
        self.trainer = trainer
        self.communicator = communicator
    }

    /// The trainer behind `pointer`; throws for a null pointer.
    static func from(_ pointer: OpaquePointer?) throws -> ContrastiveTrainer {
        guard let pointer else { throw ABIError.invalid("trainer is a null pointer") }
        return Unmanaged<TrainerHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue().trainer
    }

    /// Stores a new handle for `trainer` in `out`.
    static func publish(_ trainer: ContrastiveTrainer, communicator: CommunicatorHandle? = nil,
                        to out: UnsafeMutablePointer<OpaquePointer?>) {
        out.pointee = OpaquePointer(Unmanaged.passRetained(TrainerHandle(trainer, communicator: communicator)).toOpaque())
    }
}

/// Creates a trainer from a configuration JSON object (absent fields take their defaults).
@_cdecl("dcl_trainer_create")
public func dcl_trainer_create(_ config: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let text = try Arguments.string(config, name: "config")
        let trainer = try ContrastiveTrainer(configuration: try RunConfiguration(json: text))
        TrainerHandle.publish(trainer, to: out)
    }
}

/// Creates a trainer from a checkpoint written by `dcl_trainer_save`.
@_cdecl("dcl_trainer_resume")
public func dcl_trainer_resume(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let path = try Arguments.path(path, name: "path")
        let trainer = try ContrastiveTrainer.resume(from: path)
        TrainerHandle.publish(trainer, to: out)
    }
}

/// Releases a trainer (null is a no-op); encoder views taken from it stay valid.
@_cdecl("dcl_trainer_free")
public func dcl_trainer_free(_ trainer: OpaquePointer?) {
    guard let trainer else { return }
    Unmanaged<TrainerHandle>.fromOpaque(UnsafeRawPointer(trainer)).release()
}

/// A new encoder handle on the trainer's own encoder (not a copy).
@_cdecl("dcl_trainer_encoder")
public func dcl_trainer_encoder(_ trainer: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        EncoderHandle.publish(try TrainerHandle.from(trainer).encoder, to: out)
    }
}

/// Writes the trainer's completed configuration as JSON into `buffer`.
@_cdecl("dcl_trainer_config")
public func dcl_trainer_config(
    _ trainer: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        try exportText(buffer, capacity, needed) { t.configuration.json.text }
    }
}

/// The run's next batch of a uint8 dataset (n, h, w, c): one step and the progress advanced;
/// the record of an epoch it closes goes to `record` (the text-output rule; *record_needed 0
/// when it closed none).
@_cdecl("dcl_trainer_step")
public func dcl_trainer_step(
    _ trainer: OpaquePointer?, _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ loss: UnsafeMutablePointer<Double>?, _ updated: UnsafeMutablePointer<Int32>?, _ step: UnsafeMutablePointer<Int64>?,
    _ lr: UnsafeMutablePointer<Double>?, _ epoch: UnsafeMutablePointer<Int64>?,
    _ record: UnsafeMutablePointer<CChar>?, _ recordCapacity: Int64, _ recordNeeded: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let batch = try ImageBatchShape(n, h, w, c)
        let pixels = try Arguments.bytes(images, name: "images")
        guard recordCapacity >= 0 else { throw ABIError.invalid("record_capacity must be at least 0, got \(recordCapacity)") }
        let outcome = try t.step(dataset: pixels, count: batch.count, height: batch.height, width: batch.width, channels: batch.channels)
        write(outcome, loss, updated, step, lr, epoch)
        if let recordNeeded {
            if let closed = outcome.closedEpoch {
                writeText(closed.json.text, into: record, capacity: recordCapacity, needed: recordNeeded)
            } else {
                writeText("", into: record, capacity: recordCapacity, needed: recordNeeded)
                recordNeeded.pointee = 0
            }
        }
    }
}

/// Steps from the run's position until `epochs` epochs are finished, on a dataset of `n` images.
@_cdecl("dcl_trainer_steps_until")
public func dcl_trainer_steps_until(_ trainer: OpaquePointer?, _ n: Int64, _ epochs: Int64, _ steps: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let count = try Arguments.atLeast(n, 1, name: "n")
        let target = try Arguments.atLeast(epochs, 0, name: "epochs")
        let out = try Arguments.out(steps, name: "steps")
        out.pointee = Int64(try t.steps(until: target, datasetCount: count))
    }
}

/// Sets the kNN monitor run when an epoch closes (train and test images with labels), or clears
/// it when `train_images` is null.
@_cdecl("dcl_trainer_set_monitor")
public func dcl_trainer_set_monitor(
    _ trainer: OpaquePointer?,
    _ trainImages: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64, _ trainLabels: UnsafePointer<Int64>?,
    _ testImages: UnsafePointer<UInt8>?, _ m: Int64, _ testH: Int64, _ testW: Int64, _ testC: Int64, _ testLabels: UnsafePointer<Int64>?,
    _ k: Int64, _ temperature: Double, _ every: Int64, _ lastEpoch: Int64
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        guard let trainImages else {
            t.monitor = nil
            return
        }
        let trainShape = try ImageBatchShape(n, h, w, c), testShape = try ImageBatchShape(m, testH, testW, testC)
        let test = try Arguments.bytes(testImages, name: "test_images")
        let neighbours = try Arguments.atLeast(k, 1, name: "k")
        let tau = try Arguments.positive(temperature, name: "temperature")
        let period = try Arguments.atLeast(every, 1, name: "every")
        let last = try Arguments.atLeast(lastEpoch, 0, name: "last_epoch")
        let trainLabelValues = try Arguments.classLabels(trainLabels, count: trainShape.count, name: "train_labels")
        let testLabelValues = try Arguments.classLabels(testLabels, count: testShape.count, name: "test_labels")
        let classes = max(trainLabelValues.max() ?? 0, testLabelValues.max() ?? 0) + 1
        try Tensor.requireAllocatable(floats: (trainShape.bytes + testShape.bytes) / MemoryLayout<Float>.stride + 1)
        t.monitor = EpochEvaluation(
            train: .init(pixels: trainImages, height: trainShape.height, width: trainShape.width, channels: trainShape.channels,
                         labels: trainLabelValues),
            test: .init(pixels: test, height: testShape.height, width: testShape.width, channels: testShape.channels,
                        labels: testLabelValues),
            classes: classes, neighbours: neighbours, temperature: tau, every: period, lastEpoch: last)
    }
}

/// One step on float views v0, v1 (n, size, size, 3) each, outside the epoch bookkeeping.
@_cdecl("dcl_trainer_step_views")
public func dcl_trainer_step_views(
    _ trainer: OpaquePointer?, _ view0: UnsafePointer<Float>?, _ view1: UnsafePointer<Float>?, _ n: Int64, _ size: Int64,
    _ loss: UnsafeMutablePointer<Double>?, _ updated: UnsafeMutablePointer<Int32>?, _ step: UnsafeMutablePointer<Int64>?,
    _ lr: UnsafeMutablePointer<Double>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let count = try Arguments.atLeast(n, 2, name: "n")
        let side = try Arguments.atLeast(size, 1, name: "size")
        guard count <= 1 << 20, side <= 1 << 14 else { throw ABIError.invalid("views of \(count) x \(side)² are too large") }
        try t.method.requireStep(count: count)
        try t.encoder.validate(inputShape: [2 * count, side, side, 3], training: true)
        try t.requireMemory(forStepOf: count, height: side, width: side, channels: 3)
        let values = try Arguments.product(count, side * side * 3, name: "v0")
        let a = try Arguments.floats(view0, count: values, name: "v0")
        let b = try Arguments.floats(view1, count: values, name: "v1")
        try Arguments.requireFinite(a, name: "v0")
        try Arguments.requireFinite(b, name: "v1")
        let outcome = try t.step(view0: a.baseAddress!, view1: b.baseAddress!, count: count, size: side, epoch: t.progress.epoch)
        write(outcome, loss, updated, step, lr, nil)
    }
}

/// The run's position: epochs finished, batches done in the current epoch, steps per epoch
/// (0 before the first dataset step), optimiser steps, the next step's learning rate.
@_cdecl("dcl_trainer_progress")
public func dcl_trainer_progress(
    _ trainer: OpaquePointer?, _ epoch: UnsafeMutablePointer<Int64>?, _ batch: UnsafeMutablePointer<Int64>?,
    _ stepsPerEpoch: UnsafeMutablePointer<Int64>?, _ step: UnsafeMutablePointer<Int64>?, _ lr: UnsafeMutablePointer<Double>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        epoch?.pointee = Int64(t.progress.epoch)
        batch?.pointee = Int64(t.progress.batch)
        stepsPerEpoch?.pointee = Int64(t.progress.stepsPerEpoch ?? 0)
        step?.pointee = Int64(t.stepCount)
        lr?.pointee = t.learningRate
    }
}

/// Writes the history (a JSON array, one object per finished epoch) into `buffer`.
@_cdecl("dcl_trainer_history")
public func dcl_trainer_history(
    _ trainer: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        try exportText(buffer, capacity, needed) { t.progress.historyJSON.text }
    }
}

/// Seconds spent so far in augmentation, forward (with the loss), backward (with zeroing the
/// gradients) and the optimiser (with MoCo's momentum update and enqueue), into `seconds[0..3]`.
@_cdecl("dcl_trainer_timings")
public func dcl_trainer_timings(_ trainer: OpaquePointer?, _ seconds: UnsafeMutablePointer<Double>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let out = try Arguments.out(seconds, name: "seconds")
        let parts = t.timings
        out[0] = parts.augment
        out[1] = parts.forward
        out[2] = parts.backward
        out[3] = parts.optimizer
    }
}

/// Eval-mode pooled features (n, F) of uint8 images (n, h, w, c), resized to the view size.
@_cdecl("dcl_trainer_embed")
public func dcl_trainer_embed(
    _ trainer: OpaquePointer?, _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ features: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let batch = try ImageBatchShape(n, h, w, c)
        let pixels = try Arguments.bytes(images, name: "images")
        let count = try Arguments.product(batch.count, t.encoder.configuration.featureDimension, name: "features")
        let out = try Arguments.output(features, count: count, name: "features")
        try t.embed(images: pixels, count: batch.count, height: batch.height, width: batch.width,
                    channels: batch.channels, into: out.baseAddress!)
    }
}

/// Writes the whole checkpoint (tensors, configuration, step, progress, history) atomically to `path`.
@_cdecl("dcl_trainer_save")
public func dcl_trainer_save(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let path = try Arguments.path(path, name: "path")
        try t.save(to: path)
    }
}

/// Stores a step's outcome in the caller's (optional) outputs.
private func write(_ outcome: ContrastiveTrainer.StepOutcome, _ loss: UnsafeMutablePointer<Double>?,
                   _ updated: UnsafeMutablePointer<Int32>?, _ step: UnsafeMutablePointer<Int64>?,
                   _ lr: UnsafeMutablePointer<Double>?, _ epoch: UnsafeMutablePointer<Int64>?) {
    loss?.pointee = outcome.loss
    updated?.pointee = outcome.updated ? 1 : 0
    step?.pointee = Int64(outcome.step)
    lr?.pointee = outcome.learningRate
    epoch?.pointee = Int64(outcome.epoch)
}
