import XCTest
@testable import DCLKit

/// The constants `dclkit.h` states for C and Python callers are the core's own values.
final class HeaderConstantsTests: XCTestCase {
    private func defines() throws -> [String: Int] {
        let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/DCLKitABI/dclkit.h")
        var found: [String: Int] = [:]
        for line in try String(contentsOf: header, encoding: .utf8).split(separator: "\n") where line.hasPrefix("#define DCL_") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 3, let value = Int(parts[2]) { found[String(parts[1])] = value }
        }
        return found
    }

    func test_knn_defaults_and_diagnostic_count_match_the_core() throws {
        let values = try defines()
        XCTAssertEqual(values["DCL_KNN_DEFAULT_K"], KNNClassifier.defaultNeighbours)
        XCTAssertEqual(values["DCL_KNN_DEFAULT_TEMPERATURE_MILLI"].map { Double($0) / 1000 }, KNNClassifier.defaultTemperature)
        XCTAssertEqual(values["DCL_DIAGNOSTIC_COUNT"], ProjectionDiagnostics.names.count)
    }
}
