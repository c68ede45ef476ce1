"""Models shared by the benchmarks."""

import torch


def bert_base():
    """(label, model, inputs): transformers' `BertModel(BertConfig())` at
    sequence 128 when installed, else the zoo encoder at BERT-base size."""
    try:
        from transformers import BertConfig, BertModel

        return "bert-base", BertModel(BertConfig()).eval(), (torch.randint(0, 30522, (1, 128), generator=torch.Generator().manual_seed(0)),)
    except ImportError:
        from imc.frontend import models

        model = models.create("bert_encoder", layers=12, hidden=768, heads=12)
        return "bert-base (zoo encoder)", model, models.example_inputs("bert_encoder", seq=128)
