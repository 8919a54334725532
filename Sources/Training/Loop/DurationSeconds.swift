extension Duration {
    /// The duration in seconds, for rates and shares of time. In Training, not PipelineCore: the
    /// trainer loop and its pipeline sink are the only readers, and Training needs nothing else of the engine.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
