/// Working memory for augmenting one image at a time: one per parallel chunk, reused across
/// samples and calls so the per-sample path allocates nothing once the buffers have grown.
public final class AugmentScratch {
    /// The pixels of the image being augmented (three planes).
    public let pixels = Tensor(shape: [0])
    /// One row of a crop as floats, the input of the resize's first pass.
    public let sourceRow = Tensor(shape: [0])
    /// Resized rows of a crop, between the two passes of the resize.
    public let rows = Tensor(shape: [0])
    /// Interpolation weights along x.
    public let columnWeights = ResizeWeights()
    /// Interpolation weights along y.
    public let rowWeights = ResizeWeights()
    /// The image blurred along x, between the two passes of the blur.
    public let blurred = Tensor(shape: [0])
    /// One reflect-padded row of the blur.
    public let paddedRow = Tensor(shape: [0])
    /// The blur kernel.
    public let kernel = Tensor(shape: [0])
    private var pointers = UnsafeMutablePointer<UnsafeMutablePointer<Float>>.allocate(capacity: 1)
    private var pointerCapacity = 1

    /// Empty buffers; they grow on first use.
    public init() {}

    /// An upper bound on the floats the scratches of `Threads.count` workers grow to for images of
    /// (height, width) made into (outputHeight, outputWidth) with blur kernels up to `kernel`: the
    /// image planes at both sizes and blurred, the resize's rows between passes, its taps, the
    /// blur's padded rows; saturating at `Int.max`. Checked before a batch is augmented.
    public static func bufferElements(height: Int, width: Int, outputHeight: Int, outputWidth: Int, kernel: Int) -> Int {
        let sides = saturatingSum(height, width), outputs = saturatingSum(outputHeight, outputWidth)
        let perWorker = [saturatingProduct(6, height, width), saturatingProduct(6, outputHeight, outputWidth),
                         saturatingProduct(3, max(height, outputHeight), max(width, outputWidth)),
                         saturatingProduct(4, saturatingSum(sides, outputs)), saturatingProduct(4, kernel), 1 << 16]
            .reduce(0, saturatingSum)
        return saturatingProduct(Threads.count, perWorker)
    }

    deinit { pointers.deallocate() }

    /// Room for `count` row pointers (the taps of a vertical filter pass).
    func rowPointers(_ count: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<Float>> {
        if count > pointerCapacity {
            pointers.deallocate()
            pointers = .allocate(capacity: count)
            pointerCapacity = count
        }
        return pointers
    }

    /// `pixels` grown to hold a (height, width) RGB image, as an `RGBImage` over it.
    public func image(height: Int, width: Int) -> RGBImage {
        RGBImage(pixels: floats(pixels, 3 * height * width), height: height, width: width)
    }

    /// The storage of `buffer`, one of this scratch's tensors, grown to hold at least `count`
    /// floats (its contents are then undefined). Growing is the only allocation: once the
    /// buffers are large enough, the per-sample path allocates nothing.
    public func floats(_ buffer: Tensor, _ count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.capacity < count { buffer.resize([count]) }
        return buffer.data
    }
}
