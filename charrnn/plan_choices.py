"""The planner's table of measured choices: which cell, at which depth, a `--time` plan trains
(plan.py decides the rest: its probe times each choice's widths and takes the widest that gets
enough steps). Data, not branches: a measurement changes a row, not the code.

A row's `budgets` are the budgets (seconds, from, up to) over which it measured best, in
`make bench-quality` against every other row measured at those budgets; () means it is best at
no budget measured. The planner's default is the first row whose budgets hold the budget asked
for. Any other row is only ever planned on request: `--cell qrnn --time 3m` plans that cell's
first row, its best measured depth (`--num-layers` picks among its depths), and a cell or depth
the table lacks plans a row of its own, the LSTM's recipe at the user's cell and depth.
docs/time-budget.md has the measurements behind every row.
"""

import math
from typing import NamedTuple

DEFAULT_LAYERS = 2  # the depth of a cell the table lacks, as the LSTM's recipe has it


class Choice(NamedTuple):
    cell: str
    num_layers: int
    budgets: tuple  # (from, up to) seconds where it measured best; (): best at no budget measured
    why: str  # the measurement, or the source of the guess

    @property
    def best_somewhere(self):
        return bool(self.budgets)

    def name(self):
        """The cell as the plan's line names it: "LSTM" (as in "LSTM 2x256"), "QRNN", "minGRU"."""
        return {"mingru": "minGRU"}.get(self.cell, self.cell.upper())


BEHIND = "measured behind the LSTM from 1 to 8 minutes"  # docs/time-budget.md, 2026-12-07
CHOICES = (
    Choice("lstm", 2, (0, math.inf), "the best text per minute among the rnn, gru, lstm, qrnn and mingru "
                                     "measured (docs/time-budget.md)"),
    Choice("qrnn", 2, (), BEHIND + "; ahead of 4 layers at each budget"),
    Choice("qrnn", 4, (), BEHIND + "; Merity et al. 2018 matched an LSTM at about twice its layers"),
    Choice("mingru", 3, (), BEHIND + "; ahead of 2 layers at each budget; the minGRU paper's three blocks"),
    Choice("mingru", 2, (), BEHIND),
)


def choose(seconds, cell=None, num_layers=None, table=CHOICES):
    """The row a plan for `seconds` trains: the first row whose budgets hold `seconds`; with the
    user's `cell` or `num_layers` (None: not chosen), the first row that has them (the default's
    cell if only the depth is chosen), best at `seconds` first, else a row of their own."""
    default = next(row for row in table if in_budget(row, seconds))
    if cell is None and num_layers is None:
        return default
    cell = cell or default.cell
    wanted = [row for row in table if row.cell == cell and num_layers in (None, row.num_layers)]
    wanted.sort(key=lambda row: not in_budget(row, seconds))  # stable: the table's order within each
    return wanted[0] if wanted else Choice(cell, num_layers or DEFAULT_LAYERS, (), "yours; not in the planner's table")


def in_budget(row, seconds):
    return row.best_somewhere and row.budgets[0] <= seconds < row.budgets[1]
