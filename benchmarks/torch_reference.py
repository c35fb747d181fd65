"""The same models in PyTorch (one-hot input, nn.RNN/LSTM/GRU, nn.Linear), timed on the same batches."""

import os

import torch

from workload import timed


class Reference(torch.nn.Module):
    def __init__(self, config, vocab_size):
        super().__init__()
        layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[config.cell]
        self.vocab_size = vocab_size
        self.rnn = layer(vocab_size, config.hidden_size, config.num_layers, batch_first=True)
        self.head = torch.nn.Linear(config.hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.rnn(torch.nn.functional.one_hot(ids, self.vocab_size).float(), state)
        return self.head(out), state


def bench_torch(config, vocab_size, windows, val, repeats):
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    model = Reference(config, vocab_size)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=config.learning_rate)
    batches = [tuple(torch.from_numpy(a) for a in windows[i]) for i in range(min(8, windows.per_epoch))]
    chars = config.batch_size * config.seq_length

    def train(steps=len(batches)):
        for inputs, targets in batches[:steps]:
            optimizer.zero_grad()
            logits, _ = model(inputs)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1))
            loss.backward()
            optimizer.step()

    train_s = timed(train, repeats)
    text = torch.from_numpy(val.read(0, len(val)))
    streams = 64 if config.batch_size > 1 else 1
    usable = (len(text) // streams) * streams
    eval_ids = text[:usable].reshape(streams, -1)

    def evaluate():
        with torch.no_grad():
            model(eval_ids)

    eval_s = timed(evaluate, repeats)

    def sample(n=1000):
        with torch.no_grad():
            ids, state = torch.zeros((1, 1), dtype=torch.long), None
            for _ in range(n):
                logits, state = model(ids, state)
                ids = torch.multinomial(torch.softmax(logits[:, -1], -1), 1)

    sample_s = timed(sample, repeats)
    return {"torch_train": len(batches) * chars / train_s, "torch_eval": usable / eval_s,
            "torch_sample1": 1000 / sample_s}
