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
    public mutating func apply(_ values: [(name: String, text: String)]) throws(SettingError) {
        for (name, text) in values {
            let key = name.hasPrefix("--") ? String(name.dropFirst(2).map { $0 == "-" ? "_" : $0 }) : name
            guard let setting = Self.settings.first(where: { $0.name == key }) else {
                throw SettingError(.unknownSetting, path: name, "unknown setting" + suggestion(key, among: Self.settings.map(\.name)))
            }
            guard setting.apply(&self, text) else {
                throw SettingError(.invalidSetting, path: name, "'\(text)' is not \(setting.kind.expectation)")
            }
        }
        if let problem = problems().first { throw SettingError(.inconsistentSettings, path: "settings", problem) }
    }

    /// Every set setting as `name: text`: what a checkpoint records so that eval, embed and search
    /// rebuild the model it was trained as.
    public var settingValues: [String: String] {
        Dictionary(uniqueKeysWithValues: Self.settings.compactMap { setting in setting.read(self).map { (setting.name, $0) } })
    }

    /// The options `values` give over the defaults (a checkpoint's record; names it lacks keep their default).
    public init(settingValues values: [String: String]) throws(SettingError) {
        self.init()
        try apply(values.filter { name, _ in Self.settings.contains { $0.name == name } }.sorted { $0.key < $1.key }
            .map { (name: $0.key, text: $0.value) })
    }
}
