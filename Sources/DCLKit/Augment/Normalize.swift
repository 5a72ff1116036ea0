/// Normalisation of an augmented image to float32 network input: x = (v/255 − mean) / std per
/// channel (torchvision's `ToTensor` then `Normalize`).
public struct Normalization: Equatable {
    /// Per-channel mean (red, green, blue) of images scaled to [0, 1].
    public var mean: SIMD3<Double>
    /// Per-channel standard deviation (red, green, blue), each > 0.
    public var std: SIMD3<Double>

    /// A normalisation with the given statistics.
    public init(mean: SIMD3<Double>, std: SIMD3<Double>) {
        self.mean = mean
        self.std = std
    }

    /// CIFAR-10's training-set statistics.
    public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
    /// ImageNet's statistics, as torchvision's models expect.
    public static let imagenet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// No statistics: levels scaled to [0, 1].
    public static let unit = Normalization(mean: [0, 0, 0], std: [1, 1, 1])

    /// Writes `image` normalised into `output`, interleaved (height, width, 3) float32.
    public func write(_ image: RGBImage, into output: UnsafeMutablePointer<Float>) {
        let scale = SIMD3<Float>(1 / (255 * std))
        let offset = SIMD3<Float>(-mean / std)
        let r = image.plane(0), g = image.plane(1), b = image.plane(2)
        let n = image.planeCount
        // Four pixels at a time: three planar vectors become three interleaved ones.
        let (sr, sg, sb) = (Vector(repeating: scale.x), Vector(repeating: scale.y), Vector(repeating: scale.z))
        let (or, og, ob) = (Vector(repeating: offset.x), Vector(repeating: offset.y), Vector(repeating: offset.z))
        var p = 0
        while p &+ 4 <= n {
            let red = r.vector(at: p) * sr + or
            let green = g.vector(at: p) * sg + og
            let blue = b.vector(at: p) * sb + ob
            let out = output + 3 &* p
            out.store(Vector(red[0], green[0], blue[0], red[1]), at: 0)
            out.store(Vector(green[1], blue[1], red[2], green[2]), at: 4)
            out.store(Vector(blue[2], red[3], green[3], blue[3]), at: 8)
            p &+= 4
        }
        while p < n {
            output[3 &* p] = r[p] * scale.x + offset.x
            output[3 &* p &+ 1] = g[p] * scale.y + offset.y
            output[3 &* p &+ 2] = b[p] * scale.z + offset.z
            p &+= 1
        }
    }
}
