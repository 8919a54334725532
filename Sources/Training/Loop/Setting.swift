import PipelineCore

/// The values a setting takes; each front-end checks them before `apply` is called.
public enum SettingKind: Equatable, Sendable {
    case int(min: Int, max: Int)
    case float(min: Double, max: Double)
    case bool
    case choice([String])
}


/// One setting of a trainer's options: its name, help, the values it takes, and how it reads and
/// writes the options value.
///
/// A trainer lists its settings once (`static var settings`); the command line (`--kebab-case`
/// flags) and the pipeline stage (`snake_case` keys) are both built from that list, and the
/// options value's own initial values are the defaults, so every default is written once.
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
    public var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }

    /// This setting on an options value that holds `Options` at `path` (a trainer's loop options).
    public func lifted<Outer>(_ path: WritableKeyPath<Outer, Options>) -> Setting<Outer> {
        let (read, apply) = (self.read, self.apply)
        return Setting<Outer>(name: name, help: help, kind: kind, read: { read($0[keyPath: path]) },
                              apply: { outer, text in apply(&outer[keyPath: path], text) })
    }
}

extension Setting {
    public static func int(_ name: String, _ path: WritableKeyPath<Options, Int>, min: Int = 1, max: Int = .max,
                           _ help: String) -> Setting {
        Setting(name: name, help: help, kind: .int(min: min, max: max), read: { String($0[keyPath: path]) },
                apply: { options, text in
                    guard let value = Int(text), value >= min, value <= max else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }

    /// An integer that may be left unset (nil: the feature is off).
    public static func int(_ name: String, _ path: WritableKeyPath<Options, Int?>, min: Int = 0, max: Int = .max,
                           _ help: String) -> Setting {
        Setting(name: name, help: help, kind: .int(min: min, max: max), read: { $0[keyPath: path].map { String($0) } },
                apply: { options, text in
                    guard let value = Int(text), value >= min, value <= max else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }

    /// A seed: any non-negative 64-bit integer the command line and YAML can spell.
    public static func seed(_ name: String, _ path: WritableKeyPath<Options, UInt64>, _ help: String) -> Setting {
        Setting(name: name, help: help, kind: .int(min: 0, max: .max), read: { String($0[keyPath: path]) },
                apply: { options, text in
                    guard let value = UInt64(text) else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }

    public static func float(_ name: String, _ path: WritableKeyPath<Options, Float>, min: Double = 0,
                             max: Double = .greatestFiniteMagnitude, _ help: String) -> Setting {
        Setting(name: name, help: help, kind: .float(min: min, max: max), read: { String($0[keyPath: path]) },
                apply: { options, text in
                    guard let value = Float(text), value.isFinite, Double(value) >= min, Double(value) <= max else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }

    public static func flag(_ name: String, _ path: WritableKeyPath<Options, Bool>, _ help: String) -> Setting {
        Setting(name: name, help: help, kind: .bool, read: { String($0[keyPath: path]) },
                apply: { options, text in
                    guard let value = Bool(text) else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }

    public static func choice<Value: CaseIterable & RawRepresentable>(
        _ name: String, _ path: WritableKeyPath<Options, Value>, _ help: String) -> Setting where Value.RawValue == String {
        Setting(name: name, help: help, kind: .choice(Value.allCases.map(\.rawValue)),
                read: { $0[keyPath: path].rawValue },
                apply: { options, text in
                    guard let value = Value(rawValue: text) else { return false }
                    options[keyPath: path] = value
                    return true
                })
    }
}

/// An options value described by a list of settings, with the checks that span several of them.
public protocol SettingsDescribed {
    /// The options at their defaults.
    init()
    /// Every setting, in the order help lists them.
    static var settings: [Setting<Self>] { get }
    /// Problems no single setting shows (hidden not divisible by heads), as sentences; empty when fine.
    func problems() -> [String]
}

extension SettingsDescribed {
    public func problems() -> [String] { [] }

    /// Sets each `name: text` pair (names in either spelling); the error names the setting and the
    /// values it takes. Unknown names are an error too, with the closest known one.
    public mutating func apply(_ values: [(name: String, text: String)]) throws(TrainingError) {
        for (name, text) in values {
            let key = name.hasPrefix("--") ? String(name.dropFirst(2)).replacingOccurrences(of: "-", with: "_") : name
            guard let setting = Self.settings.first(where: { $0.name == key }) else {
                throw TrainingError(.unknownSetting, name, "unknown setting" + suggestion(key, among: Self.settings.map(\.name)))
            }
            guard setting.apply(&self, text) else {
                throw TrainingError(.invalidSetting, name, "'\(text)' is not \(setting.kind.expectation)")
            }
        }
        if let problem = problems().first { throw TrainingError(.inconsistentSettings, "settings", problem) }
    }

    /// Every set setting as `name: text`: what a checkpoint records so that eval, embed and search
    /// rebuild the model it was trained as.
    public var settingValues: [String: String] {
        Dictionary(uniqueKeysWithValues: Self.settings.compactMap { setting in setting.read(self).map { (setting.name, $0) } })
    }

    /// The options `values` give over the defaults (a checkpoint's record; names it lacks keep their default).
    public init(settingValues values: [String: String]) throws(TrainingError) {
        self.init()
        try apply(values.filter { name, _ in Self.settings.contains { $0.name == name } }.sorted { $0.key < $1.key }
            .map { (name: $0.key, text: $0.value) })
    }
}

extension SettingKind {
    /// "an integer from 1 to 64", for error messages and help.
    public var expectation: String {
        switch self {
        case .int(let min, let max):
            max == .max ? "an integer of at least \(min)" : "an integer from \(min) to \(max)"
        case .float(let min, let max):
            max == .greatestFiniteMagnitude ? "a number of at least \(min)" : "a number from \(min) to \(max)"
        case .bool: "true or false"
        case .choice(let values): "one of " + values.joined(separator: ", ")
        }
    }
}
