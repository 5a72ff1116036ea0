import XCTest
@testable import DCLKit

/// Augmentations: identities and invariants of each operation, determinism of the pipeline,
/// and the statistics of its random choices.
final class AugmentTests: XCTestCase {
    /// Random uint8 pixels, `count` of them.
    private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = CounterRNG(seed: seed)
        return (0..<count).map { _ in UInt8(rng.below(256)) }
    }

    /// Applies `operation` to an interleaved (height, width, 3) image and returns the result.
    private func transformed(_ pixels: [UInt8], height: Int, width: Int,
                             _ operation: (RGBImage, AugmentScratch) -> Void) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                ImageBatch.map(input.baseAddress!, count: 1, height: height, width: width,
                               into: output.baseAddress!, operation)
            }
        }
        return out
    }

    func test_flip_twice_is_identity_and_once_mirrors_columns() {
        let (h, w) = (5, 7)
        let image = randomBytes(h * w * 3, seed: 1)
        let once = transformed(image, height: h, width: w) { image, _ in Flip.horizontal(image) }
        XCTAssertEqual(Array(once[0..<3]), Array(image[(w - 1) * 3..<w * 3]))
        let twice = transformed(once, height: h, width: w) { image, _ in Flip.horizontal(image) }
        XCTAssertEqual(twice, image)
    }

    func test_full_image_crop_at_the_same_size_is_identity() {
        for (h, w) in [(6, 9), (1, 1), (13, 4)] {
            let image = randomBytes(h * w * 3, seed: UInt64(h * w))
            var out = [UInt8](repeating: 0, count: image.count)
            image.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    ImageBatch.resizedCrop(input.baseAddress!, count: 1, height: h, width: w, channels: 3,
                                           region: CropRegion(top: 0, left: 0, height: h, width: w),
                                           outputHeight: h, outputWidth: w, into: output.baseAddress!)
                }
            }
            XCTAssertEqual(out, image, "\(h)×\(w)")
        }
    }

    /// Shrinking by two widens the triangle filter to four input pixels (weights ¾, ¾, ¼, ¼ around
    /// each output), so stripes of 0 and 200 average to 100 away from the edges; at the edge the
    /// filter is cut and renormalised, (¾·0 + ¾·200 + ¼·0) / 1.75 = 85.7 → 86 (PIL and PyTorch agree).
    func test_shrinking_by_two_antialiases_stripes_to_their_mean() {
        let (h, w) = (4, 8)
        var image = [UInt8](repeating: 0, count: h * w * 3)
        for y in 0..<h { for x in stride(from: 1, to: w, by: 2) { for c in 0..<3 { image[(y * w + x) * 3 + c] = 200 } } }
        var out = [UInt8](repeating: 0, count: 2 * 4 * 3)
        image.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                ImageBatch.resizedCrop(input.baseAddress!, count: 1, height: h, width: w, channels: 3,
                                       region: CropRegion(top: 0, left: 0, height: h, width: w),
                                       outputHeight: 2, outputWidth: 4, into: output.baseAddress!)
            }
        }
        for y in 0..<2 {
            let row = Array(out[y * 12..<(y + 1) * 12])
            XCTAssertEqual(row, [86, 86, 86, 100, 100, 100, 100, 100, 100, 114, 114, 114])
        }
    }

    func test_resize_weights_sum_to_one_and_stay_inside_the_input() {
        let weights = ResizeWeights()
        for (input, output) in [(7, 3), (3, 7), (5, 5), (1, 4), (32, 1), (100, 9)] {
            weights.update(input: input, output: output)
            for i in 0..<output {
                var sum: Float = 0
                for t in 0..<weights.taps { sum += weights.weights[i * weights.taps + t] }
                XCTAssertEqual(sum, 1, accuracy: 1e-5, "\(input)->\(output) output \(i)")
                XCTAssertGreaterThanOrEqual(weights.starts[i], 0)
                XCTAssertLessThanOrEqual(weights.starts[i] + weights.counts[i], input)
            }
        }
    }

    func test_factor_one_is_identity_for_every_jitter_op() {
        let (h, w) = (6, 5)
        let image = randomBytes(h * w * 3, seed: 2)
        let ops: [(String, (RGBImage) -> Void)] = [
            ("brightness", { ColorJitter.adjustBrightness($0, factor: 1) }),
            ("contrast", { ColorJitter.adjustContrast($0, factor: 1) }),
            ("saturation", { ColorJitter.adjustSaturation($0, factor: 1) }),
            ("hue 0", { ColorJitter.adjustHue($0, factor: 0) }),
        ]
        for (name, op) in ops {
            XCTAssertEqual(transformed(image, height: h, width: w) { image, _ in op(image) }, image, name)
        }
    }

    /// A hue shift of +½ and one of −½ are the same half turn of the hue circle.
    func test_hue_half_turns_wrap_to_the_same_image() {
        let (h, w) = (7, 3)
        let image = randomBytes(h * w * 3, seed: 3)
        let plus = transformed(image, height: h, width: w) { image, _ in ColorJitter.adjustHue(image, factor: 0.5) }
        let minus = transformed(image, height: h, width: w) { image, _ in ColorJitter.adjustHue(image, factor: -0.5) }
        XCTAssertEqual(plus, minus)
        XCTAssertNotEqual(plus, image)
    }

    /// Pure red turned by a third of the circle is pure green; gray pixels keep their level.
    func test_hue_rotates_primaries_and_keeps_grays() {
        let image: [UInt8] = [255, 0, 0, 90, 90, 90]
        let out = transformed(image, height: 1, width: 2) { image, _ in ColorJitter.adjustHue(image, factor: 1.0 / 3.0) }
        XCTAssertEqual(out, [0, 255, 0, 90, 90, 90])
    }

    func test_grayscale_writes_truncated_luma_to_three_channels() {
        let image: [UInt8] = [255, 255, 255, 10, 200, 30]
        let out = transformed(image, height: 1, width: 2) { image, _ in Grayscale.apply(image) }
        // 0.2989 + 0.587 + 0.114 = 0.9999: white becomes 254, as in torchvision's tensor path.
        let luma: Double = 0.2989 * 10 + 0.587 * 200 + 0.114 * 30
        let second = UInt8(luma.rounded(.down))
        XCTAssertEqual(out, [254, 254, 254, second, second, second])
    }

    func test_blur_keeps_a_constant_image_and_its_kernel_sums_to_one() {
        let (h, w) = (9, 11)
        let image = [UInt8](repeating: 77, count: h * w * 3)
        for size in [1, 3, 9, 31] {
            let out = transformed(image, height: h, width: w) { image, scratch in
                GaussianBlur.apply(image, size: size, sigma: 1.7, scratch: scratch)
            }
            XCTAssertEqual(out, image, "kernel \(size)")
        }
        var kernel = [Float](repeating: 0, count: 9)
        kernel.withUnsafeMutableBufferPointer { GaussianBlur.kernel(size: 9, sigma: 0.8, into: $0.baseAddress!) }
        XCTAssertEqual(kernel.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(kernel[0], kernel[8])
        XCTAssertEqual([GaussianBlur.defaultKernelSize(side: 32), GaussianBlur.defaultKernelSize(side: 96),
                        GaussianBlur.defaultKernelSize(side: 224)], [3, 9, 23])
    }

    func test_solarize_inverts_levels_at_or_above_the_threshold() {
        let image: [UInt8] = [0, 127, 128, 255, 200, 3]
        let out = transformed(image, height: 1, width: 2) { image, _ in Solarize.apply(image, threshold: 128) }
        XCTAssertEqual(out, [0, 127, 127, 0, 55, 3])
    }

    func test_random_regions_fit_and_respect_the_ranges() {
        var rng = CounterRNG(seed: 4)
        for _ in 0..<500 {
            let r = ResizedCrop.randomRegion(height: 40, width: 50, scale: 0.08...1, ratio: 0.75...(4.0 / 3.0), rng: &rng)
            XCTAssertTrue(r.fits(height: 40, width: 50), "\(r)")
            let area = Double(r.height * r.width) / 2000
            XCTAssertGreaterThan(area, 0.05)
            let ratio = Double(r.width) / Double(r.height)
            XCTAssertGreaterThan(ratio, 0.6)
            XCTAssertLessThan(ratio, 1.6)
        }
    }

    /// A 10×100 strip cannot hold a crop of 90% of its area with ratio ≤ 4/3: the ten tries fail
    /// and torchvision's fallback takes the centred crop of full height and width = round(10·4/3).
    func test_random_region_falls_back_to_the_clamped_centre_crop() {
        var rng = CounterRNG(seed: 5)
        let r = ResizedCrop.randomRegion(height: 10, width: 100, scale: 0.9...1, ratio: 0.75...(4.0 / 3.0), rng: &rng)
        XCTAssertEqual(r, CropRegion(top: 0, left: (100 - 13) / 2, height: 10, width: 13))
    }

    // MARK: - Pipeline

    private func views(_ pipeline: AugmentPipeline, _ images: [UInt8], count: Int, side: Int, channels: Int = 3,
                       indices: [Int]? = nil, epoch: UInt64 = 0) -> (Tensor, Tensor) {
        let view0 = Tensor(shape: [0]), view1 = Tensor(shape: [0])
        images.withUnsafeBufferPointer { pixels in
            if let indices {
                indices.withUnsafeBufferPointer {
                    pipeline.views(of: pixels.baseAddress!, count: count, height: side, width: side, channels: channels,
                                   seed: 9, epoch: epoch, indices: $0.baseAddress, into: view0, view1)
                }
            } else {
                pipeline.views(of: pixels.baseAddress!, count: count, height: side, width: side, channels: channels,
                               seed: 9, epoch: epoch, into: view0, view1)
            }
        }
        return (view0, view1)
    }

    func test_views_are_the_same_for_any_thread_count() {
        let (n, side) = (9, 12)
        let images = randomBytes(n * side * side * 3, seed: 6)
        let pipeline = AugmentPipeline(.simclr(size: 10, normalization: .cifar10))
        let before = Threads.count
        defer { Threads.setCount(before) }
        Threads.setCount(1)
        let (a0, a1) = views(pipeline, images, count: n, side: side)
        Threads.setCount(4)
        let (b0, b1) = views(pipeline, images, count: n, side: side)
        XCTAssertEqual(a0.shape, [n, 10, 10, 3])
        XCTAssertEqual(a0.toArray(), b0.toArray())
        XCTAssertEqual(a1.toArray(), b1.toArray())
    }

    func test_the_two_views_of_a_sample_differ_and_epochs_differ() {
        let (n, side) = (4, 12)
        let images = randomBytes(n * side * side * 3, seed: 7)
        let pipeline = AugmentPipeline(.mocoV2(size: 8))
        let (v0, v1) = views(pipeline, images, count: n, side: side)
        let stride = 8 * 8 * 3
        for i in 0..<n {
            XCTAssertNotEqual(Array(v0.buffer[i * stride..<(i + 1) * stride]), Array(v1.buffer[i * stride..<(i + 1) * stride]), "sample \(i)")
        }
        let (next, _) = views(pipeline, images, count: n, side: side, epoch: 1)
        XCTAssertNotEqual(v0.toArray(), next.toArray())
    }

    /// Views are keyed by the sample's index, not its row: row 0 with index 3 gets row 3's views.
    func test_indices_key_the_views() {
        let (n, side) = (4, 10)
        let images = randomBytes(n * side * side * 3, seed: 8)
        let pipeline = AugmentPipeline(.simclr(size: 6))
        let (all0, all1) = views(pipeline, images, count: n, side: side)
        let last = Array(images[3 * side * side * 3..<n * side * side * 3])
        let (one0, one1) = views(pipeline, last, count: 1, side: side, indices: [3])
        let stride = 6 * 6 * 3
        XCTAssertEqual(one0.toArray(), Array(all0.buffer[3 * stride..<4 * stride]))
        XCTAssertEqual(one1.toArray(), Array(all1.buffer[3 * stride..<4 * stride]))
    }

    /// A grayscale batch gives the views of the RGB batch with three equal channels.
    func test_grayscale_input_is_replicated_to_rgb() {
        let (n, side) = (3, 9)
        let gray = randomBytes(n * side * side, seed: 10)
        let rgb = gray.flatMap { [$0, $0, $0] }
        let pipeline = AugmentPipeline(.simclr(size: 7))
        let (g0, g1) = views(pipeline, gray, count: n, side: side, channels: 1)
        let (c0, c1) = views(pipeline, rgb, count: n, side: side)
        XCTAssertEqual(g0.toArray(), c0.toArray())
        XCTAssertEqual(g1.toArray(), c1.toArray())
    }

    /// Without any random operation a view is the normalised image: (v/255 − mean)/std.
    func test_normalisation_uses_the_given_statistics() {
        let side = 4
        let images = randomBytes(side * side * 3, seed: 11)
        var config = AugmentConfiguration(size: side, scale: 1...1, ratio: 1...1, flip: 0, jitter: 0,
                                          grayscale: 0, blur: 0, normalization: .cifar10)
        config.solarize = 0
        let (v0, _) = views(AugmentPipeline(config), images, count: 1, side: side)
        let stats = Normalization.cifar10
        for i in 0..<images.count {
            let c = i % 3
            let expected = (Double(images[i]) / 255 - stats.mean[c]) / stats.std[c]
            XCTAssertEqual(Double(v0[i]), expected, accuracy: 1e-5)
        }
    }

    /// 10,000 draws: each probability holds within 2 percentage points (the binomial standard
    /// deviation at p = 0.5 is 0.5%, so 2% is four deviations).
    func test_probabilities_hold_over_ten_thousand_draws() {
        let config = AugmentConfiguration.simclr(size: 32)
        var flips = 0, jitters = 0, grays = 0, blurs = 0
        var orders = Set<SIMD4<Int32>>()
        let draws = 10_000
        for i in 0..<draws {
            var rng = CounterRNG(seed: 12, epoch: 0, index: UInt64(i), view: 0)
            let p = ViewParameters.draw(config, height: 32, width: 32, rng: &rng)
            flips += p.flip ? 1 : 0
            grays += p.grayscale ? 1 : 0
            blurs += p.blurSigma == nil ? 0 : 1
            if let j = p.jitter {
                jitters += 1
                orders.insert(j.order)
                XCTAssertTrue((0.2...1.8).contains(Double(j.brightness!)))
                XCTAssertTrue((-0.2...0.2).contains(Double(j.hue!)))
            }
            if let s = p.blurSigma { XCTAssertTrue((0.1...2).contains(s)) }
        }
        let rate = { (k: Int) in Double(k) / Double(draws) }
        XCTAssertEqual(rate(flips), 0.5, accuracy: 0.02)
        XCTAssertEqual(rate(jitters), 0.8, accuracy: 0.02)
        XCTAssertEqual(rate(grays), 0.2, accuracy: 0.02)
        XCTAssertEqual(rate(blurs), 0.5, accuracy: 0.02)
        XCTAssertEqual(orders.count, 24, "every order of the four adjustments occurs")
    }

    func test_identity_ranges_skip_their_adjustment() {
        var rng = CounterRNG(seed: 13)
        let f = ColorJitter.draw(brightness: 1...1, contrast: 0.5...1.5, saturation: 1...1, hue: 0...0, rng: &rng)
        XCTAssertNil(f.brightness)
        XCTAssertNotNil(f.contrast)
        XCTAssertNil(f.saturation)
        XCTAssertNil(f.hue)
        let range = ColorJitter.factorRange(0.8)
        XCTAssertEqual(range.lowerBound, 0.2, accuracy: 1e-12)
        XCTAssertEqual(range.upperBound, 1.8, accuracy: 1e-12)
        XCTAssertEqual(ColorJitter.factorRange(1.5), 0...2.5)
    }

    func test_configuration_problems_name_the_parameter() {
        XCTAssertNil(AugmentConfiguration.simclr(size: 32).problem)
        XCTAssertNil(AugmentConfiguration.mocoV2(size: 224).problem)
        var c = AugmentConfiguration(size: 32)
        c.flip = 1.5
        XCTAssertTrue(c.problem?.hasPrefix("flip") ?? false)
        c = AugmentConfiguration(size: 0)
        XCTAssertTrue(c.problem?.hasPrefix("size") ?? false)
        c = AugmentConfiguration(size: 8, hue: -0.6...0.1)
        XCTAssertTrue(c.problem?.hasPrefix("hue") ?? false)
        c = AugmentConfiguration(size: 8, kernelSize: 4)
        XCTAssertTrue(c.problem?.hasPrefix("kernel_size") ?? false)
        c = AugmentConfiguration(size: 8, normalization: Normalization(mean: [0, 0, 0], std: [1, 0, 1]))
        XCTAssertTrue(c.problem?.hasPrefix("std") ?? false)
    }
}
