/// One draw of colour jitter: the order of the four adjustments and their factors.
/// A nil factor means that adjustment is skipped (its range was the identity).
public struct ColorJitterFactors: Equatable {
    /// A permutation of 0 (brightness), 1 (contrast), 2 (saturation), 3 (hue).
    public var order: SIMD4<Int32>
    /// Brightness factor ≥ 0.
    public var brightness: Float?
    /// Contrast factor ≥ 0.
    public var contrast: Float?
    /// Saturation factor ≥ 0.
    public var saturation: Float?
    /// Hue shift in [−0.5, 0.5] (a fraction of the hue circle).
    public var hue: Float?

    /// Factors applied in the given order.
    public init(order: SIMD4<Int32> = [0, 1, 2, 3], brightness: Float? = nil, contrast: Float? = nil,
                saturation: Float? = nil, hue: Float? = nil) {
        self.order = order
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
    }
}

/// Colour jitter with torchvision's arithmetic on uint8 images (`adjust_brightness`,
/// `adjust_contrast`, `adjust_saturation`, `adjust_hue` of `_functional_tensor`) and
/// `ColorJitter.get_params`'s draws.
///
/// The first three blend the image with a second one, `⌊clamp(f·img + (1 − f)·other, 0, 255)⌋`:
/// black for brightness, the mean of the (truncated) grayscale image for contrast, the pixel's
/// own (truncated) grayscale for saturation; f = 1 is the identity. Hue rotates the HSV hue.
public enum ColorJitter {
    /// The largest brightness, contrast or saturation factor accepted: far beyond any use
    /// (every level saturates long before), and small enough that f·255 stays finite in float32.
    public static let maximumFactor = 1e6

    /// Brightness: `⌊min(f·v, 255)⌋` for every level; f ≥ 0.
    public static func adjustBrightness(_ image: RGBImage, factor: Float) {
        image.transformLevels(Blend(factor: factor, offset: 0))
    }

    /// Contrast: blends with the mean m of the grayscale image, `⌊clamp(f·v + (1 − f)·m)⌋`; f ≥ 0.
    public static func adjustContrast(_ image: RGBImage, factor: Float) {
        let mean = Float(Grayscale.lumaSum(image) / Double(image.planeCount))
        image.transformLevels(Blend(factor: factor, offset: Float(1 - Double(factor)) * mean))
    }

    /// Saturation: blends each pixel with its own grayscale L, `⌊clamp(f·v + (1 − f)·L)⌋`; f ≥ 0.
    public static func adjustSaturation(_ image: RGBImage, factor: Float) {
        image.transformPixels(SaturationBlend(factor: factor))
    }

    /// Hue: converts to HSV, adds `factor` (in [−0.5, 0.5]) to the hue modulo 1, converts back
    /// and quantises as `convert_image_dtype` does, `⌊x/255 · 255.999⌋`.
    ///
    /// Closed form of torchvision's `_rgb2hsv` / `_hsv2rgb` pair. With M = max, m = min and
    /// C = M − m of the pixel, the hue in sixths of the circle is H = (G − B)/C, 2 + (B − R)/C or
    /// 4 + (R − G)/C (by which channel is the maximum, red first); after the shift S = 6·factor,
    /// each channel is M − C · clamp(min(k, 4 − k), 0, 1) with k = (n + H + S) mod 6 and n = 5, 3,
    /// 1 for R, G, B: the sector table of `_hsv2rgb` (v, q, p, p, t, v / t, v, v, q, p, p / …),
    /// written branch-free. Everything is multiplied through by C, so there is no division and
    /// whole shifts (factor 0, ±0.5) are exact: 0 is the identity, +0.5 equals −0.5, and gray
    /// pixels (C = 0) are unchanged.
    public static func adjustHue(_ image: RGBImage, factor: Float) {
        image.transformPixels(HueRotation(shift: 6 * factor))
    }

    /// `⌊clamp(f·v + offset)⌋` on every level: torchvision's `_blend` with a constant image.
    private struct Blend: LevelMap {
        let factor: Vector, offset: Vector
        init(factor: Float, offset: Float) {
            self.factor = Vector(repeating: factor)
            self.offset = Vector(repeating: offset)
        }
        @inline(__always)
        func apply(_ v: Vector) -> Vector { Level.floor(Level.clamp(factor * v + offset)) }
    }

    /// `_blend` of each pixel with its own grayscale.
    private struct SaturationBlend: PixelMap {
        let factor: Vector, other: Vector
        init(factor: Float) {
            self.factor = Vector(repeating: factor)
            self.other = Vector(repeating: Float(1 - Double(factor)))
        }
        @inline(__always)
        func apply(_ r: inout Vector, _ g: inout Vector, _ b: inout Vector) {
            let l = other * Grayscale.luma(r, g, b)
            r = Level.floor(Level.clamp(factor * r + l))
            g = Level.floor(Level.clamp(factor * g + l))
            b = Level.floor(Level.clamp(factor * b + l))
        }
    }

