import DCLKit

/// The object behind a `dcl_encoder *` handle: the encoder, the tensors that carry arrays across
/// the boundary (reused between calls), and the batch size of the last forward.
final class EncoderHandle {
    let encoder: Encoder
    let input = Tensor(shape: [0])
    let projectionGradient = Tensor(shape: [0])
    let featureGradient = Tensor(shape: [0])
    var lastBatch: Int?

    init(_ encoder: Encoder) { self.encoder = encoder }

    /// The handle behind `pointer`; throws for a null pointer.
    static func from(_ pointer: OpaquePointer?) throws -> EncoderHandle {
        guard let pointer else { throw ABIError.invalid("encoder is a null pointer") }
        return Unmanaged<EncoderHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    /// Stores a new handle for `encoder` in `out`.
    static func publish(_ encoder: Encoder, to out: UnsafeMutablePointer<OpaquePointer?>) {
        out.pointee = OpaquePointer(Unmanaged.passRetained(EncoderHandle(encoder)).toOpaque())
    }

    /// The state entry called `name`.
    func entry(_ name: String) throws -> StateEntry {
        guard let e = encoder.stateEntries.first(where: { $0.name == name }) else {
            throw ABIError.invalid("the encoder has no state entry \"\(name)\"")
        }
        return e
    }
}

/// Creates an encoder; see dclkit.h.
@_cdecl("dcl_encoder_create")
public func dcl_encoder_create(
    _ arch: UnsafePointer<CChar>?, _ stem: UnsafePointer<CChar>?, _ width: Double, _ head: UnsafePointer<CChar>?,
    _ headHidden: Int64, _ headOut: Int64, _ zeroInitResidual: Int32, _ seed: UInt64,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let arch = try Arguments.string(arch, name: "arch")
        let stem = try Arguments.string(stem, name: "stem")
        let head = try head.map { try Arguments.string($0, name: "head") }
        guard headHidden >= 0, headHidden <= Int64(EncoderConfiguration.maximumHeadSize) else {
            throw ABIError.invalid("head_hidden must be between 0 (the feature dimension) and \(EncoderConfiguration.maximumHeadSize), got \(headHidden)")
        }
        guard headOut >= 1, headOut <= Int64(EncoderConfiguration.maximumHeadSize) else {
            throw ABIError.invalid("head_out must be between 1 and \(EncoderConfiguration.maximumHeadSize), got \(headOut)")
        }
        guard zeroInitResidual == 0 || zeroInitResidual == 1 else {
            throw ABIError.invalid("zero_init_residual must be 0 or 1, got \(zeroInitResidual)")
        }
        let configuration = try EncoderConfiguration(architecture: arch, stem: stem, width: width, head: head,
                                                     headHidden: headHidden == 0 ? nil : Int(headHidden), headOutput: Int(headOut))
        try Encoder.requireMemory(for: configuration)
        EncoderHandle.publish(Encoder(configuration: configuration, seed: seed, zeroInitResidual: zeroInitResidual == 1), to: out)
    }
}

/// Releases an encoder (null is a no-op).
@_cdecl("dcl_encoder_free")
public func dcl_encoder_free(_ encoder: OpaquePointer?) {
    guard let encoder else { return }
    Unmanaged<EncoderHandle>.fromOpaque(UnsafeRawPointer(encoder)).release()
}

/// Writes a JSON description (configuration and state entries) into `buffer`; see dclkit.h.
@_cdecl("dcl_encoder_describe")
public func dcl_encoder_describe(
    _ encoder: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let handle = try EncoderHandle.from(encoder)
        let needed = try Arguments.out(needed, name: "needed")
        guard capacity >= 0 else { throw ABIError.invalid("capacity must be at least 0, got \(capacity)") }
        let c = handle.encoder.configuration
        let entries: [JSON] = handle.encoder.stateEntries.map { e in
            .object([("name", .string(e.name)), ("shape", .array(e.exportedShape.map { .number(Double($0)) })),
                     ("trainable", .bool(e.parameter != nil))])
        }
        let json = JSON.object([
            ("arch", .string(c.architecture.rawValue)), ("stem", .string(c.stem.rawValue)), ("width", .number(c.width)),
            ("head", c.head.map { .string($0.rawValue) } ?? .null), ("head_hidden", .number(Double(c.headHidden))),
            ("head_out", .number(Double(c.headOutput))), ("feature_dim", .number(Double(c.featureDimension))),
            ("projection_dim", c.projectionDimension.map { .number(Double($0)) } ?? .null),
            ("min_side", .number(Double(c.totalStride))), ("entries", .array(entries)),
        ])
        writeText(json.text, into: buffer, capacity: capacity, needed: needed)
    }
}

