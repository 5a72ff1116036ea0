#if canImport(Glibc)
import Glibc
#endif

/// Gaussian blur (torchvision's `gaussian_blur` on uint8 tensors): a separable kernel of odd
/// size k with taps exp(−x²/2σ²), x = −(k−1)/2 … (k−1)/2, normalised to sum 1; the image is
/// reflect-padded by (k−1)/2 (mirrored without repeating the edge), convolved, and rounded
/// half to even.
///
/// A kernel wider than the image keeps reflecting (PyTorch refuses that case; here it is defined).
public enum GaussianBlur {
    /// torchvision's `_get_gaussian_kernel1d` into `kernel` (`size` floats); `size` odd ≥ 1, σ > 0.
    public static func kernel(size: Int, sigma: Double, into kernel: UnsafeMutablePointer<Float>) {
        precondition(size >= 1 && size % 2 == 1 && sigma > 0, "GaussianBlur: size \(size), sigma \(sigma)")
        let half = Double(size - 1) / 2
        var total = 0.0
        for i in 0..<size {
            let x = (Double(i) - half) / sigma
            let w = exp(-0.5 * x * x)
            kernel[i] = Float(w)
            total += w
        }
        let inverse = Float(1 / total)
        for i in 0..<size { kernel[i] *= inverse }
    }

    /// The kernel size SimCLR uses for an image side: 10% of the side, made odd
    /// (2·⌊⌊0.1·side⌋ / 2⌋ + 1: 3 for 32, 9 for 96, 23 for 224), at least 3.
    public static func defaultKernelSize(side: Int) -> Int {
        max(3, 2 * ((side / 10) / 2) + 1)
    }

    /// Blurs `image` in place with a `size`-tap kernel of standard deviation `sigma`.
    public static func apply(_ image: RGBImage, size: Int, sigma: Double, scratch: AugmentScratch) {
        let k = scratch.floats(scratch.kernel, size)
        kernel(size: size, sigma: sigma, into: k)
        let radius = size / 2
        let h = image.height, w = image.width, n = image.planeCount
        let padded = scratch.floats(scratch.paddedRow, w + 2 * radius)
        let across = scratch.floats(scratch.blurred, image.count)
        let rows = scratch.rowPointers(size)
        // Along x into `across`: the three planes' rows one after another, each reflect-padded.
        for t in 0..<size { rows[t] = padded + t }
        for q in 0..<(3 * h) {
            let row = image.pixels + q &* w
            for i in 0..<w { padded[radius &+ i] = row[i] }
            for i in 0..<radius {
                padded[radius &- 1 &- i] = row[reflect(-1 - i, w)]
                padded[radius &+ w &+ i] = row[reflect(w + i, w)]
            }
            symmetricSum(rows, kernel: k, radius: radius, count: w, into: across + q &* w, rounded: false)
        }
        // Along y back into the image, rounded; the reflected rows are the same in every plane.
        for y in 0..<h {
            for t in 0..<size { rows[t] = across + reflect(y - radius + t, h) &* w }
            for c in 0..<3 {
                if c > 0 { for t in 0..<size { rows[t] += n } }
                symmetricSum(rows, kernel: k, radius: radius, count: w, into: image.plane(c) + y &* w, rounded: true)
            }
        }
    }

    /// out[x] = k[r]·row_r[x] + Σ_{t<r} k[t]·(row_t[x] + row_{2r−t}[x]) for x < count, using the
    /// kernel's symmetry; `rounded` rounds the result to a level (the kernel is non-negative and
    /// sums to 1, so no clamp is needed). Sixteen columns at a time, so each tap's row pointers
    /// and weight are loaded once per four vectors.
    @inline(__always)
    private static func symmetricSum(
        _ rows: UnsafeMutablePointer<UnsafeMutablePointer<Float>>, kernel k: UnsafeMutablePointer<Float>,
        radius: Int, count: Int, into out: UnsafeMutablePointer<Float>, rounded: Bool
    ) {
        let center = rows[radius]
        let kc = Vector(repeating: k[radius])
        @inline(__always) func finish(_ v: Vector) -> Vector { rounded ? Level.round(v) : v }
        var x = 0
        while x &+ 16 <= count {
            var s0 = kc * center.vector(at: x), s1 = kc * center.vector(at: x &+ 4)
            var s2 = kc * center.vector(at: x &+ 8), s3 = kc * center.vector(at: x &+ 12)
            for t in 0..<radius {
                let a = rows[t] + x, b = rows[2 &* radius &- t] + x
                let w = Vector(repeating: k[t])
                s0 += w * (a.vector(at: 0) + b.vector(at: 0))
                s1 += w * (a.vector(at: 4) + b.vector(at: 4))
                s2 += w * (a.vector(at: 8) + b.vector(at: 8))
                s3 += w * (a.vector(at: 12) + b.vector(at: 12))
            }
            out.store(finish(s0), at: x)
            out.store(finish(s1), at: x &+ 4)
            out.store(finish(s2), at: x &+ 8)
            out.store(finish(s3), at: x &+ 12)
            x &+= 16
        }
        while x &+ 4 <= count {
            var sum = kc * center.vector(at: x)
            for t in 0..<radius {
                sum += Vector(repeating: k[t]) * (rows[t].vector(at: x) + rows[2 &* radius &- t].vector(at: x))
            }
            out.store(finish(sum), at: x)
            x &+= 4
        }
        while x < count {
            var sum = k[radius] * center[x]
            for t in 0..<radius { sum += k[t] * (rows[t][x] + rows[2 &* radius &- t][x]) }
            out[x] = rounded ? Level.round(sum) : sum
            x &+= 1
        }
    }

    /// Index `i` of a length-`n` axis extended by reflection without repeating the edge
    /// (… 2 1 | 0 1 2 … n−1 | n−2 …), repeating with period 2(n − 1).
    @inline(__always)
    static func reflect(_ i: Int, _ n: Int) -> Int {
        if i >= 0 && i < n { return i }
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var j = i % period
        if j < 0 { j += period }
        return j < n ? j : period - j
    }
}