    /// The hue shift of `adjustHue`, with the shift in sixths of the circle; works on C·k.
    private struct HueRotation: PixelMap {
        let shift: Vector
        init(shift: Float) { self.shift = Vector(repeating: shift) }

        @inline(__always)
        func apply(_ red: inout Vector, _ green: inout Vector, _ blue: inout Vector) {
            let zero = Vector(repeating: 0)
            let high = max(red, max(green, blue))
            let chroma = high - min(red, min(green, blue))
            // C·H = C·sector start + channel difference, by which channel is the maximum.
            let redIsHigh = high .== red, greenIsHigh = high .== green
            let difference = (red - green).replacing(with: blue - red, where: greenIsHigh)
                .replacing(with: green - blue, where: redIsHigh)
            let start = (Vector(repeating: 4) - zero.replacing(with: 2, where: greenIsHigh))
                .replacing(with: zero, where: redIsHigh)
            let full = Vector(repeating: 6) * chroma
            var h = chroma * (start + shift) + difference
            h += zero.replacing(with: full, where: h .< zero)
            h -= zero.replacing(with: full, where: h .>= full)
            red = channel(h + Vector(repeating: 5) * chroma, high, chroma, full)
            green = channel(h + Vector(repeating: 3) * chroma, high, chroma, full)
            blue = channel(h + chroma, high, chroma, full)
        }

        /// One channel of HSV → RGB from C·k (in [0, 12C)), quantised:
        /// ⌊(M − clamp(min(C·k, 4C − C·k), 0, C)) · 255.999/255⌋.
        @inline(__always)
        private func channel(_ scaled: Vector, _ high: Vector, _ chroma: Vector, _ full: Vector) -> Vector {
            let k = scaled - Vector(repeating: 0).replacing(with: full, where: scaled .>= full)
            let t = min(max(min(k, Vector(repeating: 4) * chroma - k), Vector(repeating: 0)), chroma)
            return Level.floor((high - t) * Vector(repeating: Float(255.999 / 255)))
        }
    }

    /// Applies the adjustments of `factors` in their order.
    public static func apply(_ image: RGBImage, _ factors: ColorJitterFactors) {
        for i in 0..<4 {
            switch factors.order[i] {
            case 0: if let f = factors.brightness { adjustBrightness(image, factor: f) }
            case 1: if let f = factors.contrast { adjustContrast(image, factor: f) }
            case 2: if let f = factors.saturation { adjustSaturation(image, factor: f) }
            default: if let f = factors.hue { adjustHue(image, factor: f) }
            }
        }
    }

    /// The factor range torchvision's `ColorJitter` makes of one number a ≥ 0 for brightness,
    /// contrast or saturation: [max(0, 1 − a), 1 + a].
    public static func factorRange(_ amount: Double) -> ClosedRange<Double> {
        precondition(amount >= 0, "ColorJitter.factorRange: \(amount)")
        return max(0, 1 - amount)...(1 + amount)
    }

    /// The hue range torchvision's `ColorJitter` makes of one number 0 ≤ a ≤ 0.5: [−a, a].
    public static func hueRange(_ amount: Double) -> ClosedRange<Double> {
        precondition(amount >= 0 && amount <= 0.5, "ColorJitter.hueRange: \(amount)")
        return (-amount)...amount
    }

    /// torchvision's `ColorJitter.get_params`: a uniformly random order, then each factor
    /// uniform in its range, drawn in the order brightness, contrast, saturation, hue. A range
    /// that is the identity (1...1 for the first three, 0...0 for hue) is skipped, undrawn.
    public static func draw(
        brightness: ClosedRange<Double>, contrast: ClosedRange<Double>,
        saturation: ClosedRange<Double>, hue: ClosedRange<Double>, rng: inout CounterRNG
    ) -> ColorJitterFactors {
        var order: SIMD4<Int32> = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) {
            let j = rng.below(i + 1)
            let t = order[i]
            order[i] = order[j]
            order[j] = t
        }
        func factor(_ range: ClosedRange<Double>, identity: Double) -> Float? {
            if range.lowerBound == identity && range.upperBound == identity { return nil }
            return Float(rng.uniform(range.lowerBound, range.upperBound))
        }
        let b = factor(brightness, identity: 1)
        let c = factor(contrast, identity: 1)
        let s = factor(saturation, identity: 1)
        let h = factor(hue, identity: 0)
        return ColorJitterFactors(order: order, brightness: b, contrast: c, saturation: s, hue: h)
    }
}