/// Forward pass of a batch; see dclkit.h.
@_cdecl("dcl_encoder_forward")
public func dcl_encoder_forward(
    _ encoder: OpaquePointer?, _ x: UnsafePointer<Float>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ training: Int32, _ features: UnsafeMutablePointer<Float>?, _ projection: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let handle = try EncoderHandle.from(encoder)
        let enc = handle.encoder
        guard training == 0 || training == 1 else { throw ABIError.invalid("training must be 0 or 1, got \(training)") }
        let n = try Arguments.atLeast(n, 1, name: "N (images in x)")
        let h = try Arguments.atLeast(h, 1, name: "H (height of x)")
        let w = try Arguments.atLeast(w, 1, name: "W (width of x)")
        let c = try Arguments.atLeast(c, 1, name: "C (channels of x)")
        let count = try Arguments.product(n, h, w, c, name: "x")
        let shape = [n, h, w, c]
        try enc.validate(inputShape: shape, training: training == 1)
        let xs = try Arguments.floats(x, count: count, name: "x")
        try Arguments.requireFinite(xs, name: "x")
        let featuresOut = try Arguments.output(features, count: n * enc.configuration.featureDimension, name: "features")
        let projectionOut = try enc.configuration.projectionDimension.map {
            try Arguments.output(projection, count: n * $0, name: "projection")
        }
        try handle.input.resize(checked: shape)
        handle.input.data.update(from: xs.baseAddress!, count: count)
        let (hOut, zOut) = enc.forward(handle.input, training: training == 1)
        featuresOut.baseAddress!.update(from: hOut.data, count: hOut.count)
        if let projectionOut, let zOut { projectionOut.baseAddress!.update(from: zOut.data, count: zOut.count) }
        handle.lastBatch = n
    }
}

/// Backward pass of the last forward; see dclkit.h.
@_cdecl("dcl_encoder_backward")
public func dcl_encoder_backward(
    _ encoder: OpaquePointer?, _ gradZ: UnsafePointer<Float>?, _ gradH: UnsafePointer<Float>?, _ n: Int64,
    _ gradX: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let handle = try EncoderHandle.from(encoder)
        let enc = handle.encoder
        guard let batch = handle.lastBatch else { throw ABIError.state("backward needs a forward first") }
        guard n == Int64(batch) else { throw ABIError.invalid("N = \(n) does not match the last forward's batch of \(batch)") }
        guard gradZ != nil || gradH != nil else { throw ABIError.invalid("grad_z and grad_h are both null: give at least one") }
        var dz: Tensor?
        if let gradZ {
            guard let d = enc.configuration.projectionDimension else {
                throw ABIError.invalid("grad_z is given but the encoder has no projection head")
            }
            let values = try Arguments.floats(gradZ, count: batch * d, name: "grad_z")
            try Arguments.requireFinite(values, name: "grad_z")
            try handle.projectionGradient.resize(checked: [batch, d])
            handle.projectionGradient.data.update(from: values.baseAddress!, count: values.count)
            dz = handle.projectionGradient
        }
        var dh: Tensor?
        if let gradH {
            let f = enc.configuration.featureDimension
            let values = try Arguments.floats(gradH, count: batch * f, name: "grad_h")
            try Arguments.requireFinite(values, name: "grad_h")
            try handle.featureGradient.resize(checked: [batch, f])
            handle.featureGradient.data.update(from: values.baseAddress!, count: values.count)
            dh = handle.featureGradient
        }
        guard let gradX else {
            enc.accumulateGradients(projectionGradient: dz, featureGradient: dh)
            return
        }
        let dx = enc.backward(projectionGradient: dz, featureGradient: dh)
        gradX.update(from: dx.data, count: dx.count)
    }
}

/// Sets every parameter gradient to zero.
@_cdecl("dcl_encoder_zero_grad")
public func dcl_encoder_zero_grad(_ encoder: OpaquePointer?) -> Int32 {
    exported { try EncoderHandle.from(encoder).encoder.zeroGradients() }
}

