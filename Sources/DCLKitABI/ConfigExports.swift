import DCLKit

// The run configuration on its own: complete a JSON object (defaults filled in) or report its
// first error, without building anything. See the Configuration section of dclkit.h.

/// Writes the completed configuration of the JSON object `config` into `buffer`.
@_cdecl("dcl_config_resolve")
public func dcl_config_resolve(
    _ config: UnsafePointer<CChar>?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?
) -> Int32 {
    exported {
        let text = try Arguments.string(config, name: "config")
        try exportText(buffer, capacity, needed) { try translatingRunErrors { try RunConfiguration(json: text) }.json.text }
    }
}

/// Runs `body`, turning the run's errors into ABI errors: a configuration field of the wrong
/// JSON type is a type error, any other broken rule an invalid argument; a `TrainingError` keeps
/// its kind (value, state, format); the rest goes through `translatingErrors`.
func translatingRunErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ConfigurationError {
        throw error.kind == .type ? ABIError.type(error.description) : ABIError.invalid(error.description)
    } catch let error as TrainingError {
        switch error.kind {
        case .value: throw ABIError.invalid(error.description)
        case .state: throw ABIError.state(error.description)
        case .format: throw ABIError.format(error.description)
        }
    } catch {
        return try translatingErrors { throw error }
    }
}

/// Writes the configuration's schema (every field and every method, as JSON) into `buffer`.
@_cdecl("dcl_config_schema")
public func dcl_config_schema(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported {
        try exportText(buffer, capacity, needed) { ConfigurationSchema.json.text }
    }
}
