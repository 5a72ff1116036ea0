/// Horizontal flip (torchvision's `hflip`): column x becomes column width − 1 − x.
public enum Flip {
    /// Mirrors every row of `image` in place.
    public static func horizontal(_ image: RGBImage) {
        let w = image.width
        for c in 0..<3 {
            let plane = image.plane(c)
            for y in 0..<image.height {
                let row = plane + y * w
                var i = 0, j = w
                // Swap reversed groups of four from both ends, then single columns in the middle.
                while j &- i >= 8 {
                    let a = row.vector(at: i), b = row.vector(at: j &- 4)
                    row.store(b[SIMD4(3, 2, 1, 0)], at: i)
                    row.store(a[SIMD4(3, 2, 1, 0)], at: j &- 4)
                    i &+= 4
                    j &-= 4
                }
                j &-= 1
                while i < j {
                    let t = row[i]
                    row[i] = row[j]
                    row[j] = t
                    i &+= 1
                    j &-= 1
                }
            }
        }
    }
}
