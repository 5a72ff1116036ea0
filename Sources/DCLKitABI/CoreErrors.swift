import DCLKit

/// Runs `body`, turning the core's thrown errors into ABI errors: a wrong model, state or
/// configuration is an invalid argument, `IOFailure` an I/O or format error, a failed collective
/// a communication error.
func translatingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ABIError {
        throw error
    } catch let error as EncoderError {
        throw ABIError.invalid(error.description)
    } catch IOFailure.io(let message) {
        throw ABIError.io(message)
    } catch IOFailure.format(let message) {
        throw ABIError.format(message)
    } catch let error as OptimizerStateError {
        throw ABIError.format("optimizer state: \(error.description)")
    } catch let error as NegativeQueue.StateError {
        throw ABIError.format("queue state: \(error.description)")
    } catch let error as DistributedError {
        if case .collectiveFailed = error { throw ABIError.communication(error.description) }
        throw ABIError.invalid(error.description)
    } catch {
        throw ABIError.invalid("\(error)")
    }
}
