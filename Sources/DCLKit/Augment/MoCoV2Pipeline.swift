extension AugmentConfiguration {
    /// MoCo v2's "aug+" (Chen, Fan, Girshick, He 2020): random resized crop (scale 0.2–1,
    /// ratio 3/4–4/3), colour jitter p = 0.8 with brightness, contrast, saturation 0.4 and hue
    /// 0.1, grayscale p = 0.2, Gaussian blur p = 0.5 (σ ∈ [0.1, 2]), flip p = 0.5, normalisation.
    ///
    /// ```swift
    /// let pipeline = AugmentPipeline(.mocoV2(size: 224))
    /// ```
    public static func mocoV2(size: Int, normalization: Normalization = .imagenet) -> AugmentConfiguration {
        AugmentConfiguration(
            size: size, scale: 0.2...1, ratio: (3.0 / 4.0)...(4.0 / 3.0), flip: 0.5, jitter: 0.8,
            brightness: ColorJitter.factorRange(0.4), contrast: ColorJitter.factorRange(0.4),
            saturation: ColorJitter.factorRange(0.4), hue: ColorJitter.hueRange(0.1),
            grayscale: 0.2, blur: 0.5, sigma: 0.1...2, normalization: normalization)
    }
}
