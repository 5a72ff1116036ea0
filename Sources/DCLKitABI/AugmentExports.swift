import DCLKit

// Augmentations: a pipeline handle (SimCLR / MoCo v2 / any parameters) giving two views of a
// uint8 batch, and the functional operations on uint8 batches. See the Augment section of dclkit.h.

/// The layout of the parameter array of `dcl_augment_create` (mirrored in dclkit.h and Python).
private enum Slot: Int, CaseIterable {
    case size, scaleMin, scaleMax, ratioMin, ratioMax, flip, jitter
    case brightnessMin, brightnessMax, contrastMin, contrastMax, saturationMin, saturationMax, hueMin, hueMax
    case grayscale, blur, sigmaMin, sigmaMax, kernelSize, solarize, solarizeThreshold
    case meanRed, meanGreen, meanBlue, stdRed, stdGreen, stdBlue
}

/// Creates a two-view pipeline from `count` parameters laid out as `DCL_AUG_*` in dclkit.h.
@_cdecl("dcl_augment_create")
public func dcl_augment_create(
    _ parameters: UnsafePointer<Double>?, _ count: Int64, _ pipeline: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(pipeline, name: "pipeline")
        guard count == Int64(Slot.allCases.count) else {
            throw ABIError.invalid("parameters must hold \(Slot.allCases.count) numbers, got count = \(count)")
        }
        let values = try Arguments.doubles(parameters, count: Int(count), name: "parameters")
        let configuration = try augmentConfiguration(values)
        out.pointee = OpaquePointer(Unmanaged.passRetained(AugmentPipeline(configuration)).toOpaque())
    }
}

/// Creates a two-view pipeline for views of `size` from a specification in JSON: a preset name
/// ("simclr", "mocov2") or an object with "pipeline" and any overrides, exactly as a run's
/// `augment` field takes it (`AugmentSpecification` resolves it and names a bad field).
@_cdecl("dcl_augment_create_spec")
public func dcl_augment_create_spec(
    _ spec: UnsafePointer<CChar>?, _ size: Int64, _ pipeline: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    exported {
        let out = try Arguments.out(pipeline, name: "pipeline")
        out.pointee = nil
        let text = try Arguments.string(spec, name: "spec")
        let limit = Int64(AugmentConfiguration.maximumSize)
        guard (1...limit).contains(size) else { throw ABIError.invalid("size must be between 1 and \(limit), got \(size)") }
        let json: JSON
        do { json = try JSON.parse(Array(text.utf8)) } catch { throw ABIError.invalid("spec is not valid JSON: \(error)") }
        let configuration = try AugmentSpecification(json, size: Int(size), defaultPreset: "simclr").configuration
        out.pointee = OpaquePointer(Unmanaged.passRetained(AugmentPipeline(configuration)).toOpaque())
    }
}

/// Writes a pipeline's parameters, laid out as for `dcl_augment_create`.
@_cdecl("dcl_augment_parameters")
public func dcl_augment_parameters(_ pipeline: OpaquePointer?, _ parameters: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    exported {
        let p = try augmentPipeline(pipeline)
        guard count == Int64(Slot.allCases.count) else {
            throw ABIError.invalid("parameters must hold \(Slot.allCases.count) numbers, got count = \(count)")
        }
        let out = try Arguments.out(parameters, name: "parameters")
        for (slot, value) in parameterValues(p.configuration) { out[slot.rawValue] = value }
    }
}

/// Releases a pipeline; NULL is a no-op.
@_cdecl("dcl_augment_free")
public func dcl_augment_free(_ pipeline: OpaquePointer?) {
    guard let pipeline else { return }
    Unmanaged<AugmentPipeline>.fromOpaque(UnsafeRawPointer(pipeline)).release()
}