/// Copies one state entry (which = 0) or one parameter's gradient (which = 1), in PyTorch's
/// layout, into `out`; see dclkit.h.
@_cdecl("dcl_encoder_get")
public func dcl_encoder_get(
    _ encoder: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ which: Int32, _ out: UnsafeMutablePointer<Float>?, _ count: Int64
) -> Int32 {
    exported {
        let handle = try EncoderHandle.from(encoder)
        let entry = try handle.entry(try Arguments.string(name, name: "name"))
        guard which == 0 || which == 1 else { throw ABIError.invalid("which must be 0 (value) or 1 (gradient), got \(which)") }
        guard which == 0 || entry.parameter != nil else { throw ABIError.invalid("\(entry.name) is a buffer: it has no gradient") }
        let elements = entry.tensor.count
        guard count == Int64(elements) else {
            throw ABIError.invalid("\(entry.name) has \(elements) elements (shape \(entry.exportedShape)), count is \(count)")
        }
        // Written straight into the caller's array: nothing is allocated, so no size can trap here.
        let out = try Arguments.output(out, count: elements, name: "out")
        _ = entry.export(gradient: which == 1, into: out.baseAddress!)
    }
}

/// Loads a whole state dict given as parallel arrays of names, values and shapes; see dclkit.h.
@_cdecl("dcl_encoder_load_state")
public func dcl_encoder_load_state(
    _ encoder: OpaquePointer?, _ count: Int64, _ names: UnsafePointer<UnsafePointer<CChar>?>?,
    _ values: UnsafePointer<UnsafePointer<Float>?>?, _ ranks: UnsafePointer<Int64>?, _ dims: UnsafePointer<Int64>?
) -> Int32 {
    exported {
        let handle = try EncoderHandle.from(encoder)
        guard count >= 0, count <= 1 << 20 else { throw ABIError.invalid("count must be between 0 and 2^20, got \(count)") }
        var state: [String: Tensor] = [:]
        if count > 0 {
            guard let names, let values, let ranks else {
                throw ABIError.invalid("names, values and ranks must not be null when count > 0")
            }
            state = try stateDict(count: Int(count), names: names, values: values, ranks: ranks, dims: dims)
        }
        try handle.encoder.loadStateDict(state)
    }
}

/// The state dict described by `dcl_encoder_load_state`'s arrays, each entry checked and copied.
private func stateDict(
    count n: Int, names: UnsafePointer<UnsafePointer<CChar>?>, values: UnsafePointer<UnsafePointer<Float>?>,
    ranks: UnsafePointer<Int64>, dims: UnsafePointer<Int64>?
) throws -> [String: Tensor] {
    var state: [String: Tensor] = [:]
    var dimOffset = 0
    for i in 0..<n {
        let name = try Arguments.string(names[i], name: "names[\(i)]")
        let rank = ranks[i]
        guard rank >= 0, rank <= 8 else { throw ABIError.invalid("ranks[\(i)] (\(name)) must be between 0 and 8, got \(rank)") }
        var shape: [Int] = []
        if rank > 0 {
            guard let dims else { throw ABIError.invalid("dims is a null pointer") }
            for d in 0..<Int(rank) {
                let size = dims[dimOffset + d]
                guard size >= 0, size <= 1 << 31 else { throw ABIError.invalid("\(name) has a bad dimension \(size)") }
                shape.append(Int(size))
            }
            dimOffset += Int(rank)
        }
        let elements = try Arguments.product(shape, name: name)
        let source = try Arguments.floats(values[i], count: elements, name: "values[\(i)] (\(name))")
        guard state[name] == nil else { throw ABIError.invalid("\(name) appears twice in the state dict") }
        let tensor = try Tensor.zeros(shape)
        if elements > 0 { tensor.data.update(from: source.baseAddress!, count: elements) }
        state[name] = tensor
    }
    return state
}

/// Saves the encoder (state dict + configuration) to a safetensors file, atomically.
@_cdecl("dcl_encoder_save")
public func dcl_encoder_save(_ encoder: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let handle = try EncoderHandle.from(encoder)
        let path = try Arguments.path(path, name: "path")
        try handle.encoder.save(to: path)
    }
}

/// Rebuilds an encoder from a file written by dcl_encoder_save; see dclkit.h.
@_cdecl("dcl_encoder_load")
public func dcl_encoder_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    exported {
        let out = try Arguments.out(out, name: "out")
        out.pointee = nil
        let path = try Arguments.path(path, name: "path")
        EncoderHandle.publish(try Encoder.load(from: path), to: out)
    }
}
