import Foundation

/// Turns stage counters into the lines a person watches: per stage, items, rate, queue fill and
/// where its time goes, plus which stage the sink is waiting on.
public enum ProgressRenderer {
    /// Live view: rates over the interval since `previous` (or since start).
    public static func live(_ current: PipelineSnapshot, previous: PipelineSnapshot?) -> [String] {
        let interval = previous.map { current.delta(since: $0) } ?? current
        var lines = [header(current, interval: interval)]
        lines += table(current, interval: interval)
        return lines
    }

    /// The closing summary: totals and average rates over the whole run.
    public static func summary(_ snapshot: PipelineSnapshot) -> [String] {
        ["\(snapshot.pipeline): \(format(seconds: snapshot.elapsedSeconds))"] + table(snapshot, interval: snapshot)
    }

    static func header(_ current: PipelineSnapshot, interval: PipelineSnapshot) -> String {
        var text = "\(current.pipeline)  \(format(seconds: current.elapsedSeconds))"
        if let sink = interval.stages.last, interval.elapsedSeconds > 0,
           sink.waitingInputSeconds / interval.elapsedSeconds > 0.2,
           let slowest = PipelineSnapshot(pipeline: "", elapsedSeconds: interval.elapsedSeconds,
                                          stages: Array(interval.stages.dropLast()))
               .bottleneck(over: interval.elapsedSeconds) {
            let busy = Int((slowest.utilisation(over: interval.elapsedSeconds) * 100).rounded())
            text += "  sink waiting on: \(slowest.name) (busy \(busy)%)"
        }
        return text
    }

    static func table(_ current: PipelineSnapshot, interval: PipelineSnapshot) -> [String] {
        let wall = max(interval.elapsedSeconds, 1e-9)
        let nameWidth = current.stages.map(\.name.count).max() ?? 0
        return zip(current.stages, interval.stages).map { stage, recent in
            let workers = stage.workers > 1 ? " ×\(stage.workers)" : ""
            var line = pad(stage.name, nameWidth) + "  " + pad(stage.kind + workers, 10)
            let queue = stage.inputQueueCapacity.map { "q \(stage.inputQueueFill ?? 0)/\($0)" } ?? ""
            line += pad(queue, 8)
            let count = stage.kind == "sink" ? stage.itemsIn : stage.itemsOut
            let recentCount = stage.kind == "sink" ? recent.itemsIn : recent.itemsOut
            line += leftPad(grouped(count), 11) + " items " + leftPad(rate(Double(recentCount) / wall), 9) + "/s"
            let share = { (seconds: Double) in Int((seconds / (wall * Double(max(stage.workers, 1))) * 100).rounded()) }
            line += "  busy \(share(recent.busySeconds))%"
            if recent.waitingInputSeconds > 0 { line += " wait-in \(share(recent.waitingInputSeconds))%" }
            if recent.blockedOutputSeconds > 0 { line += " blocked-out \(share(recent.blockedOutputSeconds))%" }
            if stage.bytesOut > 0 { line += "  out " + bytes(Double(recent.bytesOut) / wall) + "/s" }
            if stage.errors > 0 { line += "  errors \(stage.errors)" }
            return line
        }
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func leftPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return out
    }

    static func rate(_ perSecond: Double) -> String {
        perSecond >= 1e6 ? String(format: "%.2fM", perSecond / 1e6)
            : perSecond >= 1e4 ? String(format: "%.1fk", perSecond / 1e3) : String(format: "%.1f", perSecond)
    }

    static func bytes(_ count: Double) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = count
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return String(format: unit == 0 ? "%.0f%@" : "%.1f%@", value, units[unit])
    }

    static func format(seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1fs", seconds)
            : String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
    }
}
