/// One uint8 input image, interleaved (height, width, channels) with 1 (grayscale) or 3 (RGB)
/// channels, as numpy and PIL hold it. A grayscale image is read as RGB with equal channels.
public struct SourceImage {
    /// The first byte; valid for `height · width · channels` bytes.
    public let pixels: UnsafePointer<UInt8>
    /// Rows.
    public let height: Int
    /// Columns.
    public let width: Int
    /// 1 or 3.
    public let channels: Int

    /// An image of the given size over `pixels`.
    public init(pixels: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int) {
        precondition(height >= 1 && width >= 1 && (channels == 1 || channels == 3),
                     "SourceImage: \(height)×\(width)×\(channels)")
        self.pixels = pixels
        self.height = height
        self.width = width
        self.channels = channels
    }
}
