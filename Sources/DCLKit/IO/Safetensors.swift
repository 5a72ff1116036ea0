#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
/// header `{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}`, then
/// the tensors' bytes back to back. dclkit writes float32 ("F32") little-endian tensors in name
/// order; it reads F32, F64, F16, BF16, I64 and I32 tensors, converting them to float32.
///
/// Files are hostile. Reading opens without blocking (a FIFO or device is refused, not waited
/// on), checks the file is a regular file, and validates the whole header against the file's
/// real size (`fstat`) before anything is allocated: every shape's element and byte counts are
/// overflow-checked, and the tensors' byte ranges must tile the data section exactly. Tensors
/// are then read one at a time (`pread`), so the file is never held whole in memory.
///
/// Writes are atomic: the bytes go to a new, unnamed file in the target's folder (`O_TMPFILE`;
/// where the file system lacks it, a fresh name with a random suffix created exclusively,
/// `O_CREAT | O_EXCL | O_NOFOLLOW`), are flushed with fsync, and the file is then renamed over
/// the target. No existing file or planted symlink is ever opened for writing, two saves to one
/// path never share a temporary, and every failure removes the temporary, so a failed or killed
/// write leaves the previous file whole.
public enum Safetensors {
    /// Largest header accepted when reading (100 MB, as the reference implementation).
    public static let maximumHeaderBytes = 100_000_000

    /// One tensor of a file's header: its name, dtype, shape and byte range in the data section.
    public struct Entry: Equatable {
        /// The tensor's name.
        public let name: String
        /// The safetensors dtype ("F32", "F64", "F16", "BF16", "I64", "I32").
        public let dtype: String
        /// The shape.
        public let shape: [Int]
        /// Number of elements (product of `shape`).
        public let count: Int
        /// First byte, relative to the data section.
        public let begin: Int
        /// One past the last byte, relative to the data section.
        public let end: Int
    }

    /// An open safetensors file whose header has been read and validated; tensors are read on
    /// demand. Closes the file when released.
    public final class File {
        /// Where the file is.
        public let path: FilePath
        /// The tensors, in the order of their data.
        public let entries: [Entry]
        /// The string metadata.
        public let metadata: [String: String]
        private let descriptor: Int32
        private let dataStart: Int

        /// Opens `path` and validates its header; throws `IOFailure`.
        public init(_ path: FilePath) throws {
            self.path = path
            let fd = try path.withCString { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { throw IOFailure.io("cannot open \(path): \(errnoText())") }
            descriptor = fd
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                close(fd)
                throw IOFailure.io("cannot stat \(path): \(errnoText())")
            }
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                throw IOFailure.io("\(path) is not a regular file")
            }
            do {
                (entries, metadata, dataStart) = try File.header(fd, size: Int(info.st_size), path: path)
            } catch {
                close(fd)
                throw error
            }
        }

        deinit { close(descriptor) }

        /// Elements in all tensors together.
        public var elementCount: Int { entries.reduce(0) { $0 + $1.count } }

        /// The tensor of `entry` as float32; throws `IOFailure` when the file can no longer be
        /// read and `TensorError` when the tensor cannot be allocated.
        public func tensor(_ entry: Entry) throws -> Tensor {
            let tensor = try Tensor.zeros(entry.shape)
            let elementBytes = (entry.end - entry.begin) / max(entry.count, 1)
            let chunkElements = max(1, (1 << 20) / max(elementBytes, 1))
            var chunk = [UInt8](repeating: 0, count: min(entry.end - entry.begin, chunkElements * elementBytes))
            var done = 0
            while done < entry.count {
                let n = min(chunkElements, entry.count - done)
                try File.readAll(descriptor, &chunk, count: n * elementBytes, at: dataStart + entry.begin + done * elementBytes, path: path)
                chunk.withUnsafeBytes { raw in
                    for i in 0..<n { tensor[done + i] = decodeElement(raw, at: i * elementBytes, dtype: entry.dtype) }
                }
                done += n
            }
            return tensor
        }

        /// Every tensor by name; throws `TensorError.outOfMemory` without reading when their
        /// float32 copies would not fit the machine's physical memory.
        public func tensors() throws -> [String: Tensor] {
            let bytes = Tensor.product([elementCount, MemoryLayout<Float>.stride]) ?? Int.max
            let memory = Tensor.physicalMemoryBytes
            guard memory == 0 || bytes <= memory else { throw TensorError.outOfMemory(bytes: bytes) }
            var tensors: [String: Tensor] = [:]
            for entry in entries { tensors[entry.name] = try tensor(entry) }
            return tensors
        }

