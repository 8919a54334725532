import ArgumentParser
import Settings

/// A trainer's settings on the command line, read from the arguments the command itself does not
/// declare (`@Argument(parsing: .allUnrecognized)`), so the list of settings and their defaults
/// live once, in the trainer's options (`RetroMAEOptions.settings`), shared with its pipeline sink.
///
/// `--name value` or `--name=value`; a true/false setting also takes `--name` and `--no-name`.
enum TrainerSettings<Options: SettingsDescribed> {
    /// The options `arguments` give, over `defaults` (a trainer with two sets: RetroMAE's for a new
    /// model and for one continued from a checkpoint).
    static func parse(_ arguments: [String], defaults: Options = Options()) throws -> Options {
        var values: [(name: String, text: String)] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("--") else {
                throw ValidationError("unexpected argument '\(argument)' (trainer settings are --name value)")
            }
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let key = String(parts[0].dropFirst(2)).replacingOccurrences(of: "-", with: "_")
            let setting = Options.settings.first { $0.name == key }
            if parts.count == 2 {
                values.append((parts[0], parts[1]))
            } else if setting?.kind == .bool {
                values.append((parts[0], "true"))
            } else if key.hasPrefix("no_"), Options.settings.first(where: { $0.name == key.dropFirst(3) })?.kind == .bool {
                values.append(("--" + key.dropFirst(3), "false"))
            } else if let value = rest.popFirst(), setting != nil {
                values.append((parts[0], value))
            } else {
                values.append((parts[0], ""))  // apply() names the unknown setting or the missing value
            }
        }
        var options = defaults
        do throws(SettingError) {
            try options.apply(values)
        } catch {
            throw ValidationError(error.description)
        }
        return options
    }

    /// The settings as help text: the flag and its default on one line, the help indented below,
    /// so ArgumentParser's wrapping of the discussion (at 80 columns) never splits a row.
    static var help: String {
        let defaults = Options()
        return Options.settings.map { setting in
            let flag = setting.kind == .bool ? "\(setting.flag), --no-\(setting.flag.dropFirst(2))" : "\(setting.flag) <value>"
            let fallback = setting.read(defaults).map { "  (default: \($0))" } ?? ""
            let values = if case .choice(let choices) = setting.kind { " [\(choices.joined(separator: "|"))]" } else { "" }
            return "  \(flag)\(fallback)\n      \(setting.help)\(values)"
        }.joined(separator: "\n")
    }
}
