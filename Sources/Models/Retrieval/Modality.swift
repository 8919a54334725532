/// The modalities a clip has, each a tower of a retrieval model: its frames, its spoken caption
/// and its caption text.
public enum Modality: String, Sendable, CaseIterable {
    case video, audio, text
}