        /// Reads and validates the header of the open file of `size` bytes.
        private static func header(_ fd: Int32, size: Int, path: FilePath) throws
            -> (entries: [Entry], metadata: [String: String], dataStart: Int)
        {
            guard size >= 8 else { throw IOFailure.format("\(path) is too short to be a safetensors file") }
            var prefix = [UInt8](repeating: 0, count: 8)
            try readAll(fd, &prefix, count: 8, at: 0, path: path)
            var length: UInt64 = 0
            for i in 0..<8 { length |= UInt64(prefix[i]) << (8 * UInt64(i)) }
            guard length <= UInt64(maximumHeaderBytes), Int(length) <= size - 8 else {
                throw IOFailure.format("\(path): header length \(length) does not fit the file (\(size) bytes)")
            }
            var text = [UInt8](repeating: 0, count: Int(length))
            try readAll(fd, &text, count: text.count, at: 8, path: path)
            let dataStart = 8 + Int(length)
            guard case .object(let members) = try JSON.parse(text) else {
                throw IOFailure.format("\(path): header is not a JSON object")
            }
            var entries: [Entry] = []
            var metadata: [String: String] = [:]
            var names = Set<String>()
            for (name, value) in members {
                guard names.insert(name).inserted else { throw IOFailure.format("\(path): \"\(name)\" appears twice") }
                if name == "__metadata__" {
                    guard case .object(let pairs) = value else { throw IOFailure.format("\(path): __metadata__ is not an object") }
                    for (key, item) in pairs {
                        guard case .string(let s) = item else { throw IOFailure.format("\(path): metadata \(key) is not a string") }
                        metadata[key] = s
                    }
                } else {
                    entries.append(try entry(name, value, path: path))
                }
            }
            entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
            var position = 0
            for e in entries {
                guard e.begin == position else {
                    throw IOFailure.format("\(path): tensor \(e.name) starts at byte \(e.begin) of the data, expected \(position) "
                                           + "(tensors must follow each other without gaps or overlaps)")
                }
                position = e.end
            }
            guard position == size - dataStart else {
                throw IOFailure.format("\(path): the tensors take \(position) bytes but the file holds \(size - dataStart) after its header")
            }
            return (entries, metadata, dataStart)
        }

        /// One header entry, with its shape and byte range checked (no overflow, bytes = count × dtype size).
        private static func entry(_ name: String, _ value: JSON, path: FilePath) throws -> Entry {
            guard case .string(let dtype)? = value["dtype"], case .array(let dims)? = value["shape"],
                  case .array(let offsets)? = value["data_offsets"], offsets.count == 2 else {
                throw IOFailure.format("\(path): tensor \(name) lacks dtype, shape or data_offsets")
            }
            guard let elementBytes = elementSize[dtype] else {
                throw IOFailure.format("\(path): tensor \(name) has unsupported dtype \(dtype)")
            }
            guard dims.count <= 16 else { throw IOFailure.format("\(path): tensor \(name) has \(dims.count) dimensions") }
            let shape = try dims.map { try wholeNumber($0, "a dimension of tensor \(name)", path) }
            let begin = try wholeNumber(offsets[0], "the data offset of tensor \(name)", path)
            let end = try wholeNumber(offsets[1], "the data offset of tensor \(name)", path)
            guard let count = Tensor.product(shape), let bytes = Tensor.product([count, elementBytes]) else {
                throw IOFailure.format("\(path): tensor \(name) of shape \(shape) is too large to address")
            }
            guard end >= begin, end - begin == bytes else {
                throw IOFailure.format("\(path): tensor \(name) has \(end - begin) bytes for shape \(shape) of \(dtype)")
            }
            return Entry(name: name, dtype: dtype, shape: shape, count: count, begin: begin, end: end)
        }

        private static func wholeNumber(_ value: JSON, _ what: String, _ path: FilePath) throws -> Int {
            guard case .number(let x) = value, let n = FileNumbers.integer(x, in: 0...FileNumbers.exactIntegerLimit) else {
                throw IOFailure.format("\(path): \(what) is not a whole number in [0, 2^53]")
            }
            return n
        }

        /// Fills the first `count` bytes of `buffer` from `offset`; a short file is a format error.
        private static func readAll(_ fd: Int32, _ buffer: inout [UInt8], count: Int, at offset: Int, path: FilePath) throws {
            var done = 0
            try buffer.withUnsafeMutableBytes { raw in
                while done < count {
                    let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { throw IOFailure.io("cannot read \(path): \(errnoText())") }
                    guard n > 0 else { throw IOFailure.format("\(path) was truncated while it was read") }
                    done += n
                }
            }
        }
    }

    /// Bytes per element of each dtype read.
    private static let elementSize: [String: Int] = ["F32": 4, "I32": 4, "F64": 8, "I64": 8, "F16": 2, "BF16": 2]

    /// Reads every tensor (as float32) and the string metadata of the file at `path`.
    /// Throws `IOFailure`, or `TensorError.outOfMemory` when the tensors cannot be held.
    public static func read(from path: FilePath) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try File(path)
        return (try file.tensors(), file.metadata)
    }

    /// Writes `tensors` and string `metadata` to `path` atomically (see the type's notes).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to path: FilePath) throws {
        var seen = Set<String>()
        for (name, _) in tensors {
            guard !name.isEmpty, name != "__metadata__", !name.utf8.contains(0), seen.insert(name).inserted else {
                throw IOFailure.format("tensor name \"\(name)\" is empty, reserved, repeated or holds a NUL byte")
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
        try AtomicFile.write(to: path) { fd, name in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try writeAll(fd, $0.baseAddress!, 8, name) }
            try header.withUnsafeBytes { try writeAll(fd, $0.baseAddress!, header.count, name) }
            for (_, tensor) in ordered where tensor.count > 0 {
                try writeAll(fd, UnsafeRawPointer(tensor.data), tensor.count * 4, name)
            }
        }
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

    private static func writeAll(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int, _ path: FilePath) throws {
        var done = 0
        while done < count {
            let n = Glibc.write(fd, pointer + done, count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw IOFailure.io("cannot write \(path): \(errnoText())") }
            done += n
        }
    }
}
