import Settings

/// Stage parameters built from an options value's settings (a trainer's, the log-mel's, the
/// collator's, a clip's shape), so a pipeline file and the command line take the same names with
/// the same defaults: the options value's own initial values.
extension SettingsDescribed {
    /// A stage parameter per setting, with the options' initial values as defaults; those named
    /// in `leftOpen` get none, so the stage can tell an absent value from a default.
    static func parameterSpecs(leftOpen: Set<String> = []) -> [ParameterSpec] {
        let defaults = Self()
        return settings.map { setting in
            let kind: ParameterSpec.Kind = switch setting.kind {
            case .int(let min, let max): .int(min: min, max: max)
            case .float(let min, let max): .double(min: min, max: max)
            case .bool: .bool
            case .choice(let values): .choice(values)
            }
            return ParameterSpec(setting.name, kind, default: leftOpen.contains(setting.name) ? nil : setting.read(defaults),
                                 help: setting.help)
        }
    }

    /// The options a stage's checked parameters give; settings the file leaves out keep `defaults`.
    init(_ parameters: StageParameters, defaults: Self = Self()) throws {
        self = defaults
        let values = Self.settings.compactMap { setting -> (name: String, text: String)? in
            switch parameters.values[setting.name] {
            case .int(let value)?: (setting.name, String(value))
            case .double(let value)?: (setting.name, String(value))
            case .bool(let value)?: (setting.name, String(value))
            case .string(let value)?: (setting.name, value)
            default: nil
            }
        }
        do throws(SettingError) {
            try apply(values)
        } catch {
            throw StageError(path: parameters.stageName, reason: error.description)
        }
    }
}
