import Settings
import Testing

/// A small options value: every kind of setting, and a check spanning two of them.
private struct Example: SettingsDescribed, Equatable {
    enum Shape: String, CaseIterable { case round, square }

    var layers = 2
    var heads = 4
    var hidden = 8
    var rate: Float = 0.5
    var seconds = 10.0
    var ceiling: Double?
    var floor: Double? = 80
    var normalize = true
    var shape = Shape.round

    static var settings: [Setting<Example>] {
        [
            .int("layers", \.layers, max: 64, "layers"),
            .int("heads", \.heads, "attention heads"),
            .int("hidden", \.hidden, "hidden size"),
            .float("rate", \.rate, max: 1, "a share"),
            .double("seconds", \.seconds, min: 0.025, max: 600, "a window"),
            .double("ceiling", \.ceiling, "left unset: worked out"),
            .doubleOrOff("floor", \.floor, "0: none"),
            .flag("normalize", \.normalize, "a switch"),
            .choice("shape", \.shape, "a choice"),
        ]
    }

    func problems() -> [String] { hidden % heads == 0 ? [] : ["hidden \(hidden) is not divisible by heads \(heads)"] }
}

struct SettingsTests {
    @Test func valuesApplyInEitherSpelling() throws {
        var example = Example()
        try example.apply([("--layers", "3"), ("seconds", "2.5"), ("--shape", "square"), ("normalize", "false"), ("ceiling", "7")])
        #expect(example.layers == 3 && example.seconds == 2.5 && example.shape == .square && !example.normalize && example.ceiling == 7)
    }

    @Test func anUnknownNameIsAnErrorWithTheClosestKnownOne() {
        var example = Example()
        #expect(throws: SettingError(.unknownSetting, path: "--layres", "unknown setting; did you mean 'layers'?")) {
            try example.apply([("--layres", "3")])
        }
        let error = SettingError(.unknownSetting, path: "colour", "unknown setting")
        #expect(error.description == "colour: unknown setting")
    }

    @Test func aValueOutsideTheSettingIsAnErrorNamingWhatItTakes() {
        for (name, text, expected) in [("layers", "65", "an integer from 1 to 64"), ("heads", "0", "an integer of at least 1"),
                                       ("rate", "2", "a number from 0.0 to 1.0"), ("seconds", "inf", "a number from 0.025 to 600.0"),
                                       ("floor", "-1", "a number of at least 0.0"), ("shape", "oval", "one of round, square"),
                                       ("normalize", "yes", "true or false")] {
            var example = Example()
            #expect(throws: SettingError(.invalidSetting, path: name, "'\(text)' is not \(expected)")) { try example.apply([(name, text)]) }
        }
    }

    @Test func contradictingValuesAreOneErrorAfterAllAreSet() {
        var example = Example()
        #expect(throws: SettingError(.inconsistentSettings, path: "settings", "hidden 10 is not divisible by heads 4")) {
            try example.apply([("hidden", "10")])
        }
        #expect(throws: Never.self) { try example.apply([("hidden", "12"), ("heads", "3")]) }
    }

    /// What a checkpoint records reads back as the same options; names it lacks keep their default,
    /// names no setting has are left alone.
    @Test func recordedValuesRebuildTheOptions() throws {
        var example = Example()
        try example.apply([("layers", "5"), ("seconds", "0.1"), ("floor", "0"), ("shape", "square")])
        let recorded = example.settingValues
        #expect(recorded["ceiling"] == nil && recorded["floor"] == "0.0" && recorded["seconds"] == "0.1")
        #expect(try Example(settingValues: recorded.merging(["vocab": "x"]) { $1 }) == example)
        #expect(try Example(settingValues: ["layers": "5"]).heads == Example().heads)
    }

    @Test func zeroTurnsAnOptionalNumberOff() throws {
        var example = Example()
        #expect(Example.settings.first { $0.name == "floor" }?.read(example) == "80.0")
        try example.apply([("floor", "0")])
        #expect(example.floor == nil)
    }

    @Test func aLiftedSettingReadsAndWritesThroughItsPath() {
        struct Outer { var inner = Example() }
        let lifted = Example.settings[0].lifted(\Outer.inner)
        var outer = Outer()
        #expect(lifted.apply(&outer, "9") && outer.inner.layers == 9 && lifted.read(outer) == "9" && lifted.flag == "--layers")
    }

    @Test func suggestionsAreForNamesWithinTwoEdits() {
        #expect(suggestion("wokers", among: ["workers", "ordered"]) == "; did you mean 'workers'?")
        #expect(suggestion("zzzzzz", among: ["workers", "ordered"]) == "")
        #expect(suggestion("ab", among: ["xy"]) == "")
    }
}
