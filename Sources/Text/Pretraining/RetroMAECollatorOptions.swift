import Settings

extension RetroMAECollator {
    /// The collator's mask ratios and longest sequence, at the paper's defaults; the
    /// `retromae_collate` stage's parameters are their settings.
    public struct Options: Sendable, Equatable, SettingsDescribed {
        /// Longest sequence accepted, special tokens included.
        public var maxLength = 512
        /// Share of tokens the encoder input masks (whole words).
        public var encoderRatio = 0.3
        /// Share of positions each decoder row hides (whole words).
        public var decoderRatio = 0.5

        public init() {}

        public static var settings: [Setting<Options>] {
            [
                .int("max_length", \.maxLength, min: 3, "longest sequence, specials included"),
                .double("encoder_ratio", \.encoderRatio, max: 1, "encoder whole-word mask ratio"),
                .double("decoder_ratio", \.decoderRatio, max: 1, "decoder mask ratio"),
            ]
        }
    }
}
