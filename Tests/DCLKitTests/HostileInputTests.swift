import Dispatch
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// Hostile files, paths, sizes and arguments reach an error, never a trap, a hang or a clobbered file.
final class HostileInputTests: XCTestCase {
    private let folder = "/tmp/dclkit-hostile-tests-\(getpid())"

    override func setUp() { mkdir(folder, 0o755) }

    override func tearDown() {
        if let d = opendir(folder) {
            while let e = readdir(d) {
                var name = withUnsafeBytes(of: e.pointee.d_name) { Array($0.bindMemory(to: CChar.self).prefix { $0 != 0 }) }
                guard name != [46] && name != [46, 46] else { continue }
                name = Array((folder + "/").utf8CString.dropLast()) + name + [0]
                unlink(name)
                rmdir(name)
            }
            closedir(d)
        }
        rmdir(folder)
    }

    private func path(_ name: String) -> FilePath { FilePath(folder + "/" + name) }

    /// The names in the test folder.
    private func listing() -> [String] {
        var names: [String] = []
        guard let d = opendir(folder) else { return names }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(d)
        return names.sorted()
    }

    /// Writes a safetensors file with the given header text followed by `dataBytes` zero bytes.
    private func craft(_ name: String, header: String, dataBytes: Int) -> FilePath {
        let target = path(name)
        var bytes: [UInt8] = []
        var length = UInt64(header.utf8.count)
        for _ in 0..<8 { bytes.append(UInt8(length & 0xFF)); length >>= 8 }
        bytes += Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes)
        let f = fopen(target.description, "wb")!
        fwrite(bytes, 1, bytes.count, f)
        fclose(f)
        return target
    }

    private func assertFormatError(_ file: FilePath, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try Safetensors.read(from: file), line: line) { error in
            guard case IOFailure.format(let message) = error else { return XCTFail("\(error)", line: line) }
            XCTAssertTrue(message.contains(fragment), message, line: line)
        }
    }

    func test_headers_that_do_not_fit_the_file_are_refused_before_allocating() {
        // A shape whose element count overflows Int, and one whose byte count does.
        assertFormatError(craft("a", header: #"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, dataBytes: 4),
                          "too large")
        assertFormatError(craft("b", header: #"{"x":{"dtype":"F64","shape":[1099511627776,4194304],"data_offsets":[0,8]}}"#, dataBytes: 8),
                          "too large")
        // A huge tensor whose offsets claim bytes the file does not have.
        assertFormatError(craft("c", header: #"{"x":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#, dataBytes: 16),
                          "after its header")
        // Overlapping, gapped and inconsistent ranges.
        assertFormatError(craft("d", header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12),
                          "without gaps or overlaps")
        assertFormatError(craft("e", header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, dataBytes: 16),
                          "without gaps or overlaps")
        assertFormatError(craft("f", header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8),
                          "bytes for shape")
        assertFormatError(craft("g", header: #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4),
                          "whole number")
        assertFormatError(craft("h", header: #"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, dataBytes: 4),
                          "whole number")
        assertFormatError(craft("i", header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}}"#, dataBytes: 4),
                          "whole number")
        // A header length beyond the file.
        let j = craft("j", header: "{}", dataBytes: 0)
        let f = fopen(j.description, "r+b")!
        var huge = UInt64(1 << 40).littleEndian
        fwrite(&huge, 8, 1, f)
        fclose(f)
        assertFormatError(j, "does not fit the file")
    }

    func test_a_fifo_is_refused_without_blocking() throws {
        let fifo = path("pipe.safetensors")
        XCTAssertEqual(mkfifo(fifo.description, 0o644), 0)
        XCTAssertThrowsError(try Safetensors.read(from: fifo)) { error in
            guard case IOFailure.io(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("not a regular file"), message)
        }
        XCTAssertThrowsError(try Encoder.load(from: fifo))
        XCTAssertThrowsError(try Safetensors.read(from: FilePath(folder)))
    }

    func test_save_never_writes_through_a_planted_symlink_and_leaves_no_temporary() throws {
        let victim = folder + "/victim.txt"
        let f = fopen(victim, "w")!
        fputs("keep me", f)
        fclose(f)
        let target = path("model.safetensors")
        // Links at the old predictable temporary name and at the target's dot-name.
        symlink(victim, target.description + ".tmp-\(getpid())")
        symlink(victim, folder + "/.model.safetensors.tmp-0000000000000000")
        try Safetensors.write([("x", Tensor(shape: [3], values: [1, 2, 3]))], metadata: [:], to: target)
        var text = [CChar](repeating: 0, count: 32)
        let g = fopen(victim, "r")!
        fgets(&text, 32, g)
        fclose(g)
        XCTAssertEqual(String(cString: text), "keep me")
        XCTAssertEqual(try Safetensors.read(from: target).tensors["x"]?.toArray(), [1, 2, 3])
        XCTAssertEqual(listing(), [".model.safetensors.tmp-0000000000000000", "model.safetensors",
                                   "model.safetensors.tmp-\(getpid())", "victim.txt"])

        // A failing rename (the target is a folder) removes its temporary too.
        mkdir(folder + "/folder.safetensors", 0o755)
        XCTAssertThrowsError(try Safetensors.write([("x", Tensor(shape: [1]))], metadata: [:], to: path("folder.safetensors")))
        XCTAssertFalse(listing().contains { $0.hasPrefix(".folder.safetensors.tmp-") }, "\(listing())")
    }

    /// A FIFO (standing in for a device such as /dev/null, which root could replace by renaming
    /// over it) is refused by both ways of writing, and stays a FIFO.
    func test_a_target_that_is_not_a_regular_file_is_refused_and_left_alone() throws {
        let fifo = path("pipe.safetensors")
        XCTAssertEqual(mkfifo(fifo.description, 0o644), 0)
        for unnamed in [true, false] {
            XCTAssertThrowsError(try AtomicFile.write(to: fifo, unnamed: unnamed) { fd, _ in _ = Glibc.write(fd, "abc", 3) }) {
                XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)")
            }
        }
        var info = stat()
        XCTAssertEqual(lstat(fifo.description, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO)
        XCTAssertEqual(listing(), ["pipe.safetensors"])
    }

    func test_the_named_fallback_is_exclusive_and_cleans_up() throws {
        let victim = folder + "/victim.txt"
        let f = fopen(victim, "w")!
        fputs("keep me", f)
        fclose(f)
        let target = path("named.bin")
        try AtomicFile.write(to: target, unnamed: false) { fd, _ in _ = Glibc.write(fd, "abc", 3) }
        XCTAssertEqual(listing(), ["named.bin", "victim.txt"])
        struct Refused: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: target, unnamed: false) { _, _ in throw Refused() })
        XCTAssertEqual(listing(), ["named.bin", "victim.txt"], "a failed fill removes its temporary")
        var info = stat()
        stat(target.description, &info)
        XCTAssertEqual(info.st_size, 3, "the failed write left the previous file whole")
        var text = [CChar](repeating: 0, count: 32)
        let g = fopen(victim, "r")!
        fgets(&text, 32, g)
        fclose(g)
        XCTAssertEqual(String(cString: text), "keep me")
    }

    func test_two_writers_of_one_path_never_tear_the_file() throws {
        let target = path("shared.safetensors")
        let values = (0..<2).map { w in Tensor(shape: [1 << 16], values: [Float](repeating: Float(w + 1), count: 1 << 16)) }
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        failures.initialize(repeating: 0, count: 2)
        defer { failures.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            for _ in 0..<10 {
                do {
                    try Safetensors.write([("x", values[w])], metadata: [:], to: target)
                    let x = try Safetensors.read(from: target).tensors["x"]!.toArray()
                    if Set(x).count != 1 { failures[w] += 1 }
                } catch {
                    failures[w] += 1
                }
            }
        }
        XCTAssertEqual(failures[0] + failures[1], 0)
        XCTAssertEqual(listing(), ["shared.safetensors"])
    }

    func test_paths_keep_their_bytes_and_refuse_nul() throws {
        var raw: [CChar] = Array((folder + "/caf").utf8CString.dropLast()) + [CChar(bitPattern: 0xE9), 0]
        let latin1 = raw.withUnsafeBufferPointer { FilePath(cString: $0.baseAddress!) }
        try Safetensors.write([("x", Tensor(shape: [1], values: [5]))], metadata: [:], to: latin1)
        XCTAssertEqual(access(&raw, F_OK), 0, "the file exists under its exact bytes")
        XCTAssertEqual(try Safetensors.read(from: latin1).tensors["x"]?.toArray(), [5])
        XCTAssertThrowsError(try Safetensors.write([("x", Tensor(shape: [1]))], metadata: [:], to: path("keep\0x"))) { error in
            XCTAssertTrue("\(error)".contains("NUL"), "\(error)")
        }
        XCTAssertThrowsError(try Safetensors.write([("a\0b", Tensor(shape: [1]))], metadata: [:], to: path("n")))
        XCTAssertFalse(listing().contains("keep"))
    }

    func test_encoder_load_refuses_values_no_model_has() throws {
        let encoder = Encoder(configuration: try EncoderConfiguration(width: 0.125))
        let good = Dictionary(uniqueKeysWithValues: encoder.stateDict().map { ($0.name, $0.tensor) })
        let before = encoder.stateDict().map { $0.tensor.toArray() }
        let cases: [(String, Float, String)] = [
            ("conv1.weight", .nan, "non-finite"), ("bn1.bias", .infinity, "non-finite"),
            ("bn1.running_var", -1, "negative variance"), ("bn1.num_batches_tracked", .nan, "non-finite"),
            ("bn1.num_batches_tracked", 2.5, "whole number"),
        ]
        for (name, value, fragment) in cases {
            let state = good.mapValues { $0.clone() }
            state[name]![0] = value
            let file = path("bad.safetensors")
            try Safetensors.write(state.map { ($0.key, $0.value) }, metadata: encoder.configuration.metadata, to: file)
            XCTAssertThrowsError(try Encoder.load(from: file)) { error in
                guard case IOFailure.format(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(fragment), message)
            }
            XCTAssertThrowsError(try encoder.loadStateDict(state)) { error in
                guard case EncoderError.invalidState = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(encoder.stateDict().map { $0.tensor.toArray() }, before, "a refused state changes nothing")
    }

    func test_state_count_from_the_configuration_matches_built_encoders() throws {
        for architecture in EncoderConfiguration.Architecture.allCases {
            for stem in EncoderConfiguration.Stem.allCases {
                for head in [nil, EncoderConfiguration.Head.simclr, .moco] {
                    let configuration = try EncoderConfiguration(architecture: architecture, stem: stem, width: 0.0625, head: head,
                                                                 headHidden: 24, headOutput: 8)
                    let built = Encoder(configuration: configuration).stateEntries.reduce(0) { $0 + $1.tensor.count }
                    XCTAssertEqual(Encoder.stateCount(configuration), built, "\(architecture) \(stem) \(String(describing: head))")
                }
            }
        }
        let huge = try EncoderConfiguration(architecture: .resnet50, width: 16, head: .simclr, headHidden: 1 << 16)
        XCTAssertThrowsError(try Encoder.requireMemory(for: huge)) { error in
            guard case TensorError.outOfMemory = error else { return XCTFail("\(error)") }
        }
    }

    func test_a_batch_beyond_the_machine_is_a_memory_error_before_any_layer_allocates() throws {
        let encoder = Encoder(configuration: try EncoderConfiguration(width: 0.0625))
        XCTAssertThrowsError(try encoder.validate(inputShape: [1 << 20, 1 << 10, 1 << 10, 3], training: false)) { error in
            guard case TensorError.outOfMemory = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try encoder.validate(inputShape: [Int.max, 1 << 20, 1 << 20, 3], training: false))
        XCTAssertNoThrow(try encoder.validate(inputShape: [2, 8, 8, 3], training: true))
    }

    func test_metadata_of_a_model_far_larger_than_the_file_is_refused_before_building() throws {
        let huge = try EncoderConfiguration(architecture: .resnet50, width: 16, head: .simclr)
        let file = path("small.safetensors")
        try Safetensors.write([("conv1.weight", Tensor(shape: [4]))], metadata: huge.metadata, to: file)
        XCTAssertThrowsError(try Encoder.load(from: file)) { error in
            XCTAssertTrue("\(error)".contains("values, but the file holds 4"), "\(error)")
        }
    }

    func test_random_crop_is_total_for_extreme_ratios_and_scales() {
        let ratios: [ClosedRange<Double>] = [20...20, 1e-300...1e-300, 1e300...1e300, 1e-300...1e300, 0.05...0.05]
        let scales: [ClosedRange<Double>] = [1e-300...1e-300, 0.08...1, 1...1]
        for (height, width) in [(8, 8), (1, 1), (1, 64), (64, 1), (3, 500)] {
            for ratio in ratios {
                for scale in scales {
                    for index in 0..<4 {
                        var rng = CounterRNG(seed: 3, epoch: 0, index: UInt64(index), view: 0)
                        let region = ResizedCrop.randomRegion(height: height, width: width, scale: scale, ratio: ratio, rng: &rng)
                        XCTAssertTrue(region.fits(height: height, width: width), "\(height)×\(width) \(ratio) \(scale): \(region)")
                    }
                }
            }
        }
    }

    func test_fallible_tensors_throw_for_sizes_the_machine_cannot_hold() {
        XCTAssertThrowsError(try Tensor.zeros([1 << 40, 1 << 20])) { error in
            guard case TensorError.outOfMemory = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Tensor.zeros([1 << 62, 4])) { XCTAssertEqual($0 as? TensorError, .invalidShape([1 << 62, 4])) }
        XCTAssertThrowsError(try Tensor.zeros([2, -1])) { XCTAssertEqual($0 as? TensorError, .invalidShape([2, -1])) }
        let t = Tensor(shape: [2], values: [1, 2])
        XCTAssertThrowsError(try t.resize(checked: [1 << 40, 1 << 20]))
        XCTAssertEqual(t.toArray(), [1, 2], "a failed resize leaves the tensor as it was")
        XCTAssertEqual(Tensor.product([3, 0, Int.max]), 0)
        XCTAssertNil(Tensor.product([Int.max, 2]))
    }
}
