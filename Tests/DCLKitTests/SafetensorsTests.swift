import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// The safetensors reader and writer, and the atomic-write promise.
final class SafetensorsTests: XCTestCase {
    private let folder = "/tmp/dclkit-safetensors-tests-\(getpid())"
    private var created: [String] = []

    private func temporaryPath(_ name: String) -> String {
        mkdir(folder, 0o755)
        created.append(folder + "/" + name)
        return folder + "/" + name
    }

    override func tearDown() {
        for path in created { unlink(path) }
        rmdir(folder)
    }

    func test_write_then_read_round_trips_tensors_and_metadata() throws {
        let path = temporaryPath("round.safetensors")
        let a = Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-7, -1e30])
        let b = Tensor(shape: [4], values: [9, 8, 7, 6])
        let empty = Tensor(shape: [0, 5])
        try Safetensors.write([("b", b), ("a.weight", a), ("empty", empty)],
                              metadata: ["config": "{\"arch\": \"resnet18\"}", "epoch": "3"], to: FilePath(path))
        let (tensors, metadata) = try Safetensors.read(from: FilePath(path))
        XCTAssertEqual(Set(tensors.keys), ["a.weight", "b", "empty"])
        XCTAssertEqual(tensors["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(tensors["a.weight"]?.toArray(), a.toArray())
        XCTAssertEqual(tensors["b"]?.toArray(), [9, 8, 7, 6])
        XCTAssertEqual(tensors["empty"]?.shape, [0, 5])
        XCTAssertEqual(metadata, ["config": "{\"arch\": \"resnet18\"}", "epoch": "3"])
    }

    func test_header_is_eight_byte_aligned_json_with_offsets_in_order() throws {
        let path = temporaryPath("layout.safetensors")
        try Safetensors.write([("x", Tensor(shape: [3], values: [1, 2, 3])), ("w", Tensor(shape: [1], values: [4]))],
                              metadata: [:], to: FilePath(path))
        let f = fopen(path, "rb")!
        defer { fclose(f) }
        var length: UInt64 = 0
        fread(&length, 8, 1, f)
        XCTAssertEqual(length % 8, 0)
        var header = [UInt8](repeating: 0, count: Int(length))
        fread(&header, 1, Int(length), f)
        let json = try JSON.parse(header)
        XCTAssertEqual(json["w"]?["data_offsets"], .array([.number(0), .number(4)]))
        XCTAssertEqual(json["x"]?["data_offsets"], .array([.number(4), .number(16)]))
        XCTAssertEqual(json["x"]?["dtype"], .string("F32"))
    }

    func test_truncated_or_garbage_files_are_format_errors() throws {
        let path = temporaryPath("bad.safetensors")
        try Safetensors.write([("x", Tensor(shape: [8]))], metadata: [:], to: FilePath(path))
        truncate(path, 20)
        XCTAssertThrowsError(try Safetensors.read(from: FilePath(path))) { error in
            guard case IOFailure.format = error else { return XCTFail("\(error)") }
        }
        let f = fopen(path, "wb")!
        fputs("not a safetensors file at all", f)
        fclose(f)
        XCTAssertThrowsError(try Safetensors.read(from: FilePath(path)))
        XCTAssertThrowsError(try Safetensors.read(from: FilePath(temporaryPath("missing.safetensors")))) { error in
            guard case IOFailure.io = error else { return XCTFail("\(error)") }
        }
    }

    /// A write that fails part-way (here: the target folder vanishes) leaves the old file whole.
    func test_failed_write_leaves_previous_file_loadable() throws {
        let path = temporaryPath("keep.safetensors")
        try Safetensors.write([("x", Tensor(shape: [2], values: [1, 2]))], metadata: ["v": "1"], to: FilePath(path))
        XCTAssertThrowsError(try Safetensors.write([("x", Tensor(shape: [2])), ("x", Tensor(shape: [2]))],
                                                   metadata: [:], to: FilePath(path)))
        XCTAssertThrowsError(try Safetensors.write([("y", Tensor(shape: [2]))], metadata: [:],
                                                   to: FilePath(temporaryPath("no-such-folder/keep.safetensors"))))
        let (tensors, metadata) = try Safetensors.read(from: FilePath(path))
        XCTAssertEqual(tensors["x"]?.toArray(), [1, 2])
        XCTAssertEqual(metadata["v"], "1")
    }

    func test_json_parses_escapes_numbers_and_nesting() throws {
        let text = #"{"a": [1, -2.5e3, true, null], "b": "x\"\\\u00e9\ud83d\ude00", "c": {}}"#
        let value = try JSON.parse(Array(text.utf8))
        XCTAssertEqual(value["a"], .array([.number(1), .number(-2500), .bool(true), .null]))
        XCTAssertEqual(value["b"], .string("x\"\\é😀"))
        XCTAssertEqual(try JSON.parse(Array(value.text.utf8)), value)
        XCTAssertThrowsError(try JSON.parse(Array("{\"a\": }".utf8)))
        XCTAssertThrowsError(try JSON.parse(Array("[1, 2".utf8)))
    }
}
