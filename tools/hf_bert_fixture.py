#!/usr/bin/env python3
"""A tiny Hugging Face BertForMaskedLM checkpoint in the Hub's file layout, and its encoder output
and MLM logits, for the Tensor tests (loading public BERT weights by their usual names).

Needs transformers on Debian's python3 with its torch (peer-tools.md):
    /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install transformers==4.30.2 tokenizers==0.13.3
    /tmp/hfvenv/bin/python tools/hf_bert_fixture.py
Writes Tests/ModelsTests/Fixtures/hf_bert/{config.json,model.safetensors,expected.safetensors}.
"""
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(__file__))
from torch_fixtures import MODELS_OUT, write_safetensors  # noqa: E402


def main():
    folder = os.path.join(MODELS_OUT, "hf_bert")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(3)
    config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=16, type_vocab_size=2)
    model = transformers.BertForMaskedLM(config).eval()
    config.to_json_file(os.path.join(folder, "config.json"))
    # The Hub layout: every state-dict entry, integer buffers (position_ids) included.
    state = model.state_dict()
    header_tensors = {name: t for name, t in state.items() if t.dtype == torch.float32}
    integer = {name: t for name, t in state.items() if t.dtype != torch.float32}
    write_safetensors(os.path.join(folder, "model.safetensors"), header_tensors, {"format": "pt"},
                      integer_tensors=integer)
    ids = torch.tensor([[2, 17, 33, 5, 63, 8, 1], [2, 40, 9, 0, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]])
    valid = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]])
    with torch.no_grad():
        hidden = model.bert(input_ids=ids, token_type_ids=types, attention_mask=valid).last_hidden_state
        logits = model(input_ids=ids, token_type_ids=types, attention_mask=valid).logits
    write_safetensors(os.path.join(folder, "expected.safetensors"), {
        "input_ids": ids.float(), "token_type_ids": types.float(), "attention_mask": valid.float(),
        "hidden": hidden, "logits": logits})
    print("transformers", transformers.__version__, "fixture written to", os.path.normpath(folder))


if __name__ == "__main__":
    main()
