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
        try exportText(buffer, capacity, needed) { try RunConfiguration(json: text).json.text }
    }
}

/// Writes the configuration's schema (every field and every method, as JSON) into `buffer`.
@_cdecl("dcl_config_schema")
public func dcl_config_schema(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported {
        try exportText(buffer, capacity, needed) { ConfigurationSchema.json.text }
    }
}