/// Two normalised float32 views (n, size, size, 3) of each image of a uint8 batch (n, h, w, c).
@_cdecl("dcl_augment_views")
public func dcl_augment_views(
    _ pipeline: OpaquePointer?, _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ indices: UnsafePointer<Int64>?, _ seed: UInt64, _ epoch: UInt64,
    _ view0: UnsafeMutablePointer<Float>?, _ view1: UnsafeMutablePointer<Float>?
) -> Int32 {
    exported {
        let p = try augmentPipeline(pipeline)
        let batch = try ImageBatchShape(n, h, w, c)
        let input = try Arguments.bytes(images, name: "images")
        let count = try Arguments.product(batch.count, p.size, p.size, 3, limit: 1 << 40, name: "views")
        let out0 = try Arguments.output(view0, count: count, name: "view0")
        let out1 = try Arguments.output(view1, count: count, name: "view1")
        try requireScratch(batch, p.size, p.size)
        try withIndices(indices) { rows in
            p.views(of: input, count: batch.count, height: batch.height, width: batch.width, channels: batch.channels,
                    seed: seed, epoch: epoch, indices: rows, into: out0.baseAddress!, out1.baseAddress!)
        }
    }
}

/// Two uint8 views (n, size, size, 3) of each image, before normalisation, for looking at.
@_cdecl("dcl_augment_views_uint8")
public func dcl_augment_views_uint8(
    _ pipeline: OpaquePointer?, _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ indices: UnsafePointer<Int64>?, _ seed: UInt64, _ epoch: UInt64,
    _ view0: UnsafeMutablePointer<UInt8>?, _ view1: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    exported {
        let p = try augmentPipeline(pipeline)
        let batch = try ImageBatchShape(n, h, w, c)
        let input = try Arguments.bytes(images, name: "images")
        let count = try Arguments.product(batch.count, p.size, p.size, 3, limit: 1 << 40, name: "views")
        let out0 = try Arguments.byteOutput(view0, count: count, name: "view0")
        let out1 = try Arguments.byteOutput(view1, count: count, name: "view1")
        try requireScratch(batch, p.size, p.size)
        try withIndices(indices) { rows in
            p.viewsUInt8(of: input, count: batch.count, height: batch.height, width: batch.width,
                         channels: batch.channels, seed: seed, epoch: epoch, indices: rows,
                         into: out0.baseAddress!, out1.baseAddress!)
        }
    }
}

/// Crops (top, left, height, width) out of every image (n, h, w, c), c = 1 or 3, and resizes
/// it to (out_h, out_w); writes uint8 (n, out_h, out_w, 3).
@_cdecl("dcl_augment_resized_crop")
public func dcl_augment_resized_crop(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ c: Int64,
    _ top: Int64, _ left: Int64, _ height: Int64, _ width: Int64, _ outHeight: Int64, _ outWidth: Int64,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    exported {
        let batch = try ImageBatchShape(n, h, w, c)
        let input = try Arguments.bytes(images, name: "images")
        guard top >= 0, left >= 0, height >= 1, width >= 1, top <= h - height, left <= w - width else {
            throw ABIError.invalid("the crop (top \(top), left \(left), height \(height), width \(width)) "
                                   + "must lie inside the \(h)×\(w) image and not be empty")
        }
        let limit = Int64(AugmentConfiguration.maximumSize)
        guard (1...limit).contains(outHeight), (1...limit).contains(outWidth) else {
            throw ABIError.invalid("size must be between 1 and \(limit), got (\(outHeight), \(outWidth))")
        }
        let outputCount = try Arguments.product(batch.count, Int(outHeight), Int(outWidth), 3, limit: 1 << 40, name: "output")
        let out = try Arguments.byteOutput(output, count: outputCount, name: "output")
        try requireScratch(batch, Int(outHeight), Int(outWidth))
        let region = CropRegion(top: Int(top), left: Int(left), height: Int(height), width: Int(width))
        ImageBatch.resizedCrop(input, count: batch.count, height: batch.height, width: batch.width,
                               channels: batch.channels, region: region, outputHeight: Int(outHeight),
                               outputWidth: Int(outWidth), into: out.baseAddress!)
    }
}

/// Mirrors every RGB image (n, h, w, 3) left to right.
@_cdecl("dcl_augment_hflip")
public func dcl_augment_hflip(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    exported { try mapRGB(images, n, h, w, output) { image, _ in Flip.horizontal(image) } }
}

/// torchvision's `adjust_brightness`: factor ≥ 0.
@_cdecl("dcl_augment_adjust_brightness")
public func dcl_augment_adjust_brightness(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ factor: Double,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    mapRGB(images, n, h, w, output, factor: { try jitterFactor(factor, name: "brightness factor") },
           ColorJitter.adjustBrightness)
}

