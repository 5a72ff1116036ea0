/// One field of the run configuration as the core declares it: its JSON name, its type with the
/// range or choices a value must meet, its default (a value, or the rule that computes it from
/// fields read before it) and a one-line doc. `RunConfiguration` reads every field through its
/// declaration (`ConfigurationFields.read`), the completed JSON is written from what was read,
/// and `ConfigurationSchema` publishes the declarations (`dcl_config_schema`), so the reader, the
/// writer, the schema and Python's generated fields have one source.
///
/// ```swift
/// static let queueSize = ConfigurationField("queue_size", .integer(low: 1, high: 1 << 24),
///                                           default: .value(.number(65536)), doc: "K, the queue length")
/// ```
public struct ConfigurationField {
    /// The JSON type of a field and what its values must meet.
    public enum Kind {
        /// A JSON number without a fraction in `low...high`.
        case integer(low: Int, high: Int)
        /// A finite JSON number in the range.
        case number(NumberRange)
        /// One of the strings.
        case choice([String])
        /// true or false.
        case bool
        /// null or a pair of integers in `low...high` (`head_dims`).
        case integerPair(low: Int, high: Int)
        /// A preset name or an object of overrides (`augment`; see `AugmentSpecification`).
        case augmentation
    }

    /// Where a field's default comes from.
    public enum Default {
        /// A fixed value.
        case value(JSON)
        /// Computed from other fields; the text states the rule ("0.06 × batch_size / 256").
        case rule(String)
    }

    /// The JSON name (snake_case).
    public let name: String
    /// The type and what its values must meet.
    public let kind: Kind
    /// The default.
    public let defaultValue: Default
    /// One line for humans (CLI help, docstrings, the README).
    public let doc: String

    /// A field declaration.
    public init(_ name: String, _ kind: Kind, default defaultValue: Default, doc: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.doc = doc
    }

    /// The field's declaration as a JSON object for the schema: name, type, default or
    /// default_rule, range or choices, doc; `methods` names the methods that use it (null: all).
    func schema(methods: [String]?) -> JSON {
        var members: [(String, JSON)] = [("name", .string(name))]
        switch kind {
        case .integer(let low, let high):
            members += [("type", .string("integer")), ("range", .array([.number(Double(low)), .number(Double(high))]))]
        case .number(let range):
            members += [("type", .string("number")), ("range", range.json)]
        case .choice(let choices):
            members += [("type", .string("string")), ("choices", .array(choices.map { .string($0) }))]
        case .bool:
            members.append(("type", .string("bool")))
        case .integerPair(let low, let high):
            members += [("type", .string("integer_pair")), ("range", .array([.number(Double(low)), .number(Double(high))]))]
        case .augmentation:
            members += [("type", .string("augmentation")), ("choices", .array(AugmentSpecification.presets.map { .string($0) }))]
        }
        switch defaultValue {
        case .value(let value): members.append(("default", value))
        case .rule(let text): members.append(("default_rule", .string(text)))
        }
        members.append(("methods", methods.map { .array($0.map { .string($0) }) } ?? .null))
        members.append(("doc", .string(doc)))
        return .object(members)
    }
}

extension NumberRange {
    /// The interval as JSON: {"low", "high", "open_low", "open_high"}, an infinite bound as null.
    var json: JSON {
        .object([("low", .number(low)), ("high", high.isFinite ? .number(high) : .null),
                 ("open_low", .bool(openLow)), ("open_high", .bool(openHigh))])
    }
}

extension ConfigurationFields {
    /// The value of `field` (the given member, checked against the declaration, or `fallback`
    /// for a rule's default), recorded for the completed configuration.
    mutating func read(_ field: ConfigurationField, default fallback: JSON? = nil) throws -> JSON {
        let given = raw(field.name)
        let value: JSON
        if let given {
            value = try check(given, against: field)
        } else if case .value(let fixed) = field.defaultValue {
            value = fixed
        } else {
            guard let fallback else { preconditionFailure("ConfigurationFields: \(field.name) has a rule default and none was given") }
            value = fallback
        }
        complete(field.name, value)
        return value
    }

    /// `field`'s value as an Int (an `integer` field).
    mutating func integer(_ field: ConfigurationField, default fallback: Int? = nil) throws -> Int {
        guard case .number(let x) = try read(field, default: fallback.map { .number(Double($0)) }) else {
            preconditionFailure("ConfigurationFields: \(field.name) is not an integer field")
        }
        return Int(x)
    }

    /// `field`'s value as a Double (a `number` field).
    mutating func number(_ field: ConfigurationField, default fallback: Double? = nil) throws -> Double {
        guard case .number(let x) = try read(field, default: fallback.map { .number($0) }) else {
            preconditionFailure("ConfigurationFields: \(field.name) is not a number field")
        }
        return x
    }

    /// `field`'s value as a String (a `choice` field).
    mutating func string(_ field: ConfigurationField, default fallback: String? = nil) throws -> String {
        guard case .string(let s) = try read(field, default: fallback.map { .string($0) }) else {
            preconditionFailure("ConfigurationFields: \(field.name) is not a choice field")
        }
        return s
    }

    /// `field`'s value as a Bool (a `bool` field).
    mutating func bool(_ field: ConfigurationField) throws -> Bool {
        guard case .bool(let b) = try read(field) else { preconditionFailure("ConfigurationFields: \(field.name) is not a bool field") }
        return b
    }

    /// `value` checked against `field`'s kind; throws a `ConfigurationError` naming the field.
    private func check(_ value: JSON, against field: ConfigurationField) throws -> JSON {
        let name = self.name(field.name)
        switch field.kind {
        case .integer(let low, let high):
            return .number(Double(try ConfigurationFields.integer(value, name, low: low, high: high)))
        case .number(let range):
            let x = try ConfigurationFields.finite(value, name)
            guard range.contains(x) else { throw ConfigurationError.value("\(name) must be \(range), got \(x)") }
            return .number(x)
        case .choice(let choices):
            guard case .string(let s) = value else {
                throw ConfigurationError.type("\(name) must be a string, one of \(choices.joined(separator: ", ")), got \(JSON.kind(of: value))")
            }
            guard choices.contains(s) else {
                throw ConfigurationError.value("unknown \(name) \"\(s)\"; choose one of \(choices.joined(separator: ", "))")
            }
            return value
        case .bool:
            guard case .bool = value else { throw ConfigurationError.type("\(name) must be true or false, got \(JSON.kind(of: value))") }
            return value
        case .integerPair(let low, let high):
            guard case .array(let items) = value, items.count == 2 else {
                throw ConfigurationError.type("\(name) must be null or [hidden, out], got \(JSON.kind(of: value))")
            }
            return .array([.number(Double(try ConfigurationFields.integer(items[0], "\(name)[0] (hidden)", low: low, high: high))),
                           .number(Double(try ConfigurationFields.integer(items[1], "\(name)[1] (out)", low: low, high: high)))])
        case .augmentation:
            return value  // AugmentSpecification checks it
        }
    }
}
