/// An RGB image being augmented: three float32 planes (red, green, blue), each (height, width)
/// row-major, holding uint8 levels 0...255 as floats.
///
/// Planar storage keeps every per-pixel operation a loop over contiguous floats, which the
/// compiler vectorises. Each operation ends by quantising to whole levels the way torchvision's
/// uint8 tensor path does, so a chain of operations equals torchvision's chain on uint8 images.
public struct RGBImage {
    /// The red plane, followed by the green and the blue planes; valid for `count` floats.
    public let pixels: UnsafeMutablePointer<Float>
    /// Rows.
    public let height: Int
    /// Columns.
    public let width: Int

    /// An image of the given size over `pixels` (3 · height · width floats).
    public init(pixels: UnsafeMutablePointer<Float>, height: Int, width: Int) {
        self.pixels = pixels
        self.height = height
        self.width = width
    }

    /// Pixels per plane.
    @inline(__always) public var planeCount: Int { height * width }
    /// Floats in the three planes.
    @inline(__always) public var count: Int { 3 * height * width }
    /// Plane `c` (0 red, 1 green, 2 blue).
    @inline(__always) public func plane(_ c: Int) -> UnsafeMutablePointer<Float> { pixels + c * planeCount }

    /// Fills the planes from an interleaved uint8 (height, width, 3) image of the same size.
    public func load(from interleaved: UnsafePointer<UInt8>) {
        let r = plane(0), g = plane(1), b = plane(2)
        for p in 0..<planeCount {
            r[p] = Float(interleaved[3 * p])
            g[p] = Float(interleaved[3 * p + 1])
            b[p] = Float(interleaved[3 * p + 2])
        }
    }

    /// Writes the image as interleaved uint8 (height, width, 3). Levels are whole numbers in
    /// 0...255 after every operation; they are clamped here all the same.
    public func store(into interleaved: UnsafeMutablePointer<UInt8>) {
        let r = plane(0), g = plane(1), b = plane(2)
        for p in 0..<planeCount {
            interleaved[3 * p] = Level.byte(r[p])
            interleaved[3 * p + 1] = Level.byte(g[p])
            interleaved[3 * p + 2] = Level.byte(b[p])
        }
    }
}

/// A pointwise operation on levels, four at a time (a struct, so loops over it are specialised
/// and the operation inlined, which closures here are not).
protocol LevelMap {
    /// The new value of four levels.
    func apply(_ levels: Vector) -> Vector
}

/// A per-pixel operation on four pixels at a time, given as red, green and blue vectors.
protocol PixelMap {
    /// Replaces four pixels by their new values.
    func apply(_ red: inout Vector, _ green: inout Vector, _ blue: inout Vector)
}

extension RGBImage {
    /// Runs `map` on the pixels four at a time, each lane one pixel (red, green, blue vectors),
    /// and writes the results back. A last partial group is padded with black pixels, and only
    /// its real lanes are written back.
    @inline(__always)
    func transformPixels<Map: PixelMap>(_ map: Map) {
        let r = plane(0), g = plane(1), b = plane(2)
        let n = planeCount
        var p = 0
        while p &+ 4 <= n {
            var red = r.vector(at: p), green = g.vector(at: p), blue = b.vector(at: p)
            map.apply(&red, &green, &blue)
            r.store(red, at: p)
            g.store(green, at: p)
            b.store(blue, at: p)
            p &+= 4
        }
        guard p < n else { return }
        let rest = n &- p
        var red = r.partialVector(at: p, count: rest)
        var green = g.partialVector(at: p, count: rest)
        var blue = b.partialVector(at: p, count: rest)
        map.apply(&red, &green, &blue)
        r.storePartial(red, at: p, count: rest)
        g.storePartial(green, at: p, count: rest)
        b.storePartial(blue, at: p, count: rest)
    }

    /// Runs `map` on every level of the three planes, four at a time; a last partial group is
    /// padded with zeros, and only its real lanes are written back.
    @inline(__always)
    func transformLevels<Map: LevelMap>(_ map: Map) {
        let v = pixels
        let n = count
        var i = 0
        while i &+ 4 <= n {
            v.store(map.apply(v.vector(at: i)), at: i)
            i &+= 4
        }
        guard i < n else { return }
        v.storePartial(map.apply(v.partialVector(at: i, count: n &- i)), at: i, count: n &- i)
    }
}
