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
struct ConfigurationFields {
    private let members: [(String, JSON)]
    private let prefix: String
    /// The names read so far, to report unknown members.
    private(set) var known: [String] = []

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

    /// The full name of `key` in messages.
    func name(_ key: String) -> String { prefix + key }

    /// Throws for the first member that no read asked for.
    func rejectUnknown() throws {
        let unknown = members.map(\.0).filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw ConfigurationError.value("unknown field\(unknown.count > 1 ? "s" : "") \(unknown.map { prefix + $0 }.joined(separator: ", "))")
        }
    }

    /// A string member, which must be one of `choices` when given.
    mutating func string(_ key: String, default fallback: String, choices: [String]) throws -> String {
        guard let value = raw(key) else { return fallback }
        guard case .string(let s) = value else {
            throw ConfigurationError.type("\(name(key)) must be a string, one of \(choices.joined(separator: ", ")), got \(JSON.kind(of: value))")
        }
        guard choices.contains(s) else {
            throw ConfigurationError.value("unknown \(name(key)) \"\(s)\"; choose one of \(choices.joined(separator: ", "))")
        }
        return s
    }

    /// A finite number member in `range`.
    mutating func number(_ key: String, default fallback: Double, in range: NumberRange) throws -> Double {
        guard let value = raw(key) else { return fallback }
        let x = try ConfigurationFields.finite(value, name(key))
        guard range.contains(x) else { throw ConfigurationError.value("\(name(key)) must be \(range), got \(x)") }
        return x
    }

    /// An integer member in `low...high`.
    mutating func integer(_ key: String, default fallback: Int, low: Int, high: Int) throws -> Int {
        guard let value = raw(key) else { return fallback }
        return try ConfigurationFields.integer(value, name(key), low: low, high: high)
    }

    /// A boolean member.
    mutating func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = raw(key) else { return fallback }
        guard case .bool(let b) = value else { throw ConfigurationError.type("\(name(key)) must be true or false, got \(JSON.kind(of: value))") }
        return b
    }

    /// `value` as a finite number named `name`.
    static func finite(_ value: JSON, _ name: String) throws -> Double {
        if case .string(let s) = value, ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"].contains(s) {
            throw ConfigurationError.value("\(name) must be a finite number, got \(s)")
        }
        guard case .number(let x) = value else { throw ConfigurationError.type("\(name) must be a number, got \(JSON.kind(of: value))") }
        guard x.isFinite else { throw ConfigurationError.value("\(name) must be a finite number, got \(x)") }
        return x
    }

    /// `value` as an integer in `low...high` named `name`.
    static func integer(_ value: JSON, _ name: String, low: Int, high: Int) throws -> Int {
        if case .bool = value { throw ConfigurationError.type("\(name) must be an integer, got a bool") }
        let x = try finite(value, name)
        guard x == x.rounded() else { throw ConfigurationError.type("\(name) must be an integer, got \(x)") }
        guard abs(x) < 0x1p53 else { throw ConfigurationError.value("\(name) must be below 2^53 in magnitude, got \(x)") }
        guard x >= Double(low), x <= Double(high) else {
            throw ConfigurationError.value("\(name) must be an integer in [\(low), \(high)], got \(Int(x))")
        }
        return Int(x)
    }
}

/// An interval of allowed numbers, written as in messages ("in (0, 1]", "a positive number").
struct NumberRange: CustomStringConvertible {
    let low: Double
    let high: Double
    let openLow: Bool
    let openHigh: Bool

    /// x > 0.
    static let positive = NumberRange(low: 0, high: .infinity, openLow: true, openHigh: true)
    /// x ≥ 0.
    static let nonNegative = NumberRange(low: 0, high: .infinity, openLow: false, openHigh: true)
    /// 0 ≤ x < 1 (momentum coefficients).
    static let unitOpen = NumberRange(low: 0, high: 1, openLow: false, openHigh: true)

    /// Whether `x` lies in the interval.
    func contains(_ x: Double) -> Bool {
        (openLow ? x > low : x >= low) && (openHigh ? x < high : x <= high)
    }

    var description: String {
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
