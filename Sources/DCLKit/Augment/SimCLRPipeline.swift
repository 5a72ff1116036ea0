extension AugmentConfiguration {
    /// SimCLR's augmentation (Chen et al. 2020, appendix A): random resized crop (scale
    /// 0.08–1, ratio 3/4–4/3), flip p = 0.5, colour jitter p = 0.8 with brightness, contrast and
    /// saturation 0.8·s and hue 0.2·s, grayscale p = 0.2, Gaussian blur with probability `blur`
    /// (σ ∈ [0.1, 2], kernel 10% of the side; the paper uses 0.5 on ImageNet and none on
    /// CIFAR-10; 0.5 is the default at every size, as the DCL study found no difference at
    /// 32×32, README "Defaults for small images"), then normalisation.
    ///
    /// ```swift
    /// var config = AugmentConfiguration.simclr(size: 32, strength: 0.5, blur: 0, normalization: .cifar10)
    /// config.grayscale = 0.1   // any field can be overridden
    /// ```
    /// - Precondition: 0 ≤ strength ≤ 2.5 (hue 0.2·s stays within 0.5).
    public static func simclr(
        size: Int, strength: Double = 1, blur: Double = 0.5, normalization: Normalization = .imagenet
    ) -> AugmentConfiguration {
        precondition(strength >= 0 && strength <= 2.5, "simclr: strength \(strength)")
        let amount = 0.8 * strength
        return AugmentConfiguration(
            size: size, scale: 0.08...1, ratio: (3.0 / 4.0)...(4.0 / 3.0), flip: 0.5, jitter: 0.8,
            brightness: ColorJitter.factorRange(amount), contrast: ColorJitter.factorRange(amount),
            saturation: ColorJitter.factorRange(amount), hue: ColorJitter.hueRange(0.2 * strength),
            grayscale: 0.2, blur: blur, sigma: 0.1...2, normalization: normalization)
    }
}
