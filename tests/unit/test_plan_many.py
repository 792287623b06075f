"""Planning for a large audience takes shortcuts (templates filled per recipient from one
rendering, the HTML page and subject worked out once, Posts and contacts made without their
dataclass __init__, the cycle collector paused): what a user gets must be exactly what
rendering each recipient in full gives."""

from __future__ import annotations

import csv
import gc
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from prcast.channels import Post
from prcast.config import EmailConfig
from prcast.delivery.plan import Delivery, prepare
from prcast.errors import InputError
from prcast.lists import PressList, _load_contacts, read_csv
from prcast.render import (
    _quote,
    audience_members,
    context,
    effective_limits,
    environment,
    recipient_context,
    render_template,
    thread_posts,
)
from prcast.store.migrations import publication_identity
from prcast.text.counting import measurer
from prcast.text.markup import to_html
from prcast.workspace import Workspace

N = 1000
NAMES = ["", "Anna & Ben <ed>", "{0} {name} %(x)s", "Zoë Ünal", "O'Brien", "Jo  Spaces", "Li"]
LANGUAGES = ["de", "en", "fr", "", "de-AT", "es"]
BODY = """Example Corp opens a **repair workshop** in Leipzig: https://example.org/w.

- forty new jobs
- free repairs for schools

# What is next

A second paragraph
with a soft line break, {braces} and <angle> & ampersands."""


def _workspace(ws: Workspace, templates: dict[str, str]) -> Path:
    with open(ws.channels_file, "a", encoding="utf-8") as f:
        f.write('\n[channels.mail]\ntype = "email"\nhost = "127.0.0.1"\nport = 2525\ntls = "none"\n'
                'from_address = "Press <press@example.org>"\n'
                'unsubscribe_url = "https://press.example.org/u?e={email}&x={{y}}"\n')  # fmt: skip
    with open(ws.lists_dir / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "mastodon", "beat", "language", "tags"])
        for i in range(N):
            # every address shape the unsubscribe link quotes: plus, apostrophe, braces
            local = ["j", "j+tag", "o'brien", "a{b}c", "x.y_z-1~"][i % 5]
            email = "" if i % 97 == 0 else f"{local}{i}@outlet{i % 7}.example"
            w.writerow([NAMES[i % len(NAMES)], email, f"@m{i}@social.example" if not email else "",
                        ["tech", "business"][i % 2], LANGUAGES[i % len(LANGUAGES)],
                        "weekly" if i % 3 else ""])  # fmt: skip
    (ws.lists_dir / "groups.toml").write_text(
        '[groups.a]\ndescription = "Tech desk"\nwhere = { beat = "tech" }\n\n'
        '[groups.b]\ndescription = "Business & more"\nwhere = { beat = "business" }\n',
        encoding="utf-8",
    )
    (ws.lists_dir / "suppressed.txt").write_text("j+tag1@outlet1.example\n", encoding="utf-8")
    for name, text in templates.items():
        (ws.templates_dir / name).write_text(text, encoding="utf-8")
    path = ws.releases_dir / "many.md"
    path.write_text(
        '+++\ntitle = "Repair {workshop} & more"\nsummary = "Forty jobs."\n'
        'channels = ["mail"]\naudience = ["a", "b"]\nhashtags = ["repair"]\n'
        'links = [{ url = "https://example.org/f", title = "Fact sheet" }]\n'
        'contact = { name = "Jana", email = "press@example.org" }\n'
        f"+++\n{BODY}\n",
        encoding="utf-8",
    )
    return path


def _reference_posts(ws: Workspace, release: Any, channel: EmailConfig) -> list[Post]:
    """Each recipient's email rendered in full, the way prcast did before the shortcuts:
    the three templates with the whole context, to_html of the whole text, thread_posts."""
    press = PressList(ws.lists_dir)
    audience = [press.resolve(g) for g in release.audience]
    env = environment(ws.templates_dir)
    base = context(release, channel, audience)
    limits = effective_limits(channel, None)
    measure = measurer(channel.rule, url_length=limits.url_length)
    posts = []
    members, _ = audience_members(audience)
    for group, contact in members:
        if not contact.email:
            continue
        unsubscribe = (channel.unsubscribe_url or "").replace("{email}", quote(contact.email))
        full = {**base, **recipient_context(base, contact, group), "unsubscribe_url": unsubscribe}
        text = render_template(env, "email.txt.j2", full).strip()
        subject = " ".join(render_template(env, "email_subject.txt.j2", full).split())
        html = render_template(
            env, "email.html.j2", {**full, "content_html": Markup(to_html(text))}
        )
        [post] = thread_posts(release, channel, text, limits, measure, target=contact.email,
                              group=group, recipients=(contact.email,),
                              recipient_name=contact.name, subject=subject, html=html)  # fmt: skip
        posts.append(post)
    return posts


