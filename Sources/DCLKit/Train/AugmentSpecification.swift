/// The `augment` field of a run: a preset name ("simclr", "mocov2") or an object with a
/// "pipeline" key (default: the method family's preset) and overrides, resolved into the
/// `AugmentConfiguration` the trainer's pipeline runs.
///
/// Object keys: `strength` (SimCLR's colour strength s, in [0, 2.5]; simclr only), `blur`
/// (probability), `normalize` ("cifar10", "imagenet", null for levels / 255, or [mean, std]
/// with three numbers each), and any parameter of `AugmentConfiguration` by its snake_case name:
/// `scale`, `ratio`, `sigma` ([min, max]); `flip`, `jitter`, `grayscale`, `solarize`
/// (probabilities); `brightness`, `contrast`, `saturation` (a number a ≥ 0 for
/// [max(0, 1 − a), 1 + a], or [min, max]); `hue` (a in [0, 0.5] for [−a, a], or [min, max]);
/// `kernel_size` (odd, or null for about 10% of the side); `solarize_threshold`.
///
/// The normalisation defaults to CIFAR-10's statistics for images up to 64 pixels and
/// ImageNet's above, when `normalize` is not given.
///
/// ```swift
/// let spec = try AugmentSpecification(.string("simclr"), size: 32, defaultPreset: "simclr")
/// let pipeline = AugmentPipeline(spec.configuration)
/// ```
public struct AugmentSpecification {
    /// The preset names.
    public static let presets = ["simclr", "mocov2"]

    /// The field as it is written back into the completed configuration (the name, or the
    /// object with "pipeline" filled in).
    public let json: JSON
    /// The pipeline's parameters.
    public let configuration: AugmentConfiguration

    /// The augmentation of `value` (nil or null: the family's preset) for views of `size`.
    public init(_ value: JSON?, size: Int, defaultPreset: String) throws {
        let given = value ?? .string(defaultPreset)
        let normalization: Normalization = size <= 64 ? .cifar10 : .imagenet
        switch given {
        case .string(let name):
            guard AugmentSpecification.presets.contains(name) else {
                throw ConfigurationError.value("unknown augment \"\(name)\"; choose one of simclr, mocov2, or an object with a \"pipeline\" key")
            }
            configuration = name == "simclr"
                ? .simclr(size: size, normalization: normalization) : .mocoV2(size: size, normalization: normalization)
            json = given
        case .object:
            var fields = try ConfigurationFields(given, prefix: "augment.")
            let pipeline = try fields.string("pipeline", default: defaultPreset, choices: AugmentSpecification.presets)
            var c = try AugmentSpecification.preset(pipeline, size: size, fields: &fields, normalization: normalization)
            try AugmentSpecification.override(&c, with: &fields)
            try fields.rejectUnknown()
            if let problem = c.problem { throw ConfigurationError.value("augment: \(problem)") }
            configuration = c
            guard case .object(let members) = given else { preconditionFailure("matched above") }
            json = .object(members.contains { $0.0 == "pipeline" } ? members : [("pipeline", .string(pipeline))] + members)
        default:
            throw ConfigurationError.type("augment must be null, \"simclr\", \"mocov2\" or an object, got \(JSON.kind(of: given))")
        }
    }

    private static func preset(_ name: String, size: Int, fields: inout ConfigurationFields,
                               normalization fallback: Normalization) throws -> AugmentConfiguration {
        let normalization = try statistics(fields.member("normalize"), fallback: fallback)
        guard name == "simclr" else {
            if fields.raw("strength") != nil { throw ConfigurationError.value("augment.strength applies to the simclr pipeline only") }
            var c = AugmentConfiguration.mocoV2(size: size, normalization: normalization)
            c.blur = try fields.number("blur", default: c.blur, in: probability)
            return c
        }
        let strength = try fields.number("strength", default: 1, in: NumberRange(low: 0, high: 2.5, openLow: false, openHigh: false))
        let blur = try fields.number("blur", default: AugmentConfiguration.simclr(size: size).blur, in: probability)
        return .simclr(size: size, strength: strength, blur: blur, normalization: normalization)
    }

