#if canImport(Glibc)
import Glibc
#endif

/// A rectangle of an image: `height` rows from `top`, `width` columns from `left`.
public struct CropRegion: Equatable {
    /// First row.
    public var top: Int
    /// First column.
    public var left: Int
    /// Rows, at least 1.
    public var height: Int
    /// Columns, at least 1.
    public var width: Int

    /// The region with the given corner and size.
    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top
        self.left = left
        self.height = height
        self.width = width
    }

    /// True when the region lies inside an image of the given size and is not empty.
    public func fits(height imageHeight: Int, width imageWidth: Int) -> Bool {
        top >= 0 && left >= 0 && height >= 1 && width >= 1
            && top <= imageHeight - height && left <= imageWidth - width
    }
}

/// Random resized crop (torchvision's `RandomResizedCrop` and `resized_crop`): a region of
/// random area and aspect ratio, resized to the output size by bilinear interpolation that is
/// antialiased when shrinking.
public enum ResizedCrop {
    /// torchvision's `RandomResizedCrop.get_params` for an image of the given size: up to ten
    /// tries of area fraction ~ U(scale) and aspect ratio ~ exp(U(log ratio)), with width and
    /// height rounded half to even (Python's `round`), kept when they fit; otherwise the centre
    /// crop of the whole image clamped to the ratio range.
    ///
    /// Total for every valid configuration: sizes are compared in floating point before they
    /// become integers (an extreme ratio gives an infinite or zero side, never a trap), and the
    /// fallback keeps at least one row and one column where the ratio range lies beyond what
    /// the image can hold (torchvision would return an empty crop there).
    public static func randomRegion(
        height: Int, width: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
        rng: inout CounterRNG
    ) -> CropRegion {
        let area = Double(height) * Double(width)
        let logLow = log(ratio.lowerBound), logHigh = log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * rng.uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(rng.uniform(logLow, logHigh))
            let w = (targetArea * aspect).squareRoot().rounded(.toNearestOrEven)
            let h = (targetArea / aspect).squareRoot().rounded(.toNearestOrEven)
            if w >= 1 && w <= Double(width) && h >= 1 && h <= Double(height) {
                let top = rng.below(height - Int(h) + 1)
                let left = rng.below(width - Int(w) + 1)
                return CropRegion(top: top, left: left, height: Int(h), width: Int(w))
            }
        }
        let inputRatio = Double(width) / Double(height)
        var w = width, h = height
        if inputRatio < ratio.lowerBound {
            h = side(Double(w) / ratio.lowerBound, atMost: height)
        } else if inputRatio > ratio.upperBound {
            w = side(Double(h) * ratio.upperBound, atMost: width)
        }
        return CropRegion(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }

