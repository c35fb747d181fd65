"""A small GPT in torch with nanoGPT's architecture (karpathy/nanoGPT, model.py), written here for
`make bench-quality`'s second anchor: pre-norm blocks of causal self-attention and a GELU MLP,
learned positions, a final layer norm, and the output layer tied to the token embedding.

It trains for a wall-clock budget on random windows of charrnn's training split, with AdamW
(weight decay on the matrices only), a linear warm-up and a cosine ending at the deadline, and
is scored on charrnn's validation split with every character scored once and, past the split's
first block, with at least half a block of context.
"""

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

# nanoGPT's README CPU recipe on config/train_shakespeare_char.py (--block_size=64 --batch_size=12
# --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0; lr 1e-3 to 1e-4, beta2 0.99, warm-up 100,
# weight decay 0.1, clip 1.0), and one tuned for these budgets: wider and longer-sighted, a higher rate.
RECIPES = {
    "readme": dict(layers=4, heads=4, width=128, block=64, batch=12, lr=1e-3, min_lr=1e-4, warmup=100),
    "tuned": dict(layers=4, heads=4, width=192, block=128, batch=16, lr=2e-3, min_lr=2e-4, warmup=100),
}


class Block(nn.Module):
    """x + attention(norm(x)), then + MLP(norm(x)): the pre-norm residual block."""

    def __init__(self, width, heads, layers):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width, bias=False), nn.LayerNorm(width, bias=False)
        self.qkv, self.out = nn.Linear(width, 3 * width, bias=False), nn.Linear(width, width, bias=False)
        self.up, self.down = nn.Linear(width, 4 * width, bias=False), nn.Linear(4 * width, width, bias=False)
        for projection in (self.out, self.down):  # residual projections: smaller, by depth (GPT-2's scaling)
            nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in self.qkv(self.norm1(x)).split(C, 2))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.out(attended)
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, layers, heads, width, block, **_):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, width), nn.Embedding(block, width)
        for weight in (self.tokens.weight, self.positions.weight):
            nn.init.normal_(weight, std=0.02)
        self.blocks = nn.ModuleList(Block(width, heads, layers) for _ in range(layers))
        for block_ in self.blocks:
            for linear in (block_.qkv, block_.up):
                nn.init.normal_(linear.weight, std=0.02)
        self.norm = nn.LayerNorm(width, bias=False)

    def forward(self, ids):  # (B, T) -> logits (B, T, V)
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
        for block_ in self.blocks:
            x = block_(x)
        return self.norm(x) @ self.tokens.weight.T  # the output layer is the embedding, tied


def optimizer(model, lr):
    """AdamW as nanoGPT configures it: weight decay 0.1 on matrices, none on norms; betas 0.9, 0.99."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def rate(recipe, step, progress):
    """Linear warm-up over `warmup` steps, then cosine from lr to min_lr over the budget's `progress` (0 to 1)."""
    if step < recipe["warmup"]:
        return recipe["lr"] * (step + 1) / recipe["warmup"]
    return recipe["min_lr"] + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (recipe["lr"] - recipe["min_lr"])


def train(recipe, train_ids, vocab, seconds, seed=0):
    """The model after `seconds` of training on random windows of `train_ids` (a 1-D int64 tensor), and its steps."""
    torch.manual_seed(seed)
    model, block, batch = GPT(vocab, **recipe), recipe["block"], recipe["batch"]
    opt = optimizer(model, recipe["lr"])
    started, step = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - started) < seconds:
        for group in opt.param_groups:
            group["lr"] = rate(recipe, step, elapsed / seconds)
        starts = torch.randint(len(train_ids) - block - 1, (batch,))
        windows = torch.stack([train_ids[s:s + block + 1] for s in starts.tolist()])
        logits = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), windows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
    return model, step


def spans(targets, block):
    """(start, first scored position) of the windows that score `targets` characters once each: a
    window from `start` predicts characters start + 1 ... start + block; the first scores all of its
    positions, the others those from block/2 on (each with at least block/2 characters before it), and a
    last one, as far right as it fits, takes the characters left over."""
    half, found = block // 2, [(0, 0)]
    while found[-1][0] + half + block <= targets:
        found.append((found[-1][0] + half, half))
    covered = found[-1][0] + block
    if covered < targets:
        found.append((targets - block, covered - (targets - block)))
    return found


@torch.no_grad()
def score(model, val_ids, block, batch=64):
    """Validation nats/char of `val_ids` (1-D int64), each character after the first scored once (spans)."""
    model.eval()
    nats, chars, windows = 0.0, 0, spans(len(val_ids) - 1, block)
    for first in range(0, len(windows), batch):
        rows = windows[first:first + batch]
        ids = torch.stack([val_ids[start:start + block + 1] for start, _ in rows])
        logp = torch.log_softmax(model(ids[:, :-1]), -1).gather(-1, ids[:, 1:, None])[..., 0]  # (B, block)
        scored = torch.arange(block)[None, :] >= torch.tensor([position for _, position in rows])[:, None]
        nats -= float(logp[scored].sum())
        chars += int(scored.sum())
    model.train()
    return nats / chars
