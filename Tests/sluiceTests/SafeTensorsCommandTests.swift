import Testing

/// `sluice safetensors` on the committed Hugging Face BERT fixture (written by transformers).
struct SafeTensorsCommandTests {
    let cli = CommandLineTests()

    @Test func listsNamesShapesAndMetadata() throws {
        let result = try cli.sluice(["safetensors", "Tests/ModelsTests/Fixtures/hf_bert/model.safetensors"])
        #expect(result.status == 0)
        #expect(result.output.contains("bert.embeddings.word_embeddings.weight  [64, 32]"))
        #expect(result.output.contains("bert.encoder.layer.1.output.LayerNorm.bias  [32]"))
        #expect(result.output.contains("metadata format = pt"))
    }

    @Test func aDamagedFileIsAnErrorNamingIt() throws {
        let result = try cli.sluice(["safetensors", "Tests/ModelsTests/Fixtures/hf_bert/config.json"])
        #expect(result.status == 65)
        #expect(result.errors.contains("config.json: header length"))
    }
}
