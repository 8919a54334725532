extension Duration {
    /// The duration in seconds, for rates and shares of time.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
