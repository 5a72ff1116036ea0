/// Two augmented views of every image of a uint8 batch, written straight into caller-owned
/// output, in parallel over samples.
///
/// Input: `count` images, interleaved uint8 (count, height, width, channels), channels 1
/// (replicated to RGB) or 3. Output: two views per image, (count, size, size, 3), float32
/// normalised (`views`) or uint8 levels for looking at (`viewsUInt8`).
///
/// View v of sample i is a pure function of (seed, epoch, index of i, v): its random choices
/// come from `CounterRNG(seed:epoch:index:view:)` (`ViewParameters.draw`), so the output is the
/// same whatever the thread count, and the two views of a sample differ. The index of row i is
/// `indices[i]` when given (dataset indices, so a sample's views do not depend on its batch),
/// otherwise i.
///
/// ```swift
/// let pipeline = AugmentPipeline(.simclr(size: 32, normalization: .cifar10))
/// pipeline.views(of: images, count: n, height: 32, width: 32, channels: 3,
///                seed: 0, epoch: epoch, into: view0, view1)   // Tensors, resized to (n, 32, 32, 3)
/// ```
/// Scratch buffers are kept between calls; one call at a time per pipeline.
public final class AugmentPipeline {
    /// The parameters.
    public let configuration: AugmentConfiguration
    private let pool = ScratchPool()

    /// A pipeline with the given parameters.
    /// - Precondition: `configuration.problem == nil` (the ABI checks its callers).
    public init(_ configuration: AugmentConfiguration) {
        if let problem = configuration.problem { preconditionFailure("AugmentPipeline: \(problem)") }
        self.configuration = configuration
    }

    /// Output side.
    public var size: Int { configuration.size }

    /// Writes both views of every image as normalised float32 into `view0` and `view1`,
    /// each resized to (count, size, size, 3).
    public func views(
        of images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
        seed: UInt64, epoch: UInt64, indices: UnsafePointer<Int>? = nil,
        into view0: Tensor, _ view1: Tensor
    ) {
        view0.resize([count, size, size, 3])
        view1.resize([count, size, size, 3])
        views(of: images, count: count, height: height, width: width, channels: channels,
              seed: seed, epoch: epoch, indices: indices, into: view0.data, view1.data)
    }

    /// Writes both views of every image as normalised float32, (count, size, size, 3) each,
    /// into `view0` and `view1`.
    public func views(
        of images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
        seed: UInt64, epoch: UInt64, indices: UnsafePointer<Int>? = nil,
        into view0: UnsafeMutablePointer<Float>, _ view1: UnsafeMutablePointer<Float>
    ) {
        let normalization = configuration.normalization
        let stride = size * size * 3
        run(images, count: count, height: height, width: width, channels: channels,
            seed: seed, epoch: epoch, indices: indices) { image, i, view in
            normalization.write(image, into: (view == 0 ? view0 : view1) + i * stride)
        }
    }

    /// Writes both views of every image as uint8 levels, (count, size, size, 3) each, before
    /// normalisation: what the network sees, for looking at.
    public func viewsUInt8(
        of images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
        seed: UInt64, epoch: UInt64, indices: UnsafePointer<Int>? = nil,
        into view0: UnsafeMutablePointer<UInt8>, _ view1: UnsafeMutablePointer<UInt8>
    ) {
        let stride = size * size * 3
        run(images, count: count, height: height, width: width, channels: channels,
            seed: seed, epoch: epoch, indices: indices) { image, i, view in
            image.store(into: (view == 0 ? view0 : view1) + i * stride)
        }
    }

    /// The random choices of view `view` of the sample with dataset index `index`.
    public func parameters(height: Int, width: Int, seed: UInt64, epoch: UInt64, index: Int, view: Int) -> ViewParameters {
        var rng = CounterRNG(seed: seed, epoch: epoch, index: UInt64(bitPattern: Int64(index)), view: UInt64(view))
        return ViewParameters.draw(configuration, height: height, width: width, rng: &rng)
    }

    /// Augments one view into `scratch`'s image and returns it.
    public func augment(_ source: SourceImage, _ choices: ViewParameters, scratch: AugmentScratch) -> RGBImage {
        let image = scratch.image(height: size, width: size)
        ResizedCrop.apply(source, region: choices.crop, flipped: choices.flip, into: image, scratch: scratch)
        if let jitter = choices.jitter { ColorJitter.apply(image, jitter) }
        if choices.grayscale { Grayscale.apply(image) }
        if let sigma = choices.blurSigma {
            GaussianBlur.apply(image, size: configuration.blurKernelSize, sigma: sigma, scratch: scratch)
        }
        if choices.solarize { Solarize.apply(image, threshold: Float(configuration.solarizeThreshold)) }
        return image
    }

    /// Augments both views of every sample and hands each result to `write(image, i, view)`.
    private func run(
        _ images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
        seed: UInt64, epoch: UInt64, indices: UnsafePointer<Int>?,
        write: (RGBImage, Int, Int) -> Void
    ) {
        let imageStride = height * width * channels
        pool.forEachSample(count) { i, scratch in
            let source = SourceImage(pixels: images + i * imageStride, height: height, width: width, channels: channels)
            let index = indices?[i] ?? i
            for view in 0..<2 {
                let choices = parameters(height: height, width: width, seed: seed, epoch: epoch, index: index, view: view)
                write(augment(source, choices, scratch: scratch), i, view)
            }
        }
    }
}
