#!/usr/bin/python3
"""Checks that a model directory written by sluice loads in transformers and gives the embeddings
`sluice retromae embed` gave (mean pooling over real tokens).

    sluice retromae embed --model DIR --in TEXTS --out EMB.npy --pooling mean
    /tmp/venv-retromae/bin/python tools/retromae_check_export.py DIR TEXTS EMB.npy
(venv: see tools/retromae_fixtures.py). Prints the largest absolute difference.
"""
import sys

import numpy as np
import torch
from transformers import BertModel, BertTokenizerFast


def main(directory, texts_path, embeddings_path):
    model = BertModel.from_pretrained(directory, add_pooling_layer=False).eval()
    tokenizer = BertTokenizerFast(directory + "/vocab.txt", do_lower_case=True)
    texts = [line.rstrip("\n") for line in open(texts_path, encoding="utf-8") if line.strip()]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=model.config.max_position_embeddings,
                      return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    ours = np.load(embeddings_path)
    print("shape", ours.shape, "max abs difference", float(np.abs(ours - mean).max()))


if __name__ == "__main__":
    main(*sys.argv[1:4])
