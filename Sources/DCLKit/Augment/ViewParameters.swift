/// The random choices behind one augmented view, drawn from the view's own `CounterRNG`
/// stream, so they depend only on (seed, epoch, sample index, view).
public struct ViewParameters: Equatable {
    /// The crop, in source pixels.
    public var crop: CropRegion
    /// Whether the view is flipped.
    public var flip: Bool
    /// The colour jitter, or nil when it is not applied.
    public var jitter: ColorJitterFactors?
    /// Whether the view is turned gray.
    public var grayscale: Bool
    /// The blur's σ, or nil when it is not applied.
    public var blurSigma: Double?
    /// Whether the view is solarised.
    public var solarize: Bool

    /// Draws the choices for a (height, width) source under `configuration`, in pipeline
    /// order; each random step consumes its draws whether or not it fires, as torchvision's
    /// `RandomApply` does (`p` tested first, the operation's parameters drawn only when it fires).
    public static func draw(
        _ configuration: AugmentConfiguration, height: Int, width: Int, rng: inout CounterRNG
    ) -> ViewParameters {
        let crop = ResizedCrop.randomRegion(
            height: height, width: width, scale: configuration.scale, ratio: configuration.ratio, rng: &rng)
        let flip = rng.bernoulli(configuration.flip)
        var jitter: ColorJitterFactors?
        if rng.bernoulli(configuration.jitter) {
            jitter = ColorJitter.draw(
                brightness: configuration.brightness, contrast: configuration.contrast,
                saturation: configuration.saturation, hue: configuration.hue, rng: &rng)
        }
        let grayscale = rng.bernoulli(configuration.grayscale)
        var sigma: Double?
        if rng.bernoulli(configuration.blur) {
            sigma = rng.uniform(configuration.sigma.lowerBound, configuration.sigma.upperBound)
        }
        let solarize = rng.bernoulli(configuration.solarize)
        return ViewParameters(crop: crop, flip: flip, jitter: jitter, grayscale: grayscale,
                              blurSigma: sigma, solarize: solarize)
    }
}
