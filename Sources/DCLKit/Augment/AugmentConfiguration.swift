/// Every parameter of a two-view augmentation pipeline, in torchvision's terms. The defaults are
/// SimCLR's ImageNet recipe (strength 1, blur on); `simclr(...)` and `mocoV2(...)` give the
/// papers' presets, and any field can be changed afterwards.
///
/// Order of the operations on each view: random resized crop to `size` × `size`, horizontal
/// flip, colour jitter (the four adjustments in a random order), grayscale, Gaussian blur,
/// solarisation, normalisation. The flip commutes with every later operation, so its place in
/// the chain does not matter (MoCo v2 lists it last, SimCLR second).
public struct AugmentConfiguration: Equatable {
    /// Output side: views are (size, size, 3).
    public var size: Int
    /// Range of the crop's area as a fraction of the image's, within (0, 1].
    public var scale: ClosedRange<Double>
    /// Range of the crop's aspect ratio width / height, > 0 (sampled log-uniformly).
    public var ratio: ClosedRange<Double>
    /// Probability of a horizontal flip.
    public var flip: Double
    /// Probability that colour jitter is applied.
    public var jitter: Double
    /// Range of the brightness factor, ≥ 0 (1...1 skips it).
    public var brightness: ClosedRange<Double>
    /// Range of the contrast factor, ≥ 0 (1...1 skips it).
    public var contrast: ClosedRange<Double>
    /// Range of the saturation factor, ≥ 0 (1...1 skips it).
    public var saturation: ClosedRange<Double>
    /// Range of the hue shift, within [−0.5, 0.5] (0...0 skips it).
    public var hue: ClosedRange<Double>
    /// Probability of converting to grayscale.
    public var grayscale: Double
    /// Probability of a Gaussian blur.
    public var blur: Double
    /// Range of the blur's σ in pixels, > 0.
    public var sigma: ClosedRange<Double>
    /// Blur kernel size, odd; nil picks about 10% of `size` (`GaussianBlur.defaultKernelSize`).
    public var kernelSize: Int?
    /// Probability of solarisation.
    public var solarize: Double
    /// Solarisation threshold in [0, 255].
    public var solarizeThreshold: Double
    /// Statistics of the final normalisation.
    public var normalization: Normalization

    /// A configuration; every argument but `size` defaults to SimCLR's ImageNet recipe.
    public init(
        size: Int,
        scale: ClosedRange<Double> = 0.08...1,
        ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0),
        flip: Double = 0.5,
        jitter: Double = 0.8,
        brightness: ClosedRange<Double> = ColorJitter.factorRange(0.8),
        contrast: ClosedRange<Double> = ColorJitter.factorRange(0.8),
        saturation: ClosedRange<Double> = ColorJitter.factorRange(0.8),
        hue: ClosedRange<Double> = ColorJitter.hueRange(0.2),
        grayscale: Double = 0.2,
        blur: Double = 0.5,
        sigma: ClosedRange<Double> = 0.1...2,
        kernelSize: Int? = nil,
        solarize: Double = 0,
        solarizeThreshold: Double = 128,
        normalization: Normalization = .imagenet
    ) {
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.flip = flip
        self.jitter = jitter
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.grayscale = grayscale
        self.blur = blur
        self.sigma = sigma
        self.kernelSize = kernelSize
        self.solarize = solarize
        self.solarizeThreshold = solarizeThreshold
        self.normalization = normalization
    }

    /// The blur kernel size in use.
    public var blurKernelSize: Int { kernelSize ?? GaussianBlur.defaultKernelSize(side: size) }

    /// The largest output side accepted.
    public static let maximumSize = 4096

    /// The first invalid parameter, described with its snake_case name, or nil when all are valid.
    public var problem: String? {
        func range(_ r: ClosedRange<Double>, _ name: String, _ low: Double, _ high: Double, openLow: Bool = false) -> String? {
            let a = r.lowerBound, b = r.upperBound
            guard a.isFinite, b.isFinite, openLow ? a > low : a >= low, b <= high else {
                return "\(name) must lie in \(openLow ? "(" : "[")\(low), \(high)], got (\(a), \(b))"
            }
            return nil
        }
        func probability(_ p: Double, _ name: String) -> String? {
            p >= 0 && p <= 1 ? nil : "\(name) must be a probability in [0, 1], got \(p)"
        }
        guard size >= 1 && size <= Self.maximumSize else {
            return "size must be between 1 and \(Self.maximumSize), got \(size)"
        }
        if let k = kernelSize, k < 1 || k % 2 == 0 || k > 2 * Self.maximumSize + 1 {
            return "kernel_size must be odd and positive, got \(k)"
        }
        let checks: [String?] = [
            range(scale, "scale", 0, 1, openLow: true),
            range(ratio, "ratio", 0, .greatestFiniteMagnitude, openLow: true),
            probability(flip, "flip"),
            probability(jitter, "jitter"),
            range(brightness, "brightness", 0, ColorJitter.maximumFactor),
            range(contrast, "contrast", 0, ColorJitter.maximumFactor),
            range(saturation, "saturation", 0, ColorJitter.maximumFactor),
            range(hue, "hue", -0.5, 0.5),
            probability(grayscale, "grayscale"),
            probability(blur, "blur"),
            range(sigma, "sigma", 0, .greatestFiniteMagnitude, openLow: true),
            probability(solarize, "solarize"),
            solarizeThreshold >= 0 && solarizeThreshold <= 255
                ? nil : "solarize_threshold must lie in [0, 255], got \(solarizeThreshold)",
            normalizationProblem,
        ]
        return checks.lazy.compactMap { $0 }.first
    }

    private var normalizationProblem: String? {
        let m = normalization.mean, s = normalization.std
        for c in 0..<3 {
            guard m[c].isFinite else { return "mean must be finite, got \(m[c]) for channel \(c)" }
            guard s[c].isFinite && s[c] > 0 else { return "std must be finite and positive, got \(s[c]) for channel \(c)" }
        }
        return nil
    }
}
