/// Solarisation (torchvision's `solarize`): every level at or above the threshold is inverted,
/// v ↦ 255 − v; levels below it are kept.
public enum Solarize {
    /// Solarises `image` in place; `threshold` in [0, 255].
    public static func apply(_ image: RGBImage, threshold: Float) {
        image.transformLevels(Inversion(threshold: Vector(repeating: threshold)))
    }

    /// 255 − v where v ≥ threshold.
    private struct Inversion: LevelMap {
        let threshold: Vector
        @inline(__always)
        func apply(_ v: Vector) -> Vector { v.replacing(with: Vector(repeating: 255) - v, where: v .>= threshold) }
    }
}
