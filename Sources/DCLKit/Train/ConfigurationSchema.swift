/// The run configuration described by the core itself, as JSON (`dcl_config_schema`): every
/// field with its type, default (or the rule of a derived default), range or choices, the methods
/// that use it and a one-line doc, and every method of the registry with its family, label,
/// summary, paper, defaults, settings and checkpoint entries. Python's generated `TrainConfig`
/// fields, the CLI's flags and the report's labels are made from it.
///
/// A field several families declare (τ) appears once, with the methods of all of them; when
/// their defaults differ, its `default_rule` lists them per method.
public enum ConfigurationSchema {
    /// The schema's format version.
    public static let version = 1

    /// The schema as a JSON object: {"version", "fields": [...], "methods": [...]}.
    public static var json: JSON {
        var fields: [JSON] = RunConfiguration.sharedFields.map { $0.schema(methods: nil) }
        var methodFieldNames: [String] = []
        for entry in MethodRegistry.all {
            for field in entry.settingsFields where !methodFieldNames.contains(field.name) {
                methodFieldNames.append(field.name)
            }
        }
        for name in methodFieldNames {
            let declarations = MethodRegistry.all.compactMap { entry in
                entry.settingsFields.first { $0.name == name }.map { (entry.name, $0) }
            }
            let (_, first) = declarations[0]
            var field = first
            if case .value(let value) = first.defaultValue, declarations.contains(where: { !sameDefault($0.1.defaultValue, value) }) {
                let rule = declarations.map { method, declaration -> String in
                    guard case .value(let v) = declaration.defaultValue else { return method }
                    return "\(method) \(v.text)"
                }
                field = ConfigurationField(name, first.kind, default: .rule("per method: " + rule.joined(separator: ", ")), doc: first.doc)
            }
            fields.append(field.schema(methods: declarations.map(\.0)))
        }
        return .object([
            ("version", .number(Double(version))),
            ("fields", .array(fields)),
            ("methods", .array(MethodRegistry.all.map(\.schema))),
        ])
    }

    private static func sameDefault(_ given: ConfigurationField.Default, _ value: JSON) -> Bool {
        if case .value(let other) = given { return other == value }
        return false
    }
}