    /// Crops `region` out of `source` and resizes it to `image`'s size, writing rounded levels.
    ///
    /// Separable: each output pixel is Σ w_x(j) Σ w_y(i) src(i, j) with PyTorch's antialiased
    /// bilinear weights (`ResizeWeights`), rows first into `scratch.rows`, then columns, then
    /// rounded half to even as `torch.round` does before the cast to uint8.
    /// A grayscale source fills all three planes alike. `flipped` mirrors the result
    /// horizontally on the way (resizing and flipping commute), saving a pass.
    public static func apply(
        _ source: SourceImage, region: CropRegion, flipped: Bool = false, into image: RGBImage,
        scratch: AugmentScratch
    ) {
        precondition(region.fits(height: source.height, width: source.width), "ResizedCrop: region \(region)")
        let columns = scratch.columnWeights, rowWeights = scratch.rowWeights
        columns.update(input: region.width, output: image.width)
        rowWeights.update(input: region.height, output: image.height)
        let outWidth = image.width
        let rowPlane = region.height * outWidth
        let rows = scratch.floats(scratch.rows, 3 * rowPlane)

        // Rows: interpolate along x, source row by source row, into three planes. The crop's row
        // is first split into three float lines; every output then runs all `taps` taps
        // (unused ones weigh 0), reading into the lines' zero padding.
        let channels = source.channels
        let taps = columns.taps
        let starts = columns.starts, columnWeights = columns.weights
        let lineLength = region.width &+ taps
        let lines = scratch.floats(scratch.sourceRow, 3 &* lineLength)
        let lineRed = lines, lineGreen = lines + lineLength, lineBlue = lineGreen + lineLength
        for i in region.width..<lineLength {
            lineRed[i] = 0
            lineGreen[i] = 0
            lineBlue[i] = 0
        }
        for i in 0..<region.height {
            let sourceRow = source.pixels + ((region.top &+ i) &* source.width &+ region.left) &* channels
            if channels == 3 {
                for k in 0..<region.width {
                    lineRed[k] = Float(sourceRow[3 &* k])
                    lineGreen[k] = Float(sourceRow[3 &* k &+ 1])
                    lineBlue[k] = Float(sourceRow[3 &* k &+ 2])
                }
            } else {
                for k in 0..<region.width { lineRed[k] = Float(sourceRow[k]) }
            }
            let red = rows + i &* outWidth, green = red + rowPlane, blue = green + rowPlane
            for column in 0..<outWidth {
                let x = flipped ? outWidth &- 1 &- column : column
                let s = starts[column]
                let w = columnWeights + column &* taps
                if taps == 2 {
                    red[x] = w[0] * lineRed[s] + w[1] * lineRed[s &+ 1]
                    if channels == 3 {
                        green[x] = w[0] * lineGreen[s] + w[1] * lineGreen[s &+ 1]
                        blue[x] = w[0] * lineBlue[s] + w[1] * lineBlue[s &+ 1]
                    }
                } else {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for t in 0..<taps {
                        r += w[t] * lineRed[s &+ t]
                        g += w[t] * lineGreen[s &+ t]
                        b += w[t] * lineBlue[s &+ t]
                    }
                    red[x] = r
                    green[x] = g
                    blue[x] = b
                }
            }
            if channels == 1 {
                green.update(from: red, count: outWidth)
                blue.update(from: red, count: outWidth)
            }
        }

        // Columns: each output row is a weighted sum of whole intermediate rows, rounded.
        let rowTaps = rowWeights.taps
        let pointers = scratch.rowPointers(rowTaps)
        for c in 0..<3 {
            let plane = image.plane(c)
            let intermediate = rows + c &* rowPlane
            for y in 0..<image.height {
                let start = rowWeights.starts[y], count = rowWeights.counts[y]
                for t in 0..<count { pointers[t] = intermediate + (start &+ t) &* outWidth }
                weightedSum(pointers, weights: rowWeights.weights + y &* rowTaps, taps: count,
                            length: outWidth, into: plane + y &* outWidth)
            }
        }
    }

    /// out[x] = round(Σ_t w[t] · rows[t][x]) for x < length, eight columns at a time. The weights
    /// are non-negative and sum to 1, so the sum stays within the levels (to float rounding)
    /// and needs no clamp.
    @inline(__always)
    private static func weightedSum(
        _ rows: UnsafeMutablePointer<UnsafeMutablePointer<Float>>, weights: UnsafeMutablePointer<Float>,
        taps: Int, length: Int, into out: UnsafeMutablePointer<Float>
    ) {
        var x = 0
        while x &+ 8 <= length {
            var s0 = Vector(), s1 = Vector()
            for t in 0..<taps {
                let w = Vector(repeating: weights[t]), row = rows[t] + x
                s0 += w * row.vector(at: 0)
                s1 += w * row.vector(at: 4)
            }
            out.store(Level.round(s0), at: x)
            out.store(Level.round(s1), at: x &+ 4)
            x &+= 8
        }
        while x < length {
            var sum: Float = 0
            for t in 0..<taps { sum += weights[t] * rows[t][x] }
            out[x] = Level.round(sum)
            x &+= 1
        }
    }