    private static let probability = NumberRange(low: 0, high: 1, openLow: false, openHigh: false)

    private static func override(_ c: inout AugmentConfiguration, with fields: inout ConfigurationFields) throws {
        func pair(_ key: String, _ current: ClosedRange<Double>) throws -> ClosedRange<Double> {
            guard let value = fields.raw(key) else { return current }
            return try interval(value, fields.name(key))
        }
        func chance(_ key: String, _ current: Double) throws -> Double {
            try fields.number(key, default: current, in: probability)
        }
        func factors(_ key: String, _ current: ClosedRange<Double>, hue: Bool = false) throws -> ClosedRange<Double> {
            guard let value = fields.raw(key) else { return current }
            if case .array = value { return try interval(value, fields.name(key)) }
            let a = try ConfigurationFields.finite(value, fields.name(key))
            let limit = hue ? 0.5 : Double.greatestFiniteMagnitude
            guard a >= 0, a <= limit else { throw ConfigurationError.value("\(fields.name(key)) must be in [0, \(hue ? "0.5" : "inf")), got \(a)") }
            return hue ? ColorJitter.hueRange(a) : ColorJitter.factorRange(a)
        }
        c.scale = try pair("scale", c.scale)
        c.ratio = try pair("ratio", c.ratio)
        c.flip = try chance("flip", c.flip)
        c.jitter = try chance("jitter", c.jitter)
        c.brightness = try factors("brightness", c.brightness)
        c.contrast = try factors("contrast", c.contrast)
        c.saturation = try factors("saturation", c.saturation)
        c.hue = try factors("hue", c.hue, hue: true)
        c.grayscale = try chance("grayscale", c.grayscale)
        c.sigma = try pair("sigma", c.sigma)
        if let k = fields.raw("kernel_size") {
            c.kernelSize = try ConfigurationFields.integer(k, fields.name("kernel_size"), low: 1, high: 2 * AugmentConfiguration.maximumSize + 1)
        }
        c.solarize = try chance("solarize", c.solarize)
        c.solarizeThreshold = try fields.number("solarize_threshold", default: c.solarizeThreshold,
                                                in: NumberRange(low: 0, high: 255, openLow: false, openHigh: false))
    }

    private static func interval(_ value: JSON, _ name: String) throws -> ClosedRange<Double> {
        guard case .array(let items) = value, items.count == 2 else {
            throw ConfigurationError.type("\(name) must be [min, max], got \(JSON.kind(of: value))")
        }
        let low = try ConfigurationFields.finite(items[0], name + "[0]")
        let high = try ConfigurationFields.finite(items[1], name + "[1]")
        guard low <= high else { throw ConfigurationError.value("\(name) must be an increasing range (min <= max), got [\(low), \(high)]") }
        return low...high
    }

    private static func statistics(_ value: JSON?, fallback: Normalization) throws -> Normalization {
        guard let value else { return fallback }
        switch value {
        case .null: return .unit
        case .string("cifar10"): return .cifar10
        case .string("imagenet"): return .imagenet
        case .array(let parts) where parts.count == 2:
            func three(_ part: JSON, _ name: String) throws -> SIMD3<Double> {
                guard case .array(let xs) = part, xs.count == 3 else {
                    throw ConfigurationError.type("augment.normalize \(name) must be 3 numbers (RGB), got \(JSON.kind(of: part))")
                }
                return SIMD3(try xs.enumerated().map { try ConfigurationFields.finite($0.element, "augment.normalize \(name)[\($0.offset)]") })
            }
            let std = try three(parts[1], "std")
            guard std.min() > 0 else { throw ConfigurationError.value("augment.normalize std must be positive, got \(std)") }
            return Normalization(mean: try three(parts[0], "mean"), std: std)
        default:
            throw ConfigurationError.value("augment.normalize must be \"cifar10\", \"imagenet\", null or [mean, std], got \(JSON.kind(of: value))")
        }
    }
}
