import DCLKit

/// Reads the trainer's configuration from the JSON that `TrainConfig.to_json()` writes, checking
/// every field the Swift trainer uses (the Python dataclass checks them too, but the ABI trusts
/// no caller).
enum TrainerConfigurationParsing {
    static func parse(_ text: String) throws -> TrainerConfiguration {
        let json: JSON
        do { json = try JSON.parse(Array(text.utf8)) } catch { throw ABIError.invalid("config is not valid JSON: \(error)") }
        guard case .object = json else { throw ABIError.invalid("config must be a JSON object") }

        let methodName = try string(json, "method")
        let temperature = try positive(json, "temperature")
        let method: TrainerConfiguration.Method
        switch methodName {
        case "simclr": method = .pair(.ntxent)
        case "dcl": method = .pair(.dcl)
        case "dclw": method = .pair(.dclw(sigma: try positive(json, "sigma")))
        case "moco": method = .momentum(.infonce, mixing: false)
        case "moco-dcl": method = .momentum(.dcl, mixing: false)
        case "mochi": method = .momentum(.infonce, mixing: true)
        default: throw ABIError.invalid("unknown method \"\(methodName)\"")
        }
        guard let optimizer = TrainerConfiguration.OptimizerKind(rawValue: try string(json, "optimizer")) else {
            throw ABIError.invalid("optimizer must be \"sgd\" or \"lars\"")
        }
        let momentum = try number(json, "momentum")
        guard momentum >= 0, momentum < 1 else { throw ABIError.invalid("momentum must be in [0, 1), got \(momentum)") }
        let weightDecay = try number(json, "weight_decay")
        guard weightDecay >= 0 else { throw ABIError.invalid("weight_decay must be >= 0, got \(weightDecay)") }
        var c = TrainerConfiguration(
            method: method, temperature: temperature, optimizer: optimizer,
            learningRate: try positive(json, "lr"), momentum: momentum, weightDecay: weightDecay,
            warmupEpochs: try integer(json, "warmup_epochs", minimum: 0),
            epochs: try integer(json, "epochs", minimum: 1),
            batchSize: try integer(json, "batch_size", minimum: 2),
            seed: UInt64(try integer(json, "seed", minimum: 0)))
        if case .momentum(_, let mixing) = method {
            c.queueSize = try integer(json, "queue_size", minimum: c.batchSize)
            guard c.queueSize % c.batchSize == 0 else {
                throw ABIError.invalid("queue_size (\(c.queueSize)) must be a multiple of batch_size (\(c.batchSize))")
            }
            c.keyMomentum = try number(json, "momentum_encoder")
            guard c.keyMomentum >= 0, c.keyMomentum < 1 else {
                throw ABIError.invalid("momentum_encoder must be in [0, 1), got \(c.keyMomentum)")
            }
            c.shuffleGroups = try integer(json, "shuffle_bn_groups", minimum: 1)
            guard case .bool(let symmetric)? = json["symmetric"] else { throw ABIError.invalid("symmetric must be a bool") }
            c.symmetric = symmetric
            if mixing {
                c.mixingHardest = try integer(json, "mochi_n_hard", minimum: 1)
                guard c.mixingHardest <= c.queueSize else {
                    throw ABIError.invalid("mochi_n_hard (\(c.mixingHardest)) must not exceed queue_size (\(c.queueSize))")
                }
                c.mixingPairs = try integer(json, "mochi_s", minimum: 0)
                c.mixingWithQuery = try integer(json, "mochi_s_prime", minimum: 0)
                c.mixingStartEpoch = try integer(json, "mochi_start_epoch", minimum: 0)
            }
        }
        return c
    }

    private static func string(_ json: JSON, _ key: String) throws -> String {
        guard case .string(let s)? = json[key] else { throw ABIError.invalid("config.\(key) must be a string") }
        return s
    }

    private static func number(_ json: JSON, _ key: String) throws -> Double {
        guard case .number(let x)? = json[key], x.isFinite else { throw ABIError.invalid("config.\(key) must be a finite number") }
        return x
    }

    private static func positive(_ json: JSON, _ key: String) throws -> Double {
        try Arguments.positive(try number(json, key), name: "config.\(key)")
    }

    private static func integer(_ json: JSON, _ key: String, minimum: Int) throws -> Int {
        let x = try number(json, key)
        guard x == x.rounded(), x >= Double(minimum), x < 1e15 else {
            throw ABIError.invalid("config.\(key) must be an integer >= \(minimum), got \(x)")
        }
        return Int(x)
    }
}
