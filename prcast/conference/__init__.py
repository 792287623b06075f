"""A press conference or expert chat over a microblog: announced in advance, questions taken
in from mentions, direct messages, replies and the hashtag, answered as replies, closed, and
reported afterwards.

Every post of a conference (announcement, opening, each answer, closing) goes through the
delivery engine as a run of its own, so a crash or a second attempt never posts twice: the
run id comes from the conference, the kind of post, the question and the exact text.
Questions are kept in the state store with a cursor per channel and source, inserted and
the cursor moved in one transaction, so a restarted intake neither loses nor repeats one;
each question is also written to the audit log with its remote id, author and time.

The package: `definition` (conferences/NAME.toml), `book` (the question book in the state
store, and which moderator holds which question), `intake` (questions in, per service),
`posting` (posts out, skips and unskips, reopening) and `report` (the post-event report)."""

from prcast.conference.book import (
    ANNOUNCED,
    ANSWERED,
    CLOSED,
    DUPLICATE,
    LIVE,
    OPEN,
    PLANNED,
    SKIPPED,
    Book,
    Question,
    State,
    Taken,
    answer_runs,
    let_go,
    moderator,
    settle_answers,
    take,
    taken,
    time_left,
)
from prcast.conference.definition import (
    DEFAULT_TEMPLATES,
    KINDS,
    Conference,
    conferences_dir,
    load,
    names,
    resolve_name,
    scaffold,
)
from prcast.conference.intake import ROUTES, Intake, _normal, known_limits, poll, route_set
from prcast.conference.posting import (
    announce,
    answer,
    close_conference,
    open_conference,
    render_post,
    reopen,
    reply_shape,
    skip,
    unskip,
)

__all__ = [
    "ANNOUNCED", "ANSWERED", "CLOSED", "DEFAULT_TEMPLATES", "DUPLICATE", "KINDS", "LIVE", "OPEN",
    "PLANNED", "ROUTES", "SKIPPED", "Book", "Conference", "Intake", "Question", "State", "Taken",
    "_normal", "announce", "answer", "answer_runs", "close_conference", "conferences_dir",
    "known_limits", "let_go", "load", "moderator", "names", "open_conference", "poll",
    "render_post", "reopen", "reply_shape", "resolve_name", "route_set", "scaffold",
    "settle_answers", "skip", "take", "taken", "time_left", "unskip",
]  # fmt: skip
