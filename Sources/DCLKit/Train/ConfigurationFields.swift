/// A run configuration that breaks a rule, naming the field (`batch_size`, `augment.scale`, ...).
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    /// Whether the field has the wrong JSON type (`type`) or a wrong value of the right type (`value`).
    public enum Kind: Equatable {
        case type, value
    }

    /// The kind of mistake.
    public let kind: Kind
    /// The message, starting with the field's name.
    public let description: String

    /// A field of the wrong JSON type.
    static func type(_ message: String) -> ConfigurationError { ConfigurationError(kind: .type, description: message) }
    /// A field with a wrong value.
    static func value(_ message: String) -> ConfigurationError { ConfigurationError(kind: .value, description: message) }
}

/// Typed reads of the members of one JSON object, each throwing a `ConfigurationError` that names
/// the field (with `prefix`, such as "augment."). A missing member and `null` both mean "use the
/// default": every read takes the default and returns it when the member is absent.
///
/// Integers are JSON numbers with no fractional part (JSON has one number type, so 8 and 8.0 are
/// the same integer), below 2⁵³ in magnitude so that the double holding them is exact. Numbers are
/// finite; the strings "NaN", "Infinity" and "-Infinity" (how Python's `json` writes non-finite
/// floats) are refused as non-finite values rather than as strings.
public struct ConfigurationFields {
    private let members: [(String, JSON)]
    private let prefix: String
    /// The names read so far, to report unknown members.
    private(set) var known: [String] = []
    /// The completed members so far, in the order they were read (`read` records them).
    private(set) var completed: [(String, JSON)] = []

    /// The reader of `json`, which must be an object; `prefix` is put before every field name.
    init(_ json: JSON, prefix: String = "") throws {
        guard case .object(let members) = json else {
            throw ConfigurationError.type("\(prefix.isEmpty ? "the configuration" : String(prefix.dropLast())) must be a JSON object, got \(JSON.kind(of: json))")
        }
        var seen = Set<String>()
        for (key, _) in members where !seen.insert(key).inserted {
            throw ConfigurationError.value("\(prefix)\(key) is given twice")
        }
        self.members = members
        self.prefix = prefix
    }

    /// The member `key`, or nil when it is absent or null.
    mutating func raw(_ key: String) -> JSON? {
        known.append(key)
        guard let value = members.first(where: { $0.0 == key })?.1, value != .null else { return nil }
        return value
    }

    /// The member `key` as given (null included), or nil when it is absent.
    mutating func member(_ key: String) -> JSON? {
        known.append(key)
        return members.first(where: { $0.0 == key })?.1
    }

    /// Records `value` as the completed value of `key` (replacing an earlier one).
    mutating func complete(_ key: String, _ value: JSON) {
        if let index = completed.firstIndex(where: { $0.0 == key }) {
            completed[index].1 = value
        } else {
            completed.append((key, value))
        }
    }

    /// The full name of `key` in messages.
    func name(_ key: String) -> String { prefix + key }

    /// Throws for the first member that no read asked for. `owners` names the methods that use a
    /// field this configuration's method does not read: such a field may be null (Python's
    /// `TrainConfig` sends every field), and a value for it is refused naming its methods; with
    /// `dropOthers` (a format-2 checkpoint's configuration, which holds every method's fields)
    /// its value is ignored.
    func rejectUnknown(owners: (String) -> [String] = { _ in [] }, dropOthers: Bool = false) throws {
        for (key, value) in members where !known.contains(key) {
            let users = owners(key)
            guard !users.isEmpty else { continue }
            if value != .null && !dropOthers {
                throw ConfigurationError.value("\(prefix)\(key) is a setting of \(users.joined(separator: ", ")), not of this method")
            }
        }
        let unknown = members.map(\.0).filter { !known.contains($0) && owners($0).isEmpty }
        guard unknown.isEmpty else {
            throw ConfigurationError.value("unknown field\(unknown.count > 1 ? "s" : "") \(unknown.map { prefix + $0 }.joined(separator: ", "))")
        }
    }

    /// A string member, which must be one of `choices` when given.
    mutating func string(_ key: String, default fallback: String, choices: [String]) throws -> String {
        try string(ConfigurationField(key, .choice(choices), default: .value(.string(fallback)), doc: ""))
    }

    /// A finite number member in `range`.
    mutating func number(_ key: String, default fallback: Double, in range: NumberRange) throws -> Double {
        try number(ConfigurationField(key, .number(range), default: .value(.number(fallback)), doc: ""))
    }

