/// The functional forms of the operations on whole uint8 batches: the same deterministic
/// parameters for every image, images in parallel. Each image is interleaved uint8
/// (height, width, 3); results are uint8 of the same layout.
public enum ImageBatch {
    /// Applies `operation` to each of `count` (height, width, 3) images of `images`, writing
    /// the results into `output` (count, height, width, 3).
    public static func map(
        _ images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int,
        into output: UnsafeMutablePointer<UInt8>, _ operation: (RGBImage, AugmentScratch) -> Void
    ) {
        let stride = height * width * 3
        ScratchPool().forEachSample(count) { i, scratch in
            let image = scratch.image(height: height, width: width)
            image.load(from: images + i * stride)
            operation(image, scratch)
            image.store(into: output + i * stride)
        }
    }

    /// Crops `region` out of each of `count` (height, width, channels) images, channels 1 or 3,
    /// and resizes it to (outputHeight, outputWidth), writing (count, outputHeight, outputWidth, 3)
    /// into `output`.
    public static func resizedCrop(
        _ images: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, channels: Int,
        region: CropRegion, outputHeight: Int, outputWidth: Int, into output: UnsafeMutablePointer<UInt8>
    ) {
        let stride = height * width * channels
        let outputStride = outputHeight * outputWidth * 3
        ScratchPool().forEachSample(count) { i, scratch in
            let source = SourceImage(pixels: images + i * stride, height: height, width: width, channels: channels)
            let image = scratch.image(height: outputHeight, width: outputWidth)
            ResizedCrop.apply(source, region: region, into: image, scratch: scratch)
            image.store(into: output + i * outputStride)
        }
    }
}
