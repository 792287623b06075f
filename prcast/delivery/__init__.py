"""Delivery: plan a release into publications, check it, and send each exactly once.

- plan.py: renderings -> deliveries keyed by publication, recorded against the ledger
- preflight.py: policy over what is sent, approvals, embargo, ledger conflicts, caps
- claims.py: owners with leases; chains claimed by compare-and-set
- pacing.py: per-channel concurrency and rate limits
- engine.py: claim, attempt (durable before the request leaves), record, resume
- fanout.py: one run sent by several OS processes (helpers sharing the claims)
"""

from __future__ import annotations

from collections.abc import Callable

from prcast.delivery.engine import Event, Fault, Outcome, backoff, classify, run_deliveries
from prcast.delivery.pacing import Gate
from prcast.delivery.plan import (
    PUBLIC,
    Delivery,
    Plan,
    make_plan,
    new_edition,
    post_from_dict,
    post_to_dict,
    prepare,
    record_plan,
)
from prcast.delivery.preflight import check_embargo, check_frequency, preflight
from prcast.workspace import Workspace


def send(
    ws: Workspace,
    plan: Plan,
    on_event: Callable[[Event], None] = lambda e: None,
    *,
    resend_in_doubt: bool = False,
    break_embargo: str | None = None,
    checked: bool = False,
    processes: int | None = None,
) -> Outcome:
    """Record the plan (once) and deliver what is not delivered yet (after `preflight`,
    unless the caller ran it already: `checked`). `processes`: see `run_deliveries`."""
    if not checked:
        preflight(ws, plan, break_embargo=break_embargo)
    new = record_plan(ws, plan)
    return run_deliveries(
        ws,
        plan.run_id,
        on_event,
        resend_in_doubt=resend_in_doubt,
        new_run=new,
        checked=True,
        processes=processes,
    )


__all__ = [
    "PUBLIC",
    "Delivery",
    "Event",
    "Fault",
    "Gate",
    "Outcome",
    "Plan",
    "backoff",
    "check_embargo",
    "check_frequency",
    "classify",
    "make_plan",
    "new_edition",
    "post_from_dict",
    "post_to_dict",
    "preflight",
    "prepare",
    "record_plan",
    "run_deliveries",
    "send",
]
