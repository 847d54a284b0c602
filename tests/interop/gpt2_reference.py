"""A tiny GPT-2 made by Hugging Face's transformers, for gpt2_test.cc: the checkpoint and what
the model computes.

    gpt2_reference.py OUT_DIR

Creates GPT2LMHeadModel from a small GPT2Config built here (no weights are downloaded), with fixed
random weights (torch.manual_seed), saves it with save_pretrained (OUT_DIR/hf/model.safetensors,
the Hugging Face layout), and writes OUT_DIR/expected.safetensors: token ids [2, 12], the final
hidden states of the transformer and the LM logits for them (dropout off).
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel


def main(out):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=257, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # the default init leaves biases and layer norms at 0 and 1: perturb them
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.save_pretrained(os.path.join(out, "hf"), safe_serialization=True)
    ids = (torch.arange(24).reshape(2, 12) * 37) % 257
    with torch.no_grad():
        hidden = model.transformer(input_ids=ids).last_hidden_state
        logits = model(input_ids=ids).logits
    save_file({"ids": ids.contiguous(), "hidden": hidden.contiguous(), "logits": logits.contiguous()},
              os.path.join(out, "expected.safetensors"))
    print("gpt2_reference: transformers GPT-2 (%d layers, %d heads, width %d) saved to %s" % (
        config.n_layer, config.n_head, config.n_embd, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
