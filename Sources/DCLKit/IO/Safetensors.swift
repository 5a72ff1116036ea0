#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
/// header `{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}`, then
/// the tensors' bytes back to back. dclkit writes float32 ("F32") little-endian tensors in name
/// order; it reads F32, F64, F16, BF16, I64 and I32 tensors, converting them to float32.
///
/// Writes are atomic: the file is written to a temporary name beside the target, flushed with
/// fsync, then renamed over the target, so a process killed mid-write leaves the previous file whole.
public enum Safetensors {
    /// Largest header accepted when reading (100 MB, as the reference implementation).
    public static let maximumHeaderBytes = 100_000_000

    /// Writes `tensors` and string `metadata` to `path` atomically.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to path: String) throws {
        var seen = Set<String>()
        for (name, _) in tensors {
            guard !name.isEmpty, name != "__metadata__", seen.insert(name).inserted else {
                throw IOFailure.format("tensor name \"\(name)\" is empty, reserved or repeated")
            }
        }
        let ordered = tensors.sorted { $0.name < $1.name }
        var members: [(String, JSON)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for (name, tensor) in ordered {
            let bytes = tensor.count * 4
            members.append((name, .object([
                ("dtype", .string("F32")),
                ("shape", .array(tensor.shape.map { .number(Double($0)) })),
                ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + bytes))])),
            ])))
            offset += bytes
        }
        var header = Array(JSON.object(members).text.utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw IOFailure.io("cannot create \(temporary): \(errnoText())") }
        var closed = false
        defer {
            if !closed { close(fd); unlink(temporary) }
        }
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try writeAll(fd, $0.baseAddress!, 8, temporary) }
        try header.withUnsafeBytes { try writeAll(fd, $0.baseAddress!, header.count, temporary) }
        for (_, tensor) in ordered where tensor.count > 0 {
            try writeAll(fd, UnsafeRawPointer(tensor.data), tensor.count * 4, temporary)
        }
        guard fsync(fd) == 0 else { throw IOFailure.io("cannot flush \(temporary): \(errnoText())") }
        closed = true
        guard close(fd) == 0 else { unlink(temporary); throw IOFailure.io("cannot close \(temporary): \(errnoText())") }
        guard rename(temporary, path) == 0 else {
            let message = errnoText()
            unlink(temporary)
            throw IOFailure.io("cannot rename \(temporary) to \(path): \(message)")
        }
        syncDirectory(of: path)
    }

    /// Reads every tensor (as float32) and the string metadata of the file at `path`.
    public static func read(from path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let bytes = try readFile(path)
        guard bytes.count >= 8 else { throw IOFailure.format("\(path) is too short to be a safetensors file") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(maximumHeaderBytes), 8 + Int(length) <= bytes.count else {
            throw IOFailure.format("\(path): header length \(length) does not fit the file (\(bytes.count) bytes)")
        }
        let headerEnd = 8 + Int(length)
        let header = try JSON.parse(Array(bytes[8..<headerEnd]))
        guard case .object(let members) = header else { throw IOFailure.format("\(path): header is not a JSON object") }
        let dataCount = bytes.count - headerEnd
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = entry else { throw IOFailure.format("\(path): __metadata__ is not an object") }
                for (key, value) in pairs {
                    guard case .string(let s) = value else { throw IOFailure.format("\(path): metadata \(key) is not a string") }
                    metadata[key] = s
                }
                continue
            }
            let tensor = try decodeTensor(name, entry, bytes: bytes, dataStart: headerEnd, dataCount: dataCount, path: path)
            tensors[name] = tensor
        }
        return (tensors, metadata)
    }

    private static func decodeTensor(_ name: String, _ entry: JSON, bytes: [UInt8], dataStart: Int, dataCount: Int, path: String) throws -> Tensor {
        guard case .string(let dtype)? = entry["dtype"], case .array(let dims)? = entry["shape"],
              case .array(let offsets)? = entry["data_offsets"], offsets.count == 2 else {
            throw IOFailure.format("\(path): tensor \(name) lacks dtype, shape or data_offsets")
        }
        var shape: [Int] = []
        for d in dims {
            guard case .number(let x) = d, x >= 0, x == x.rounded(), x < 1e12 else {
                throw IOFailure.format("\(path): tensor \(name) has a bad shape")
            }
            shape.append(Int(x))
        }
        guard case .number(let b) = offsets[0], case .number(let e) = offsets[1],
              b >= 0, e >= b, e <= Double(dataCount), b == b.rounded(), e == e.rounded() else {
            throw IOFailure.format("\(path): tensor \(name) has data_offsets outside the file")
        }
        let begin = Int(b), end = Int(e)
        let elementBytes: Int
        switch dtype {
        case "F32", "I32": elementBytes = 4
        case "F64", "I64": elementBytes = 8
        case "F16", "BF16": elementBytes = 2
        default: throw IOFailure.format("\(path): tensor \(name) has unsupported dtype \(dtype)")
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw IOFailure.format("\(path): tensor \(name) is too large") }
            count = product
        }
        guard count * elementBytes == end - begin else {
            throw IOFailure.format("\(path): tensor \(name) has \(end - begin) bytes for shape \(shape) of \(dtype)")
        }
        let tensor = Tensor(shape: shape)
        let base = dataStart + begin
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let p = base + i * elementBytes
                tensor[i] = decodeElement(raw, at: p, dtype: dtype)
            }
        }
        return tensor
    }

    private static func decodeElement(_ raw: UnsafeRawBufferPointer, at p: Int, dtype: String) -> Float {
        switch dtype {
        case "F32": return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
        case "F64": return Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt64.self))))
        case "I64": return Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: Int64.self)))
        case "I32": return Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: Int32.self)))
        case "BF16":
            let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt16.self))
            return Float(bitPattern: UInt32(bits) << 16)
        default:
            let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt16.self))
            return halfToFloat(bits)
        }
    }

    /// IEEE half-precision bits to Float.
    private static func halfToFloat(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let value = Float(mantissa) * 0x1p-24
            return sign != 0 ? -value : value
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }

    private static func writeAll(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int, _ path: String) throws {
        var done = 0
        while done < count {
            let n = Glibc.write(fd, pointer + done, count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw IOFailure.io("cannot write \(path): \(errnoText())") }
            done += n
        }
    }

    private static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw IOFailure.io("cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw IOFailure.io("cannot stat \(path): \(errnoText())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw IOFailure.io("\(path) is not a regular file") }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let n = Glibc.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw IOFailure.io("cannot read \(path): \(errnoText())") }
                done += n
            }
        }
        return bytes
    }

    /// fsync of the folder holding `path`, so the rename itself survives a crash (best effort).
    private static func syncDirectory(of path: String) {
        let folder: String
        if let slash = path.lastIndex(of: "/") {
            folder = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            folder = "."
        }
        let fd = open(folder, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private static func errnoText() -> String {
        guard let s = strerror(errno) else { return "error \(errno)" }
        return String(cString: s)
    }
}
