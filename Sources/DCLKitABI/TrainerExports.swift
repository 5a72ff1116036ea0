import DCLKit

/// The object behind a `dcl_trainer *` handle.
final class TrainerHandle {
    let trainer: ContrastiveTrainer
    init(_ trainer: ContrastiveTrainer) { self.trainer = trainer }

    /// The handle behind `pointer`; throws for a null pointer.
    static func from(_ pointer: OpaquePointer?) throws -> TrainerHandle {
        guard let pointer else { throw ABIError.invalid("trainer is a null pointer") }
        return Unmanaged<TrainerHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }
}

/// Creates a trainer from a `TrainConfig` JSON, an encoder (with a head) and an augmentation
/// pipeline; both are shared, not copied. See dclkit.h.
@_cdecl("dcl_trainer_create")
public func dcl_trainer_create(
    _ config: UnsafePointer<CChar>?, _ encoder: OpaquePointer?, _ pipeline: OpaquePointer?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let configuration = try TrainerConfigurationParsing.parse(try Arguments.string(config, name: "config"))
        let model = try EncoderHandle.from(encoder).encoder
        guard model.head != nil else { throw ABIError.invalid("the encoder has no projection head; training needs one") }
        let augment = try augmentPipeline(pipeline)
        try translatingErrors {
            try model.validate(inputShape: [configuration.batchSize, augment.size, augment.size, 3], training: true)
        }
        if case .momentum = configuration.method, configuration.symmetric, 2 * configuration.batchSize > configuration.queueSize {
            throw ABIError.invalid("a symmetric MoCo step enqueues 2 x batch_size keys; queue_size must be at least that")
        }
        let trainer = try translatingErrors {
            try ContrastiveTrainer(configuration: configuration, encoder: model, pipeline: augment)
        }
        out.pointee = OpaquePointer(Unmanaged.passRetained(TrainerHandle(trainer)).toOpaque())
    }
}

/// Releases a trainer (null is a no-op); the encoder and pipeline live on while others hold them.
@_cdecl("dcl_trainer_free")
public func dcl_trainer_free(_ trainer: OpaquePointer?) {
    guard let trainer else { return }
    Unmanaged<TrainerHandle>.fromOpaque(UnsafeRawPointer(trainer)).release()
}

/// Fixes the schedule for epochs of `steps_per_epoch` steps.
@_cdecl("dcl_trainer_set_schedule")
public func dcl_trainer_set_schedule(_ trainer: OpaquePointer?, _ stepsPerEpoch: Int64) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
        let steps = try Arguments.atLeast(stepsPerEpoch, 1, name: "steps_per_epoch")
        guard steps <= 1 << 30 else { throw ABIError.invalid("steps_per_epoch \(steps) is too large") }
        t.setSchedule(stepsPerEpoch: steps)
    }
}

/// One training step on a uint8 batch (n, h, w, c) with dataset indices (n); writes the loss.
@_cdecl("dcl_trainer_step_images")
public func dcl_trainer_step_images(
    _ trainer: OpaquePointer?, _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ indices: UnsafePointer<Int64>?, _ epoch: Int64, _ loss: UnsafeMutablePointer<Double>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
        let batch = try ImageBatchShape(n, h, w, c)
        try checkStepSize(t, batch.count)
        let pixels = try Arguments.bytes(images, name: "images")
        guard let indices else { throw ABIError.invalid("indices is a null pointer") }
        let epoch = try Arguments.atLeast(epoch, 0, name: "epoch")
        let loss = try Arguments.out(loss, name: "loss")
        try withIndices(indices) { rows in
            guard let rows else { return }
            loss.pointee = t.step(images: pixels, count: batch.count, height: batch.height, width: batch.width,
                                  channels: batch.channels, indices: rows, epoch: epoch)
        }
    }
}

