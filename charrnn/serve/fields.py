"""A request field's type and range, written once: the validators check values against it
(validate.py) and the published API schema states it (openapi.py), so the two cannot drift.

    Field("integer", 1, 8, default=1).accepts(3)    → True
    Field("integer", 1, 8).want                     → "an integer from 1 to 8"
    Field("number", 0, 1, above=True).schema()
        → {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1}

JSON's null means the field is absent (its default), as in OpenAI's API, so every schema
allows it. A boolean is not a number here (Python's True is an int). An integer is what JSON
Schema calls one, a number without a fraction, so 2.0 is the integer 2 (`value` makes it so).
"""

import math
from dataclasses import dataclass

KINDS = {"integer": (int,), "number": (int, float), "boolean": (bool,), "string": (str,)}


@dataclass(frozen=True)
class Field:
    kind: str  # its JSON Schema type: integer, number, boolean or string
    low: float = None  # the smallest value accepted; None: no lower bound
    high: float = None  # the largest; None: no upper bound
    above: bool = False  # low itself is refused: the range is (low, high]
    choices: tuple = None  # the only values accepted (a string field's)
    default: object = None  # what an absent or null field means
    note: str = ""  # said after the range, as "(0: no limit)"

    def accepts(self, value):
        """Whether a non-null JSON value is of this field's type and in its range."""
        if isinstance(value, bool) != (self.kind == "boolean") or not isinstance(value, KINDS[self.kind]):
            integral = self.kind == "integer" and isinstance(value, float) and value.is_integer()
            return integral and self.accepts(int(value))
        if self.choices is not None:
            return value in self.choices
        # comparisons first: Python compares a 400-digit int with a float exactly, math.isfinite overflows
        if self.low is not None and (value < self.low or (self.above and value == self.low)):
            return False
        if self.high is not None and value > self.high:
            return False
        return not isinstance(value, float) or math.isfinite(value)

    def value(self, value):
        """An accepted value as the server uses it: an integer field's 2.0 as 2."""
        return int(value) if self.kind == "integer" else value

    @property
    def want(self):
        """What the field must be, for an error message: "an integer from 1 to 8"."""
        noun = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "a string"}
        if self.choices is not None:
            said = f"one of {', '.join(map(str, self.choices))}"
        elif self.above:
            said = f"{noun[self.kind]} in ({self.low}, {self.high}]"
        elif self.low is not None and self.high is not None:
            said = f"{noun[self.kind]} from {self.low} to {self.high}"
        elif self.low is not None:
            said = f"{noun[self.kind]} >= {self.low}"
        else:
            said = noun[self.kind]
        return f"{said} {self.note}" if self.note else said

    def schema(self, description=""):
        """The field as a JSON Schema (OpenAPI 3.1) property."""
        out = {"type": [self.kind, "null"]}
        if self.choices is not None:
            out["enum"] = [*self.choices, None]
        if self.low is not None:
            out["exclusiveMinimum" if self.above else "minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        if self.default is not None:
            out["default"] = self.default
        if description or self.note:
            out["description"] = " ".join(filter(None, [description, self.note]))
        return out