/// torchvision's `adjust_contrast`: factor ≥ 0.
@_cdecl("dcl_augment_adjust_contrast")
public func dcl_augment_adjust_contrast(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ factor: Double,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    mapRGB(images, n, h, w, output, factor: { try jitterFactor(factor, name: "contrast factor") },
           ColorJitter.adjustContrast)
}

/// torchvision's `adjust_saturation`: factor ≥ 0.
@_cdecl("dcl_augment_adjust_saturation")
public func dcl_augment_adjust_saturation(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ factor: Double,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    mapRGB(images, n, h, w, output, factor: { try jitterFactor(factor, name: "saturation factor") },
           ColorJitter.adjustSaturation)
}

/// torchvision's `adjust_hue`: factor in [−0.5, 0.5].
@_cdecl("dcl_augment_adjust_hue")
public func dcl_augment_adjust_hue(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ factor: Double,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    mapRGB(images, n, h, w, output, factor: {
        guard factor >= -0.5, factor <= 0.5 else { throw ABIError.invalid("hue factor must lie in [-0.5, 0.5], got \(factor)") }
        return Float(factor)
    }, ColorJitter.adjustHue)
}

/// torchvision's `rgb_to_grayscale`, kept as three channels.
@_cdecl("dcl_augment_rgb_to_grayscale")
public func dcl_augment_rgb_to_grayscale(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    exported { try mapRGB(images, n, h, w, output) { image, _ in Grayscale.apply(image) } }
}

/// torchvision's `gaussian_blur` with a square kernel: kernel_size odd ≥ 1, sigma > 0.
@_cdecl("dcl_augment_gaussian_blur")
public func dcl_augment_gaussian_blur(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ kernelSize: Int64, _ sigma: Double,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    exported {
        guard kernelSize >= 1, kernelSize % 2 == 1, kernelSize <= 2 * Int64(AugmentConfiguration.maximumSize) + 1 else {
            throw ABIError.invalid("kernel_size must be odd and positive, got \(kernelSize)")
        }
        let s = try Arguments.positive(sigma, name: "sigma")
        let k = Int(kernelSize)
        try mapRGB(images, n, h, w, output) { image, scratch in GaussianBlur.apply(image, size: k, sigma: s, scratch: scratch) }
    }
}

/// torchvision's `solarize`: threshold in [0, 255].
@_cdecl("dcl_augment_solarize")
public func dcl_augment_solarize(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ threshold: Double,
    _ output: UnsafeMutablePointer<UInt8>?
) -> Int32 {
    mapRGB(images, n, h, w, output, factor: {
        guard threshold >= 0, threshold <= 255 else { throw ABIError.invalid("threshold must lie in [0, 255], got \(threshold)") }
        return Float(threshold)
    }, Solarize.apply)
}

// MARK: - Checks

/// A jitter factor in [0, `ColorJitter.maximumFactor`].
private func jitterFactor(_ f: Double, name: String) throws -> Float {
    guard f >= 0, f <= ColorJitter.maximumFactor else {
        throw ABIError.invalid("\(name) must lie in [0, \(ColorJitter.maximumFactor)], got \(f)")
    }
    return Float(f)
}

/// Checks an RGB batch and its output and applies `operation` to every image.
private func mapRGB(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ output: UnsafeMutablePointer<UInt8>?,
    _ operation: (RGBImage, AugmentScratch) -> Void
) throws {
    let batch = try ImageBatchShape(n, h, w, 3)
    let input = try Arguments.bytes(images, name: "images")
    let out = try Arguments.byteOutput(output, count: batch.bytes, name: "output")
    try requireScratch(batch, batch.height, batch.width)
    ImageBatch.map(input, count: batch.count, height: batch.height, width: batch.width, into: out.baseAddress!, operation)
}

/// One exported call of a per-image operation with one number: checks the number with `factor`
/// (before the batch), then the RGB batch and its output, and applies `operation(image, number)`.
private func mapRGB(
    _ images: UnsafePointer<UInt8>?, _ n: Int64, _ h: Int64, _ w: Int64, _ output: UnsafeMutablePointer<UInt8>?,
    factor: () throws -> Float, _ operation: (RGBImage, Float) -> Void
) -> Int32 {
    exported {
        let f = try factor()
        try mapRGB(images, n, h, w, output) { image, _ in operation(image, f) }
    }
}