    /// An integer member in `low...high`.
    mutating func integer(_ key: String, default fallback: Int, low: Int, high: Int) throws -> Int {
        try integer(ConfigurationField(key, .integer(low: low, high: high), default: .value(.number(Double(fallback))), doc: ""))
    }

    /// A boolean member.
    mutating func bool(_ key: String, default fallback: Bool) throws -> Bool {
        try bool(ConfigurationField(key, .bool, default: .value(.bool(fallback)), doc: ""))
    }

    /// `value` as a finite number named `name`.
    static func finite(_ value: JSON, _ name: String) throws -> Double {
        if case .string(let s) = value, ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"].contains(s) {
            throw ConfigurationError.value("\(name) must be a finite number, got \(s)")
        }
        guard case .number(let x) = value else { throw ConfigurationError.type("\(name) must be a number, got \(JSON.kind(of: value))") }
        guard let finite = FileNumbers.finite(x) else { throw ConfigurationError.value("\(name) must be a finite number, got \(x)") }
        return finite
    }

    /// `value` as an integer in `low...high` named `name`.
    static func integer(_ value: JSON, _ name: String, low: Int, high: Int) throws -> Int {
        if case .bool = value { throw ConfigurationError.type("\(name) must be an integer, got a bool") }
        let x = try finite(value, name)
        guard x == x.rounded() else { throw ConfigurationError.type("\(name) must be an integer, got \(x)") }
        guard abs(x) < 0x1p53 else { throw ConfigurationError.value("\(name) must be below 2^53 in magnitude, got \(x)") }
        guard let n = FileNumbers.integer(x, in: low...high) else {
            throw ConfigurationError.value("\(name) must be an integer in [\(low), \(high)], got \(Int(x))")
        }
        return n
    }
}

/// An interval of allowed numbers, written as in messages ("in (0, 1]", "a positive number").
public struct NumberRange: CustomStringConvertible {
    /// The bounds and whether each is excluded.
    public let low: Double
    public let high: Double
    public let openLow: Bool
    public let openHigh: Bool

    /// x > 0.
    public static let positive = NumberRange(low: 0, high: .infinity, openLow: true, openHigh: true)
    /// x ≥ 0.
    public static let nonNegative = NumberRange(low: 0, high: .infinity, openLow: false, openHigh: true)
    /// 0 ≤ x < 1 (momentum coefficients).
    public static let unitOpen = NumberRange(low: 0, high: 1, openLow: false, openHigh: true)

    // The bounded ranges of the hyperparameters that reach the optimiser, the schedule and the
    // losses: every product they take part in (lr × (gradient + wd·w) in float32, the schedule's
    // lr × ½(1 + cos), s/τ, a weight × a loss term) stays finite, so a run's history and
    // checkpoint hold finite numbers only; a value beyond them is refused when the configuration
    // is resolved, naming the field.

    /// A peak learning rate: 0 < lr ≤ 10⁴ (a default rate is at most a few hundred).
    public static let learningRate = NumberRange(low: 0, high: 1e4, openLow: true, openHigh: false)
    /// Weight decay: 0 ≤ wd ≤ 1.
    public static let weightDecay = NumberRange(low: 0, high: 1, openLow: false, openHigh: false)
    /// A temperature of similarities (τ, DCLW's σ): 10⁻³ ≤ τ ≤ 10³, so 1/τ and s/τ stay far inside float32.
    public static let temperature = NumberRange(low: 1e-3, high: 1e3, openLow: false, openHigh: false)
    /// The weight of a loss term (Barlow Twins' λ, VICReg's λ, μ, ν): 0 ≤ w ≤ 10⁴.
    public static let lossWeight = NumberRange(low: 0, high: 1e4, openLow: false, openHigh: false)

    /// Whether `x` lies in the interval.
    public func contains(_ x: Double) -> Bool {
        (openLow ? x > low : x >= low) && (openHigh ? x < high : x <= high)
    }

    public var description: String {
        if high == .infinity { return openLow ? "a positive number" : "a non-negative number" }
        return "in \(openLow ? "(" : "[")\(low), \(high)\(openHigh ? ")" : "]")"
    }
}

extension JSON {
    /// The JSON type of `value` in words, for messages.
    static func kind(of value: JSON) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a bool"
        case .number: return "a number"
        case .string(let s): return "the string \"\(s)\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