@pytest.mark.parametrize(
    "templates",
    [
        {},  # the shipped templates
        {  # overrides reading per-recipient values where the shipped ones do not
            "email_subject.txt.j2": "{{ title }} for {% if recipient.name %}{{ recipient.name }}"
            "{% else %}you{% endif %} ({{ group_description }})",
            "email.html.j2": "<h1 title='{{ recipient.outlet }}'>{{ title }}</h1>{{ content_html }}"
            "{% if unsubscribe_url %}<a href='{{ unsubscribe_url }}'>x</a>{% endif %}",
        },
        {  # a filter: the page is rendered per recipient, in full
            "email.html.j2": "{{ recipient.name | upper }}{{ content_html }}",
        },
    ],
    ids=["shipped", "personal-subject-and-page", "filtered-page"],
)
def test_a_plan_for_1000_recipients_is_what_rendering_each_in_full_gives(
    ws: Workspace, templates: dict[str, str]
) -> None:
    path = _workspace(ws, templates)
    plan = prepare(ws, str(path))
    [rendering] = plan.renderings
    assert isinstance(rendering.channel, EmailConfig)
    reference = _reference_posts(ws, plan.release, rendering.channel)
    assert len(reference) > 900
    # the emails come stamped with the plan's moment (planned_at), nothing else differs
    assert [replace(p, planned_at="") for p in rendering.posts] == reference
    planned_at = plan.deliveries[0].post.planned_at
    assert planned_at
    assert [d.post for d in plan.deliveries] == [
        replace(p, planned_at=planned_at) for p in reference
    ]
    assert [d.key for d in plan.deliveries] == [
        publication_identity(plan.workspace, plan.release_key, plan.edition, "mail", p.target, 1)
        for p in reference
    ]
    assert plan.deliveries == tuple(
        Delivery(d.key, i, "mail", d.target, d.post, None, d.key)
        for i, d in enumerate(plan.deliveries, start=1)
    )
    # the recipients without an address and the suppressed one are listed, not sent to
    reasons = {e.recipient: e.reason for e in rendering.excluded}
    assert reasons["j+tag1@outlet1.example"].startswith("suppressed")
    assert list(reasons.values()).count("no email address") == len(range(0, N, 97))


def test_planning_leaves_the_cycle_collector_as_it_found_it(ws: Workspace) -> None:
    path = _workspace(ws, {})
    assert gc.isenabled()
    prepare(ws, str(path))
    assert gc.isenabled()
    (ws.lists_dir / "groups.toml").write_text("[groups.a]\nwhere = 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="where must be a table"):
        prepare(ws, str(path))
    assert gc.isenabled()
    gc.disable()
    try:
        (ws.lists_dir / "groups.toml").write_text(
            '[groups.a]\nwhere = {beat = "tech"}\n[groups.b]\nmembers = []\n'
        )
        prepare(ws, str(path))
        assert not gc.isenabled()
    finally:
        gc.enable()


@given(st.text(max_size=40))
def test_the_unsubscribe_address_is_quoted_as_urllib_quotes_it(value: str) -> None:
    try:
        expected = quote(value)
    except UnicodeEncodeError:  # a lone surrogate: urllib refuses it, and so do we
        with pytest.raises(UnicodeEncodeError):
            _quote(value)
        return
    assert _quote(value) == expected


def test_contacts_from_the_cache_are_the_contacts_of_the_file(ws: Workspace) -> None:
    _workspace(ws, {})
    path = ws.lists_dir / "contacts.csv"
    fresh = [c for _, c in read_csv(path).contacts]
    first = _load_contacts(path)  # checks the file and writes the cache
    assert (ws.state_dir / "contacts-cache.json").exists()
    cached = _load_contacts(path)
    assert cached == first == fresh
    assert [vars(c) for c in cached] == [vars(c) for c in fresh]
    assert cached[0].addresses() == fresh[0].addresses()
    # a cache whose cell is not text is not believed: the file is read again
    cache = ws.state_dir / "contacts-cache.json"
    cache.write_text(cache.read_text(encoding="utf-8").replace('"Li"', "7", 1), encoding="utf-8")
    assert _load_contacts(path) == fresh


def test_the_html_part_escapes_what_is_not_markup() -> None:
    # the recipient's paragraph takes the short way (no link, no bold), the others do not
    assert to_html("Dear Anna & Ben <ed>,\n\n" + BODY) == (
        "<p>Dear Anna &amp; Ben &lt;ed&gt;,</p><p>Example Corp opens a <strong>repair "
        'workshop</strong> in Leipzig: <a href="https://example.org/w">https://example.org/w</a>.'
        "</p><ul><li>forty new jobs</li><li>free repairs for schools</li></ul><h3>What is next"
        "</h3><p>A second paragraph<br>with a soft line break, {braces} and &lt;angle&gt; &amp; "
        "ampersands.</p>"
    )
