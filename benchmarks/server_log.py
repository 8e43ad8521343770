"""Reading a headless server's console log (root/server.log): graph stats, and lines that are not log records.

The server runs with InvokeAI's colour log format: every record starts with a colour code and
"[time]::[logger]::LEVEL --> " and ends with the reset code, even when its message spans several
lines (the graph stats table does). So a line outside every such record was written to the console
directly (print, warnings, a library writing to stdout) rather than through a logger.
"""

from __future__ import annotations

import re
import time

from invokeai.backend.util.logging import InvokeAIColorLogFormatter

from tests.harness.server import Server

LOG_FORMAT = "color"  # the INVOKEAI_LOG_FORMAT the benchmarks' servers run with: records have visible ends

_RESET = InvokeAIColorLogFormatter.reset
_RECORD_START = re.compile(r"^\x1b\[[0-9;]*m\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]::\[[^\]]+\]::[A-Z]+ --> ")
# A row of InvokeAI's stats table (invocation_stats_common.InvocationStatsSummary.__str__):
#   "             remove_background       1    0.812s     +0.000G"
_ROW = re.compile(r"^\s*(?P<type>\S+)\s+(?P<calls>\d+)\s+(?P<seconds>\d+\.\d+)s\s+[+-]\d+\.\d+G\s*$")
LOUD = ("PERFORMANCE WARNING",)  # pymatting's console print when its preconditioner fails


def graph_stats(server: Server, session_id: str, timeout: float = 30) -> dict[str, float]:
    """Server and a finished session id -> {node type: seconds} from the stats table InvokeAI logged for it.

    InvokeAI 6.14.2 keeps per-node times only in memory (InvocationStatsService) and logs them at
    session end ("Graph stats: <session id>", one row per node type); no REST route returns them.
    The log line can trail the queue item's "completed" status by a moment.
    """
    marker = f"Graph stats: {session_id}"
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        at = log.find(marker)
        if at >= 0:
            rows: dict[str, float] = {}
            for line in log[at:].splitlines()[2:]:  # past the marker line and the table's heading
                m = _ROW.match(line)
                if not m:
                    break
                rows[m["type"]] = rows.get(m["type"], 0.0) + float(m["seconds"])
            if rows:
                return rows
        if time.monotonic() > deadline:
            raise RuntimeError(f"no graph stats for session {session_id} in {server.log_path}")
        time.sleep(0.1)


def raw_lines(log: str) -> list[str]:
    """A colour-format server log -> the lines that lie outside every log record, in order."""
    out: list[str] = []
    inside = False
    for line in log.splitlines():
        if not inside and _RECORD_START.match(line):
            inside = True
        elif not inside:
            out.append(line)
        if inside and line.endswith(_RESET):
            inside = False
    return out


def loud_lines(log: str) -> list[str]:
    """A server log -> the lines anywhere in it (records included) that carry a known console warning."""
    return [line for line in log.splitlines() if any(word in line for word in LOUD)]
