/// How far a data stream has been read: every item before `position` of epoch `epoch`'s order
/// (all ranks' together, for a shared order). A trainer's checkpoint keeps the point after its
/// last consumed micro-batch, so a source that can seek begins a resumed run there instead of
/// reading and decoding again what was consumed.
public struct StreamPoint: Comparable, Sendable, CustomStringConvertible {
    public var epoch: Int
    public var position: Int

    public init(epoch: Int, position: Int) { (self.epoch, self.position) = (epoch, position) }

    public static func < (a: StreamPoint, b: StreamPoint) -> Bool { (a.epoch, a.position) < (b.epoch, b.position) }

    public var description: String { "epoch \(epoch), position \(position)" }
}
