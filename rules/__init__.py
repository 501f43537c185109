"""The rule engine: YAML rules traders edit, compiled once, evaluated as pure functions.

No I/O here: callers read files and pass ``{file name: text}`` to :func:`load_ruleset`.
"""

from rules.board import (
    Board,
    Evidence,
    LegState,
    LegStatus,
    Outcome,
    Transition,
    advance,
    new_board,
)
from rules.diagnose import Trace
from rules.engine import Engine, compile_ruleset
from rules.evalreport import format_report, report_json
from rules.examples import ExampleFailure, run_examples
from rules.loader import load_ruleset, parse_duration
from rules.metrics import EvalLine, EvalReport, evaluate_labelled, evaluate_sets, top_signal
from rules.model import (
    ConfirmationPolicy,
    Direction,
    Effect,
    Item,
    Leg,
    Move,
    Rule,
    RuleSet,
    Severity,
    Signal,
    Span,
    Thesis,
    TickerImpact,
    Tier,
)
from rules.records import (
    LabelEntry,
    LabelledItem,
    RecordError,
    item_from_record,
    labelled_from_record,
)
from rules.reload import Reload, reload_rules
from rules.yamlsrc import Problem, YamlError

__all__ = [
    "Board",
    "ConfirmationPolicy",
    "Direction",
    "Effect",
    "Engine",
    "EvalLine",
    "EvalReport",
    "Evidence",
    "ExampleFailure",
    "Item",
    "LabelEntry",
    "LabelledItem",
    "Leg",
    "LegState",
    "LegStatus",
    "Move",
    "Outcome",
    "Problem",
    "RecordError",
    "Reload",
    "Rule",
    "RuleSet",
    "Severity",
    "Signal",
    "Span",
    "Thesis",
    "TickerImpact",
    "Tier",
    "Trace",
    "Transition",
    "YamlError",
    "advance",
    "compile_ruleset",
    "evaluate_labelled",
    "evaluate_sets",
    "format_report",
    "item_from_record",
    "labelled_from_record",
    "load_ruleset",
    "new_board",
    "parse_duration",
    "reload_rules",
    "report_json",
    "rule_cooldowns",
    "run_examples",
    "top_signal",
]
