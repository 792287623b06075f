"""Email rendering for many recipients: rendered once with markers where a template allows
it, each recipient's text must be exactly what rendering the template for them gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from prcast.config import EmailConfig
from prcast.lists import Contact
from prcast.release import load_release
from prcast.render import _Personal, context, environment, render_template
from prcast.text.markup import html_of, to_html
from prcast.workspace import Workspace

names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
CUSTOM = {
    # output and tests only: rendered once per truthiness combination
    "plain.txt.j2": "{% if recipient.name %}Dear {{ recipient.name }} of {{ recipient.outlet }}"
    "{% elif recipient.outlet %}To {{ recipient.outlet }}{% else %}Hello{% endif %}"
    " ({{ group }}) {{ title }}\n{% if unsubscribe_url %}{{ unsubscribe_url }}{% endif %}",
    # a filter, a comparison and a condition expression: rendered per recipient
    "filtered.txt.j2": "{{ recipient.name|upper }} {{ 'x' if group == 'tech' else 'y' }}",
    # autoescaped: values escaped as jinja2 escapes them, content_html kept as markup
    "page.html.j2": '<p title="{{ recipient.name }}">{{ group }}</p>{{ content_html }}',
    # an include that reads a per-recipient value
    "outer.txt.j2": "A {% include 'inner.txt.j2' %} B",
    "inner.txt.j2": "{% if recipient.beat %}[{{ recipient.beat }}]{% endif %}{{ title }}",
}


@pytest.fixture
def setup(ws: Workspace) -> tuple[Any, dict[str, Any]]:
    for name, text in CUSTOM.items():
        (ws.templates_dir / name).write_text(text, encoding="utf-8")
    release = load_release(ws.releases_dir / "example.md")
    config = EmailConfig(name="mail", host="h", from_address="p@example.org")
    return environment(ws.templates_dir), context(release, config)


@pytest.mark.parametrize(
    "template",
    ["email.txt.j2", "email_subject.txt.j2", "email.html.j2", *sorted(CUSTOM)],
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    people=st.lists(st.tuples(names, names, names, st.sampled_from(["", "tech", "a&b<c>"])),
                    min_size=1, max_size=6),
)  # fmt: skip
def test_each_recipient_gets_exactly_the_full_rendering(
    setup: tuple[Any, dict[str, Any]], template: str, people: list[tuple[str, str, str, str]]
) -> None:
    env, base = setup
    personal = _Personal(env, template, base)
    for name, outlet, beat, group in people:
        values = {
            "recipient": Contact(name=name, email="a@b.example", outlet=outlet, beat=beat),
            "group": group,
            "unsubscribe_url": f"https://u.example/?e={name[:3]}" if beat else "",
            "content_html": Markup(to_html(name + "\n\n**" + outlet + "**")),
        }
        assert personal.render(values) == render_template(env, template, {**base, **values})


def test_the_shipped_templates_are_rendered_once_not_per_recipient(
    setup: tuple[Any, dict[str, Any]],
) -> None:
    env, base = setup
    assert _Personal(env, "email.txt.j2", base).paths is not None
    assert _Personal(env, "email.html.j2", base).paths == [("content_html",)]
    assert _Personal(env, "filtered.txt.j2", base).paths is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", " ", "\n", "- ", "# ", "**", "https://x.example/a", "<", "\t"]),
        max_size=30,
    ).map("".join)
)
def test_html_by_paragraph_is_the_html_of_the_whole_text(text: str) -> None:
    assert html_of(text, {}) == to_html(text)
