"""What a training run records and reports after its steps: metrics.jsonl, at most one
warning, a fine-tuned run's loss on its kept text, and samples (runs.run_training uses it)."""

import json

import numpy as np

from .evaluation import BROKEN_STREAM
from .finetune import kept_text
from .reporting import Interval
from .sample import SampleOptions, Sampler

OVERFIT_GAP = 0.1  # nats/char between validation and training loss that counts as overfitting
# The most any run measured best (2x512 over 30 minutes; 0.5 lost there and on 100 KB): the
# overfitting advice suggests no more, and it is the planner's top dropout tier.
MAX_SUGGESTED_DROPOUT = 0.4


def overfitting(record, run, config):
    """A one-line warning when validation is well above training loss and no longer improving."""
    gap = record["val_loss"] - record["train_loss"]
    if run.stale_evals and gap > OVERFIT_GAP:
        more = min(config.dropout + 0.2, MAX_SUGGESTED_DROPOUT)
        dropout = f"--dropout {more:.1f} or " if more > config.dropout else ""
        return (f"train {record['train_loss']:.2f}, validation {record['val_loss']:.2f} and not improving: "
                f"overfitting; try {dropout}a smaller --hidden-size (now {config.hidden_size})")
    return None


def broken_start(record):
    """A one-line warning when one validation stream reads far above the median stream: the
    model fails from a zero state on that text, which the mean would pass off as overfitting."""
    worst, median = record["val_worst_stream"], record["val_median_stream"]
    if worst > BROKEN_STREAM * median:
        return (f"validation's stream at character {record['val_worst_start']:,} reads {worst:.2f} nats/char, "
                f"{worst / median:.1f}x the median stream ({median:.2f}): the model breaks from a zero state on "
                "that text, which is not overfitting (--state-reset trains the zero state; docs/zero-state.md)")
    return None


def _warning(record, run, config):
    return ("val_loss" in record and (broken_start(record) or overfitting(record, run, config))) or None


def sample_text(run, config, vocab):
    """The sample shown every `sample_every` steps: 200 characters from the default seed, drawn
    with a generator of the run's seed and the step, which leaves the run's own RNG alone."""
    options, seed = SampleOptions(n=200, echo_seed=False), [config.random_seed, run.step]
    weights = run.optimizer.weights(run.params)
    text = b"".join(Sampler(weights, config, vocab, vocab.default_seed(), options, seed))
    return text.decode("utf-8", "replace")


def kept_for(run, vocab, config, cache, reporter):
    """A fine-tuned run's KeepEval (finetune.kept_text), its score at step 0 said once and kept
    in the metadata; None for other runs."""
    kept = kept_text(run.extra, vocab, config, cache)
    spec = run.extra.get("keep_eval")
    if spec is not None and kept is None:
        reporter.note("the parent's corpus is no longer at hand, so the run reports no loss on it (--keep-eval FILE "
                      "names text to report)")
    if kept is not None and "start" not in spec:
        spec["start"] = kept.score(run.optimizer.weights(run.params), config)
        reporter.note(f"{kept.name} at step 0: {spec['start']:.4f} nats/char (reported at every evaluation as "
                      "kept_loss)")
    return kept


def _interval(record, run, config, kept, warning):
    """The Interval a reporter is told of for `record`."""
    kept = (kept.name, record["kept_loss"], run.extra["keep_eval"]["start"]) if "kept_loss" in record else None
    return Interval(run.step, config.max_steps, run.epoch, record["train_loss"], record["chars_per_second"],
                    record.get("val_loss"), kept, warning)


def watch_steps(metrics, config, vocab, reporter, kept=None):
    """training.train's on_step: a metrics.jsonl line per interval, told to `reporter` with at
    most one warning in the run (a broken start, or overfitting) and, at each evaluation, the
    loss on a fine-tuned run's kept text (`kept`, a finetune.KeepEval); samples if asked."""
    warned = []

    def on_step(run, record):
        if record is not None:
            if kept is not None and "val_loss" in record:
                record["kept_loss"] = kept.score(run.optimizer.weights(run.params), config)
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            warning = None if warned else _warning(record, run, config)
            if warning:
                warned.append(warning)
            reporter.interval(_interval(record, run, config, kept, warning))
        if config.sample_every and run.step % config.sample_every == 0:
            reporter.sample(run.step, lambda: sample_text(run, config, vocab))

    return on_step
