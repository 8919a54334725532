/// The values a setting takes; each front-end checks them before `apply` is called.
public enum SettingKind: Equatable, Sendable {
    case int(min: Int, max: Int)
    case float(min: Double, max: Double)
    case bool
    case choice([String])
}

/// One setting of an options value (a trainer's, the log-mel's, a clip's shape): its name, help,
/// the values it takes, and how it reads and writes the options value.
///
/// An options value lists its settings once (`static var settings`); the command line
/// (`--kebab-case` flags), pipeline stages (`snake_case` keys) and checkpoints are all built from
/// that list, and the options value's own initial values are the defaults, so every default is
/// written once.
public struct Setting<Options> {
    /// The key in pipeline files (`weight_decay`); the command line spells it `--weight-decay`.
    public let name: String
    public let help: String
    public let kind: SettingKind
    /// The value in `options` as text (the default when read from a fresh value); nil when unset.
    public let read: (Options) -> String?
    /// Sets the value from text; false when the text is not a valid value of `kind`.
    public let apply: (inout Options, String) -> Bool

    public init(name: String, help: String, kind: SettingKind, read: @escaping (Options) -> String?,
                apply: @escaping (inout Options, String) -> Bool) {
        (self.name, self.help, self.kind, self.read, self.apply) = (name, help, kind, read, apply)
    }

    /// `--weight-decay` for `weight_decay`.
    public var flag: String { "--" + String(name.map { $0 == "_" ? "-" : $0 }) }

    /// This setting on an options value that holds `Options` at `path` (a trainer's loop options).
    public func lifted<Outer>(_ path: WritableKeyPath<Outer, Options>) -> Setting<Outer> {
        let (read, apply) = (self.read, self.apply)
        return Setting<Outer>(name: name, help: help, kind: kind, read: { read($0[keyPath: path]) },
                              apply: { outer, text in apply(&outer[keyPath: path], text) })
    }
}

extension Setting {
    /// A setting stored at `path`: `read` writes its value as text, `parse` reads text back (nil
    /// when the text is not a value the setting takes). Every kind below is one of these.
    public static func stored<Value>(_ name: String, _ path: WritableKeyPath<Options, Value>, kind: SettingKind, _ help: String,
                                     read: @escaping (Value) -> String?, parse: @escaping (String) -> Value?) -> Setting {
        Setting(name: name, help: help, kind: kind, read: { read($0[keyPath: path]) },
                apply: { options, text in
                    guard let value = parse(text) else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }

    public static func int(_ name: String, _ path: WritableKeyPath<Options, Int>, min: Int = 1, max: Int = .max,
                           _ help: String) -> Setting {
        stored(name, path, kind: .int(min: min, max: max), help, read: { String($0) }, parse: { integer($0, min: min, max: max) })
    }

    /// An integer that may be left unset (nil: the feature is off).
    public static func int(_ name: String, _ path: WritableKeyPath<Options, Int?>, min: Int = 0, max: Int = .max,
                           _ help: String) -> Setting {
        stored(name, path, kind: .int(min: min, max: max), help, read: { $0.map { String($0) } },
               parse: { integer($0, min: min, max: max).map { .some($0) } })
    }

    /// A seed: any non-negative 64-bit integer the command line and YAML can spell.
    public static func seed(_ name: String, _ path: WritableKeyPath<Options, UInt64>, _ help: String) -> Setting {
        stored(name, path, kind: .int(min: 0, max: .max), help, read: { String($0) }, parse: { UInt64($0) })
    }

    public static func float(_ name: String, _ path: WritableKeyPath<Options, Float>, min: Double = 0,
                             max: Double = .infinity, _ help: String) -> Setting {
        stored(name, path, kind: .float(min: min, max: max), help, read: { String($0) }, parse: { text in
            Float(text).flatMap { $0.isFinite && Double($0) >= min && Double($0) <= max ? $0 : nil }
        })
    }

    public static func double(_ name: String, _ path: WritableKeyPath<Options, Double>, min: Double = 0,
                              max: Double = .infinity, _ help: String) -> Setting {
        stored(name, path, kind: .float(min: min, max: max), help, read: { String($0) }, parse: { number($0, min: min, max: max) })
    }

    /// A number that may be left unset (nil: the options value works it out, as log-mel's top band edge).
    public static func double(_ name: String, _ path: WritableKeyPath<Options, Double?>, min: Double = 0,
                              max: Double = .infinity, _ help: String) -> Setting {
        stored(name, path, kind: .float(min: min, max: max), help, read: { $0.map { String($0) } },
               parse: { number($0, min: min, max: max).map { .some($0) } })
    }

    /// A number whose 0 turns its feature off (nil), as librosa's pre-emphasis and `top_db` take it.
    public static func doubleOrOff(_ name: String, _ path: WritableKeyPath<Options, Double?>, min: Double = 0,
                                   max: Double = .infinity, _ help: String) -> Setting {
        stored(name, path, kind: .float(min: min, max: max), help, read: { String($0 ?? 0) },
               parse: { number($0, min: min, max: max).map { $0 == 0 ? nil : $0 } })
    }

    public static func flag(_ name: String, _ path: WritableKeyPath<Options, Bool>, _ help: String) -> Setting {
        stored(name, path, kind: .bool, help, read: { String($0) }, parse: { Bool($0) })
    }

    public static func choice<Value: CaseIterable & RawRepresentable>(
        _ name: String, _ path: WritableKeyPath<Options, Value>, _ help: String) -> Setting where Value.RawValue == String {
        stored(name, path, kind: .choice(Value.allCases.map(\.rawValue)), help, read: { $0.rawValue }, parse: { Value(rawValue: $0) })
    }

    /// `text` as an integer within `min...max`; nil otherwise.
    private static func integer(_ text: String, min: Int, max: Int) -> Int? {
        Int(text).flatMap { $0 >= min && $0 <= max ? $0 : nil }
    }

    /// `text` as a finite number within `min...max`; nil otherwise.
    private static func number(_ text: String, min: Double, max: Double) -> Double? {
        guard let value = Double(text), value.isFinite, value >= min, value <= max else { return nil }
        return value
    }
}

extension SettingKind {
    /// "an integer from 1 to 64", for error messages and help.
    public var expectation: String {
        switch self {
        case .int(let min, let max):
            max == .max ? "an integer of at least \(min)" : "an integer from \(min) to \(max)"
        case .float(let min, let max):
            max == .infinity ? "a number of at least \(min)" : "a number from \(min) to \(max)"
        case .bool: "true or false"
        case .choice(let values): "one of " + values.joined(separator: ", ")
        }
    }
}