/// One training step on float views v0, v1 (n, size, size, 3) each; writes the loss.
@_cdecl("dcl_trainer_step_views")
public func dcl_trainer_step_views(
    _ trainer: OpaquePointer?, _ view0: UnsafePointer<Float>?, _ view1: UnsafePointer<Float>?,
    _ n: Int64, _ size: Int64, _ epoch: Int64, _ loss: UnsafeMutablePointer<Double>?
) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
        let count = try Arguments.atLeast(n, 2, name: "n")
        let side = try Arguments.atLeast(size, 1, name: "size")
        guard count <= 1 << 20, side <= 1 << 14 else { throw ABIError.invalid("views of \(count) x \(side)² are too large") }
        try checkStepSize(t, count)
        try translatingErrors { try t.encoder.validate(inputShape: [2 * count, side, side, 3], training: true) }
        let values = count * side * side * 3
        let a = try Arguments.floats(view0, count: values, name: "v0")
        let b = try Arguments.floats(view1, count: values, name: "v1")
        try Arguments.requireFinite(a, name: "v0")
        try Arguments.requireFinite(b, name: "v1")
        let epoch = try Arguments.atLeast(epoch, 0, name: "epoch")
        let loss = try Arguments.out(loss, name: "loss")
        loss.pointee = t.step(view0: a.baseAddress!, view1: b.baseAddress!, count: count, size: side, epoch: epoch)
    }
}

/// The number of steps taken and the learning rate of the next step.
@_cdecl("dcl_trainer_progress")
public func dcl_trainer_progress(_ trainer: OpaquePointer?, _ step: UnsafeMutablePointer<Int64>?,
                                 _ learningRate: UnsafeMutablePointer<Double>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
        try Arguments.out(step, name: "step").pointee = Int64(t.stepCount)
        try Arguments.out(learningRate, name: "lr").pointee = t.learningRate
    }
}

/// Seconds spent so far in augmentation, forward (with the loss), backward and the optimiser
/// (with MoCo's momentum update and enqueue), written to `seconds[0..3]`.
@_cdecl("dcl_trainer_timings")
public func dcl_trainer_timings(_ trainer: OpaquePointer?, _ seconds: UnsafeMutablePointer<Double>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
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
        let t = try TrainerHandle.from(trainer).trainer
        let batch = try ImageBatchShape(n, h, w, c)
        let pixels = try Arguments.bytes(images, name: "images")
        let out = try Arguments.output(features, count: batch.count * t.encoder.configuration.featureDimension, name: "features")
        t.embed(images: pixels, count: batch.count, height: batch.height, width: batch.width,
                channels: batch.channels, into: out.baseAddress!)
    }
}

/// Saves model, optimiser and method state with `metadata` (a JSON object of strings) and the
/// step count, atomically, to `path`.
@_cdecl("dcl_trainer_save")
public func dcl_trainer_save(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ metadata: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
        let path = try Arguments.path(path, name: "path")
        var fields = try stringObject(try Arguments.string(metadata, name: "metadata"), name: "metadata")
        fields["step"] = String(t.stepCount)
        try translatingErrors { try Safetensors.write(t.stateTensors(), metadata: fields, to: path) }
    }
}

/// Restores model, optimiser, method state and step count from a file written by
/// `dcl_trainer_save` for a trainer of the same configuration.
@_cdecl("dcl_trainer_load")
public func dcl_trainer_load(_ trainer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let t = try TrainerHandle.from(trainer).trainer
        let path = try Arguments.path(path, name: "path")
        let (tensors, metadata) = try translatingErrors { try Safetensors.read(from: path) }
        guard let stepText = metadata["step"], let step = Int(stepText), step >= 0 else {
            throw ABIError.format("\(path) has no step count; it is not a dclkit trainer checkpoint")
        }
        try translatingErrors { try t.loadState(tensors, stepCount: step) }
    }
}

private func checkStepSize(_ t: ContrastiveTrainer, _ count: Int) throws {
    guard count >= 2 else { throw ABIError.invalid("a training step needs at least 2 images, got \(count)") }
    if case .momentum = t.configuration.method {
        let keys = t.configuration.symmetric ? 2 * count : count
        guard keys <= t.configuration.queueSize else {
            throw ABIError.invalid("a step of \(count) images enqueues \(keys) keys, more than queue_size (\(t.configuration.queueSize))")
        }
    }
}

/// A JSON object whose values are all strings.
private func stringObject(_ text: String, name: String) throws -> [String: String] {
    guard case .object(let members)? = try? JSON.parse(Array(text.utf8)) else {
        throw ABIError.invalid("\(name) must be a JSON object")
    }
    var out: [String: String] = [:]
    for (key, value) in members {
        guard case .string(let s) = value else { throw ABIError.invalid("\(name).\(key) must be a string") }
        out[key] = s
    }
    return out
}
