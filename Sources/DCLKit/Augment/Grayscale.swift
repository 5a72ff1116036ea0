/// Grayscale conversion (torchvision's `rgb_to_grayscale` on uint8 tensors, ITU-R 601-2 luma):
/// L = ⌊0.2989 R + 0.587 G + 0.114 B⌋, kept as three equal channels.
///
/// The weights sum to 0.9999, so white (255) becomes 254, exactly as torchvision's tensor path.
public enum Grayscale {
    /// The luma weights of red, green and blue.
    public static let weights: (red: Float, green: Float, blue: Float) = (0.2989, 0.587, 0.114)

    /// The truncated luma of four pixels.
    @inline(__always)
    static func luma(_ r: Vector, _ g: Vector, _ b: Vector) -> Vector {
        Level.floor(Vector(repeating: weights.red) * r + Vector(repeating: weights.green) * g
                    + Vector(repeating: weights.blue) * b)
    }

    /// Replaces every pixel of `image` by its luma, in all three planes.
    public static func apply(_ image: RGBImage) {
        image.transformPixels(LumaFill())
    }

    /// Sets the three channels of a pixel to its luma.
    private struct LumaFill: PixelMap {
        @inline(__always)
        func apply(_ r: inout Vector, _ g: inout Vector, _ b: inout Vector) {
            let l = luma(r, g, b)
            r = l
            g = l
            b = l
        }
    }

    /// Σ L over the image's pixels (exact: whole levels summed in float lanes, flushed to a
    /// double before a lane could pass 2²⁴).
    public static func lumaSum(_ image: RGBImage) -> Double {
        let r = image.plane(0), g = image.plane(1), b = image.plane(2)
        let n = image.planeCount
        var total = 0.0
        var lanes = Vector()
        var p = 0, groups = 0
        while p &+ 4 <= n {
            lanes += luma(r.vector(at: p), g.vector(at: p), b.vector(at: p))
            p &+= 4
            groups &+= 1
            if groups == 32768 {
                total += Double(lanes.sum())
                lanes = Vector()
                groups = 0
            }
        }
        total += Double(lanes.sum())
        var red = Vector(), green = Vector(), blue = Vector()
        for i in 0..<(n &- p) {
            red[i] = r[p &+ i]
            green[i] = g[p &+ i]
            blue[i] = b[p &+ i]
        }
        return total + Double(luma(red, green, blue).sum())
    }
}