    /// `x` rounded half to even (Python's `round`), clamped to 1...limit.
    private static func side(_ x: Double, atMost limit: Int) -> Int {
        let r = x.rounded(.toNearestOrEven)
        return r >= Double(limit) ? limit : max(1, Int(r))
    }
}

/// The interpolation weights of one axis of a resize from `input` to `output` samples:
/// PyTorch's antialiased bilinear filter (`interpolate(..., mode="bilinear", antialias=True,
/// align_corners=False)`, the same as PIL's).
///
/// With scale s = input / output, output sample i is centred at c = s·(i + ½) in input
/// coordinates; the triangle filter has support σ = max(s, 1) and taps on inputs
/// j ∈ [trunc(c − σ + ½), trunc(c + σ + ½)) ∩ [0, input), weighted
/// max(0, 1 − |(j + ½ − c)/σ|) and normalised to sum 1. When s ≤ 1 this is plain bilinear
/// interpolation with half-pixel centres; when s > 1 the filter widens to average every covered
/// input pixel (antialiasing).
///
/// Every output has `taps` weights (unused ones 0), so a consumer may run all of them.
/// The buffers are kept between calls and only grow; recomputing for the same sizes is skipped.
public final class ResizeWeights {
    /// Input samples the weights were computed for.
    public private(set) var input = 0
    /// Output samples the weights were computed for.
    public private(set) var output = 0
    /// Stride between the weight rows of two outputs (the most taps any output can have).
    public private(set) var taps = 0
    /// First input index of each output; valid for `output` entries.
    public private(set) var starts: UnsafeMutablePointer<Int>
    /// Number of taps of each output (at least 1); valid for `output` entries.
    public private(set) var counts: UnsafeMutablePointer<Int>
    /// Weights, `output` rows of `taps`; row i holds `counts[i]` weights summing to 1, then zeros.
    public var weights: UnsafeMutablePointer<Float> { storage.data }
    private var capacity = 0
    private let storage = Tensor(shape: [0])

    /// Empty weights; call `update` before use.
    public init() {
        starts = .allocate(capacity: 1)
        counts = .allocate(capacity: 1)
    }

    deinit {
        starts.deallocate()
        counts.deallocate()
    }

    /// Computes the weights of a resize from `input` to `output` samples (both ≥ 1).
    public func update(input: Int, output: Int) {
        precondition(input >= 1 && output >= 1, "ResizeWeights: \(input) -> \(output)")
        if input == self.input && output == self.output { return }
        if output > capacity {
            starts.deallocate()
            counts.deallocate()
            starts = .allocate(capacity: output)
            counts = .allocate(capacity: output)
            capacity = output
        }
        let scale = Double(input) / Double(output)
        let support = max(scale, 1)
        // Enlarging (s ≤ 1), the window [trunc(c − ½), trunc(c + 1½)) holds two inputs.
        let taps = scale <= 1 ? 2 : Int(support.rounded(.up)) * 2 + 1
        if storage.capacity < output * taps { storage.resize([output * taps]) }
        for i in 0..<output {
            let center = scale * (Double(i) + 0.5)
            let low = min(max(Int(center - support + 0.5), 0), input - 1)
            let high = max(min(Int(center + support + 0.5), input), low + 1)
            let row = storage.data + i * taps
            var total = 0.0
            let n = min(high - low, taps)
            for t in 0..<n {
                let w = max(0, 1 - abs((Double(low + t) + 0.5 - center) / support))
                row[t] = Float(w)
                total += w
            }
            if total > 0 {
                let inverse = Float(1 / total)
                for t in 0..<n { row[t] *= inverse }
            } else {
                row[0] = 1
            }
            for t in n..<taps { row[t] = 0 }
            starts[i] = low
            counts[i] = n
        }
        self.input = input
        self.output = output
        self.taps = taps
    }
}
