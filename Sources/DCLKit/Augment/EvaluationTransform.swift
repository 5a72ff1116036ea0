/// The deterministic transform used for evaluation and feature extraction: the whole image
/// resized to size × size (antialiased bilinear, as the crop of the training pipeline), then
/// normalised. No randomness.
///
/// Input: `count` uint8 images (count, height, width, channels), channels 1 or 3.
/// Output: float32 (count, size, size, 3), written in parallel over samples.
public final class EvaluationTransform {
    /// Output side.
    public let size: Int
    /// Statistics of the normalisation.
    public let normalization: Normalization
    private let pool = ScratchPool()

    /// A transform to size × size with the given normalisation (size ≥ 1, checked by callers).
    public init(size: Int, normalization: Normalization) {
        precondition(size >= 1, "EvaluationTransform: size \(size)")
        self.size = size
        self.normalization = normalization
    }

    /// Writes the transformed images into `output`, (count, size, size, 3).
    public func apply(_ images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
                      into output: UnsafeMutablePointer<Float>) {
        let imageStride = height * width * channels
        let whole = CropRegion(top: 0, left: 0, height: height, width: width)
        pool.forEachSample(count) { i, scratch in
            let source = SourceImage(pixels: images + i * imageStride, height: height, width: width, channels: channels)
            let image = scratch.image(height: size, width: size)
            ResizedCrop.apply(source, region: whole, into: image, scratch: scratch)
            normalization.write(image, into: output + i * size * size * 3)
        }
    }
}
