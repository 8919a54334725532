import Foundation
import SystemErrors

extension BertTokenizer {
    /// Loads a Hugging Face `tokenizer.json` made of a `BertNormalizer`, a `BertPreTokenizer` and a
    /// `WordPiece` model, with its added tokens, post-processor, truncation and padding.
    /// Anything else is refused with an error naming the unsupported part.
    public init(tokenizerJSON url: URL) throws(TextError) {
        let path = url.path
        func fail(_ reason: String) -> TextError { TextError(.invalidData, path: path, reason) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TextError(.unreadable, path: path, "cannot read tokenizer.json: \(SystemErrorText.words(error))")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw fail("not valid JSON: \(SystemErrorText.words(error))")
        }
        guard let root = object as? [String: Any] else { throw fail("top level is not a JSON object") }

        guard let model = root["model"] as? [String: Any], model["type"] as? String == "WordPiece" else {
            throw fail("model is not WordPiece (type \((root["model"] as? [String: Any])?["type"] ?? "missing"))")
        }
        guard let vocabMap = model["vocab"] as? [String: Any] else { throw fail("model.vocab is missing") }
        var tokens = [String](repeating: "", count: vocabMap.count)
        var seen = [Bool](repeating: false, count: vocabMap.count)
        for (token, value) in vocabMap {
            guard let id = value as? Int, id >= 0, id < tokens.count, !seen[id] else {
                throw fail("model.vocab id of \"\(token)\" is not a unique id in 0..<\(tokens.count)")
            }
            tokens[id] = token
            seen[id] = true
        }
        let prefix = model["continuing_subword_prefix"] as? String ?? "##"
        let vocabulary = Vocabulary(tokens: tokens, continuingPrefix: prefix)

        var options = BertNormalizerOptions()
        if let n = root["normalizer"] as? [String: Any] {
            guard n["type"] as? String == "BertNormalizer" else {
                throw fail("normalizer \(n["type"] ?? "?") is not supported (only BertNormalizer)")
            }
            options.cleanText = n["clean_text"] as? Bool ?? true
            options.handleChineseChars = n["handle_chinese_chars"] as? Bool ?? true
            options.stripAccents = n["strip_accents"] as? Bool
            options.lowercase = n["lowercase"] as? Bool ?? true
        } else {
            throw fail("a normalizer is required (only BertNormalizer is supported)")
        }
        if let p = root["pre_tokenizer"] as? [String: Any], p["type"] as? String != "BertPreTokenizer" {
            throw fail("pre_tokenizer \(p["type"] ?? "?") is not supported (only BertPreTokenizer)")
        }

        var added: [(String, Int32)] = []
        for case let t as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let content = t["content"] as? String, let id = t["id"] as? Int else {
                throw fail("an added token lacks content or id")
            }
            if t["normalized"] as? Bool == true || t["single_word"] as? Bool == true
                || t["lstrip"] as? Bool == true || t["rstrip"] as? Bool == true {
                throw fail("added token \(content) uses normalized/single_word/lstrip/rstrip, which are not supported")
            }
            added.append((content, Int32(id)))
        }
        func id(_ token: String) throws(TextError) -> Int32 {
            if let a = added.first(where: { $0.0 == token }) { return a.1 }
            guard let v = vocabulary.id(of: token) else { throw fail("token \(token) is not in the vocabulary") }
            return v
        }
        let unk = try id(model["unk_token"] as? String ?? "[UNK]")
        var (cls, sep) = (try id("[CLS]"), try id("[SEP]"))
        if let post = root["post_processor"] as? [String: Any] {
            switch post["type"] as? String {
            case "BertProcessing":
                if let c = post["cls"] as? [Any], let i = c.last as? Int { cls = Int32(i) }
                if let s = post["sep"] as? [Any], let i = s.last as? Int { sep = Int32(i) }
            case "TemplateProcessing":
                let single = (post["single"] as? [[String: Any]] ?? []).compactMap {
                    ($0["SpecialToken"] as? [String: Any])?["id"] as? String
                }
                let specials = post["special_tokens"] as? [String: Any] ?? [:]
                func specialId(_ name: String) -> Int32? {
                    ((specials[name] as? [String: Any])?["ids"] as? [Int])?.first.map { Int32($0) }
                }
                guard single.count == 2, let c = specialId(single[0]), let s = specialId(single[1]) else {
                    throw fail("post_processor template is not [CLS] $A [SEP]")
                }
                (cls, sep) = (c, s)
            default:
                throw fail("post_processor \(post["type"] ?? "?") is not supported")
            }
        }
        let pad = (try? id((root["padding"] as? [String: Any])?["pad_token"] as? String ?? "[PAD]")) ?? unk
        let mask = try? id("[MASK]")
        try self.init(vocabulary: vocabulary, normalizer: options, unkId: unk, clsId: cls, sepId: sep,
                      padId: pad, maskId: mask, addedTokens: added)
        if let m = model["max_input_chars_per_word"] as? Int { maxInputCharsPerWord = m }
        addsClsAndSep = root["post_processor"] is [String: Any]
        if let t = root["truncation"] as? [String: Any] {
            guard t["strategy"] as? String ?? "LongestFirst" == "LongestFirst", t["direction"] as? String ?? "Right" == "Right",
                  t["stride"] as? Int ?? 0 == 0 else {
                throw fail("truncation other than longest_first from the right without stride is not supported")
            }
            truncation = t["max_length"] as? Int
        }
        if let p = root["padding"] as? [String: Any], let s = p["strategy"] as? [String: Any],
           let fixed = s["Fixed"] as? Int {
            padding = fixed
        }
    }

    /// Loads `vocab.txt` or `tokenizer.json`, chosen by the file's extension.
    public init(contentsOf url: URL, lowercase: Bool = true) throws(TextError) {
        if url.pathExtension.lowercased() == "json" {
            try self.init(tokenizerJSON: url)
        } else {
            try self.init(vocabFile: url, normalizer: BertNormalizerOptions(lowercase: lowercase))
        }
    }
}