/// Throws `DCL_MEMORY_ERROR` unless the scratch for `batch`'s images made into (outputHeight,
/// outputWidth) can be allocated.
private func requireScratch(_ batch: ImageBatchShape, _ outputHeight: Int, _ outputWidth: Int) throws {
    try Tensor.requireAllocatable(floats: AugmentScratch.bufferElements(
        height: batch.height, width: batch.width, outputHeight: outputHeight, outputWidth: outputWidth,
        kernel: 2 * max(batch.height, batch.width, outputHeight, outputWidth) + 1))
}

/// A configuration as (slot, value) pairs of the parameter array; kernel size 0 means automatic.
private func parameterValues(_ c: AugmentConfiguration) -> [(Slot, Double)] {
    let m = c.normalization.mean, s = c.normalization.std
    return [
        (.size, Double(c.size)), (.scaleMin, c.scale.lowerBound), (.scaleMax, c.scale.upperBound),
        (.ratioMin, c.ratio.lowerBound), (.ratioMax, c.ratio.upperBound), (.flip, c.flip), (.jitter, c.jitter),
        (.brightnessMin, c.brightness.lowerBound), (.brightnessMax, c.brightness.upperBound),
        (.contrastMin, c.contrast.lowerBound), (.contrastMax, c.contrast.upperBound),
        (.saturationMin, c.saturation.lowerBound), (.saturationMax, c.saturation.upperBound),
        (.hueMin, c.hue.lowerBound), (.hueMax, c.hue.upperBound), (.grayscale, c.grayscale), (.blur, c.blur),
        (.sigmaMin, c.sigma.lowerBound), (.sigmaMax, c.sigma.upperBound), (.kernelSize, Double(c.kernelSize ?? 0)),
        (.solarize, c.solarize), (.solarizeThreshold, c.solarizeThreshold),
        (.meanRed, m[0]), (.meanGreen, m[1]), (.meanBlue, m[2]), (.stdRed, s[0]), (.stdGreen, s[1]), (.stdBlue, s[2]),
    ]
}

/// The configuration in a parameter array, every value checked before any range is formed.
private func augmentConfiguration(_ v: UnsafeBufferPointer<Double>) throws -> AugmentConfiguration {
    func value(_ slot: Slot) -> Double { v[slot.rawValue] }
    func range(_ low: Slot, _ high: Slot, _ name: String) throws -> ClosedRange<Double> {
        guard value(low) <= value(high) else {
            throw ABIError.invalid("\(name) must be an increasing range (min ≤ max), got (\(value(low)), \(value(high)))")
        }
        return value(low)...value(high)
    }
    func integer(_ slot: Slot, _ name: String) throws -> Int {
        let x = value(slot)
        guard x == x.rounded(), abs(x) <= 1e9 else { throw ABIError.invalid("\(name) must be a whole number, got \(x)") }
        return Int(x)
    }
    let kernel = try integer(.kernelSize, "kernel_size")
    let configuration = AugmentConfiguration(
        size: try integer(.size, "size"),
        scale: try range(.scaleMin, .scaleMax, "scale"),
        ratio: try range(.ratioMin, .ratioMax, "ratio"),
        flip: value(.flip), jitter: value(.jitter),
        brightness: try range(.brightnessMin, .brightnessMax, "brightness"),
        contrast: try range(.contrastMin, .contrastMax, "contrast"),
        saturation: try range(.saturationMin, .saturationMax, "saturation"),
        hue: try range(.hueMin, .hueMax, "hue"),
        grayscale: value(.grayscale), blur: value(.blur),
        sigma: try range(.sigmaMin, .sigmaMax, "sigma"),
        kernelSize: kernel == 0 ? nil : kernel,
        solarize: value(.solarize), solarizeThreshold: value(.solarizeThreshold),
        normalization: Normalization(mean: [value(.meanRed), value(.meanGreen), value(.meanBlue)],
                                     std: [value(.stdRed), value(.stdGreen), value(.stdBlue)]))
    if let problem = configuration.problem { throw ABIError.invalid(problem) }
    return configuration
}
