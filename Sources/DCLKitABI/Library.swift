import DCLKit

/// dclkit's version, also reported by `dcl_version` and the Python package.
private let staticVersion: StaticString = "0.1.0"
let libraryVersion = "\(staticVersion)"

/// The Swift compiler that built the library, as "major.minor" (`compiler(...)`, not the
/// language mode, which is 5 here).
let swiftVersion: String = {
    #if compiler(>=6.5)
    return "6.5+"
    #elseif compiler(>=6.4)
    return "6.4"
    #elseif compiler(>=6.3)
    return "6.3"
    #elseif compiler(>=6.2)
    return "6.2"
    #elseif compiler(>=6.1)
    return "6.1"
    #else
    return "6.0"
    #endif
}()

/// The library version as a static C string.
@_cdecl("dcl_version")
public func dcl_version() -> UnsafePointer<CChar> {
    UnsafeRawPointer(staticVersion.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The calling thread's last error message, or null when the last call succeeded.
@_cdecl("dcl_last_error")
public func dcl_last_error() -> UnsafePointer<CChar>? {
    LastError.pointer
}

/// Writes a JSON object describing the build into `buffer` (NUL-terminated, truncated to `capacity`).
/// Sets `*needed` to the full length plus one so callers can retry with a larger buffer.
@_cdecl("dcl_native_info")
public func dcl_native_info(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?) -> Int32 {
    exported {
        let needed = try Arguments.out(needed, name: "needed")
        let json = """
        {"version": "\(libraryVersion)", "swift": "\(swiftVersion)", "blas": "OpenBLAS", \
        "blas_config": "\(jsonEscaped(BLAS.configuration))", "blas_core": "\(jsonEscaped(BLAS.coreName))", \
        "blas_core_detected": "\(jsonEscaped(BLAS.detectedCoreName))", \
        "num_threads": \(Threads.count), "max_threads": \(Threads.maximum), "cpu_features": [\(SIMDDispatch.cpuFeatures.map { "\"\($0)\"" }.joined(separator: ", "))], \
        "simd": "\(SIMDDispatch.level)", "matmul_precision": "\(MatmulPrecision.current.rawValue)"}
        """
        writeText(json, into: buffer, capacity: capacity, needed: needed)
    }
}

/// Sets the thread count used by BLAS and by the library's parallel loops,
/// 1 ≤ n ≤ `Threads.maximum` (4 × the online cores, at most 256; `max_threads` in `dcl_native_info`).
@_cdecl("dcl_set_num_threads")
public func dcl_set_num_threads(_ n: Int32) -> Int32 {
    exported {
        guard n >= 1, Int(n) <= Threads.maximum else {
            throw ABIError.invalid("num_threads must be between 1 and \(Threads.maximum) (4 x this machine's cores, " +
                                   "at most 256), got \(n)")
        }
        Threads.setCount(Int(n))
    }
}

/// Sets the process-wide precision of the convolutions' large products, "float32" (the default)
/// or "bfloat16" (`MatmulPrecision`; `matmul_precision` in `dcl_native_info`).
@_cdecl("dcl_set_matmul_precision")
public func dcl_set_matmul_precision(_ precision: UnsafePointer<CChar>?) -> Int32 {
    exported {
        let name = try Arguments.string(precision, name: "precision")
        guard let value = MatmulPrecision(rawValue: name) else {
            throw ABIError.invalid("precision must be one of \(MatmulPrecision.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")), "
                                   + "got '\(name)'")
        }
        MatmulPrecision.current = value
    }
}

/// The thread count in use.
@_cdecl("dcl_get_num_threads")
public func dcl_get_num_threads() -> Int32 {
    Int32(Threads.count)
}

private func jsonEscaped(_ s: String) -> String {
    var out = ""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where ch.value < 0x20: out += " "
        default: out.unicodeScalars.append(ch)
        }
    }
    return out.trimmingTrailingSpaces()
}

private extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
