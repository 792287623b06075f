"""How a run is shared between sending processes (prcast/delivery/fanout.py): the channel's
connections and rate split without exceeding what is configured, the team's size, and the
slices each process walks (every chain in every process's order, exactly once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prcast.config import EmailConfig, load_config
from prcast.delivery import fanout
from prcast.delivery.engine import _Work
from prcast.delivery.fanout import Share, team_size
from prcast.errors import InputError
from prcast.store import PLANNED, DeliveryRow


def email(**settings: object) -> EmailConfig:
    base = {"name": "mail", "host": "127.0.0.1", "from_address": "press@example.org"}
    return EmailConfig(**{**base, **settings})  # type: ignore[arg-type]


@pytest.mark.parametrize("connections", [1, 2, 3, 4, 7, 16, 64])
@pytest.mark.parametrize("processes", [1, 2, 3, 4, 8])
def test_the_team_never_holds_more_connections_or_rate_than_configured(
    connections: int, processes: int
) -> None:
    size = team_size(email(connections=connections, processes=processes), 10_000)
    assert 1 <= size <= min(processes, connections)
    config = email(connections=connections, max_per_minute=6000)
    shares = [Share(i, {"mail": size}).config(config) for i in range(size)]
    assert sum(s.connections for s in shares) == connections  # the in-doubt bound
    assert all(s.connections >= 1 for s in shares)
    assert sum(s.max_per_minute or 0 for s in shares) <= 6000


def test_the_default_follows_the_cpus_and_the_size_of_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout, "cpus", lambda: 5)
    config = email(connections=8)
    assert team_size(config, 999) == 1  # a small run stays in one process
    assert team_size(config, 1_000) == 2
    assert team_size(config, 100_000) == 4  # the CPU count less one
    monkeypatch.setattr(fanout, "cpus", lambda: 2)
    assert team_size(config, 100_000) == 1  # two cores: one sends, one for the rest
    monkeypatch.setattr(fanout, "cpus", lambda: 5)
    assert team_size(email(connections=2), 100_000) == 2  # at most one per connection
    assert team_size(email(connections=8, processes=1), 100_000) == 1
    assert team_size(config, 600, wanted=3) == 3  # asked for: no size rule
    assert team_size(config, 2, wanted=3) == 2


def test_processes_is_checked_in_channels_toml(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(
        '[channels.mail]\ntype = "email"\nhost = "h"\nfrom_address = "a@b.example"\n'
        "processes = 0\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_config(path)
    assert "processes" in info.value.message and "channels.toml" in str(info.value.path)


def rows(count: int) -> list[DeliveryRow]:
    return [
        DeliveryRow(
            key=f"k{i}",
            run_id="run",
            seq=i,
            channel="mail",
            target=f"j{i}@example.org",
            part=1,
            parts=1,
            parent_key=None,
            post={},
            status=PLANNED,
            remote_id=None,
            url=None,
            error=None,
            attempts=0,
            updated_at="",
            chain=f"c{i}",
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("size", [2, 3, 5])
def test_each_process_walks_its_own_slice_first_and_sees_every_chain_once(size: int) -> None:
    all_rows = rows(103)
    orders = []
    for index in range(size):
        work = _Work(all_rows, Share(index, {"mail": size}))
        order = work.take("mail", 1000)
        assert sorted(order) == sorted(f"c{i}" for i in range(103))
        orders.append(order)
    firsts = [order[0] for order in orders]
    assert len(set(firsts)) == size  # each starts somewhere else


def test_a_process_leaves_a_slice_where_it_meets_another() -> None:
    work = _Work(rows(100), Share(0, {"mail": 2}))
    own = work.take("mail", 50)
    assert own == [f"c{i}" for i in range(50)]
    stolen = work.take("mail", 10)
    assert stolen == [f"c{i}" for i in range(99, 89, -1)]  # the other's slice, from its end
    work.meet("c89")
    assert work.take("mail", 100) == []
