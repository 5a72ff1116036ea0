/// Writes `text` into a caller's buffer the C way: sets `*needed` to its UTF-8 length plus one
/// (so callers can retry with a larger buffer) and, when `buffer` is non-null and `capacity` > 0,
/// copies as many bytes as fit before a terminating NUL (truncated to `capacity − 1`).
func writeText(
    _ text: String, into buffer: UnsafeMutablePointer<CChar>?, capacity: Int64, needed: UnsafeMutablePointer<Int64>
) {
    let bytes = Array(text.utf8)
    needed.pointee = Int64(bytes.count + 1)
    guard let buffer, capacity > 0 else { return }
    let n = min(bytes.count, Int(capacity) - 1)
    for i in 0..<n { buffer[i] = CChar(bitPattern: bytes[i]) }
    buffer[n] = 0
}

/// Checks the arguments of a text output (`needed` non-null, `capacity` ≥ 0), then writes
/// `text()` with `writeText`.
func exportText(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64, _ needed: UnsafeMutablePointer<Int64>?,
                _ text: () throws -> String) throws {
    let needed = try Arguments.out(needed, name: "needed")
    guard capacity >= 0 else { throw ABIError.invalid("capacity must be at least 0, got \(capacity)") }
    writeText(try text(), into: buffer, capacity: capacity, needed: needed)
}
