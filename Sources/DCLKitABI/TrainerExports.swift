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
        let trainer = try translatingRunErrors { try ContrastiveTrainer(configuration: try RunConfiguration(json: text)) }
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
        let trainer = try translatingRunErrors { try ContrastiveTrainer.resume(from: path) }
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

/// The run's next batch of a uint8 dataset (n, h, w, c): one step and the progress advanced.
@_cdecl("dcl_trainer_step")
public func dcl_trainer_step(
    _ trainer: OpaquePointer?, _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ loss: UnsafeMutablePointer<Double>?, _ updated: UnsafeMutablePointer<Int32>?, _ step: UnsafeMutablePointer<Int64>?,
    _ lr: UnsafeMutablePointer<Double>?, _ epoch: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let batch = try ImageBatchShape(n, h, w, c)
        let pixels = try Arguments.bytes(images, name: "images")
        let outcome = try translatingRunErrors {
            try t.step(dataset: pixels, count: batch.count, height: batch.height, width: batch.width, channels: batch.channels)
        }
        write(outcome, loss, updated, step, lr, epoch)
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
        try translatingRunErrors {
            try t.method.requireStep(count: count)
            try t.encoder.validate(inputShape: [2 * count, side, side, 3], training: true)
            try t.requireMemory(forStepOf: count, height: side, width: side, channels: 3)
        }
        let values = try Arguments.product(count, side * side * 3, name: "v0")
        let a = try Arguments.floats(view0, count: values, name: "v0")
        let b = try Arguments.floats(view1, count: values, name: "v1")
        try Arguments.requireFinite(a, name: "v0")
        try Arguments.requireFinite(b, name: "v1")
        let outcome = try translatingRunErrors {
            try t.step(view0: a.baseAddress!, view1: b.baseAddress!, count: count, size: side, epoch: t.progress.epoch)
        }
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

/// Adds a named measurement (such as "knn_top1") to the last finished epoch's record.
@_cdecl("dcl_trainer_annotate")
public func dcl_trainer_annotate(_ trainer: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: Double) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let key = try Arguments.string(name, name: "name")
        try translatingRunErrors { try t.annotateLastEpoch(key, value) }
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
        try translatingErrors {
            try t.embed(images: pixels, count: batch.count, height: batch.height, width: batch.width,
                        channels: batch.channels, into: out.baseAddress!)
        }
    }
}

/// Writes the whole checkpoint (tensors, configuration, step, progress, history) atomically to `path`.
@_cdecl("dcl_trainer_save")
public func dcl_trainer_save(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer)
        let path = try Arguments.path(path, name: "path")
        try translatingRunErrors { try t.save(to: path) }
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
