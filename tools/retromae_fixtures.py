#!/usr/bin/python3
"""Reference fixture for the Models tests: a tiny, randomly initialised BERT saved by
transformers in the Hugging Face layout, and what transformers computes with it.

Needs Debian's torch and transformers 4.30.2 in a venv that sees it:
    /usr/bin/python3 -m venv --system-site-packages /tmp/venv-retromae
    /tmp/venv-retromae/bin/pip install transformers==4.30.2 tokenizers==0.13.3
    /tmp/venv-retromae/bin/python tools/retromae_fixtures.py
Writes Tests/ModelsTests/Fixtures/tiny-bert/{config.json,model.safetensors,vocab.txt} and
Tests/ModelsTests/Fixtures/tiny-bert-expected.json.
"""
import json
import os

import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures")
MODEL_DIR = os.path.join(OUT, "tiny-bert")

WORDS = ("the quick brown fox jumps over lazy dog a stitch in time saves nine rivers flow down hill "
         "toward quiet sea every cat sleep most of warm afternoon , . ! ? ' which what is are").split()
PIECES = ["##s", "##ing", "##ed", "##ly", "##er", "q", "u", "i", "e", "t", "##e", "##t"]
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Rivers flow downhill, toward the quiet sea!",
    "What is a stitch in time?",
    "every cat sleeps",
    "Quietly, unknown zebras sleeping over warm hills.",
]


def main():
    os.makedirs(MODEL_DIR, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES
    with open(os.path.join(MODEL_DIR, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    model = BertForMaskedLM(config).eval()
    # Random weights everywhere (HF initialises biases to 0 and LayerNorm to 1, which would hide
    # a bias or LayerNorm loaded into the wrong place).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    model.save_pretrained(MODEL_DIR, safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(MODEL_DIR, extra)
        if os.path.exists(path):
            os.remove(path)

    tokenizer = BertTokenizerFast(os.path.join(MODEL_DIR, "vocab.txt"), do_lower_case=True)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
        hidden = out.hidden_states[-1]
        mask = batch["attention_mask"].unsqueeze(-1).float()
        cls = hidden[:, 0]
        mean = (hidden * mask).sum(1) / mask.sum(1)
        # MLM loss with labels on a few positions of the first text.
        ids = batch["input_ids"][:1].clone()
        labels = torch.full_like(ids, -100)
        for position in (2, 5, 7):
            labels[0, position] = ids[0, position]
            ids[0, position] = tokenizer.mask_token_id
        valid = batch["attention_mask"][:1]
        mlm_loss = model(input_ids=ids, attention_mask=valid, labels=labels).loss

    expected = {
        "texts": TEXTS,
        "input_ids": [[int(i) for i, m in zip(row, mrow) if m] for row, mrow in
                      zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist())],
        "cls": cls.flatten().tolist(),
        "mean": mean.flatten().tolist(),
        "cls_normalized": torch.nn.functional.normalize(cls, dim=-1).flatten().tolist(),
        "mlm_input_ids": ids[0][valid[0].bool()].tolist(),
        "mlm_labels": labels[0][valid[0].bool()].tolist(),
        "mlm_loss": float(mlm_loss),
    }
    with open(os.path.join(OUT, "tiny-bert-expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main()
