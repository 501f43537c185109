"""The leg chart: no data is shown as no data, alerts are labelled, and there is a key."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta

import matplotlib.image
import pytest

from bot.views.chart import MAX_LABELS, STATE_COLOURS, Marker, draw_states, plan_chart

END = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)
START = END - timedelta(days=30)
LEGS = ["h20-ban", "rare-earth-leverage"]


def _days(at: datetime) -> float:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86_400


def test_time_before_the_first_item_is_no_data_not_intact() -> None:
    first = END - timedelta(days=3)
    broke = END - timedelta(days=1)
    plan = plan_chart(
        LEGS,
        [(broke, "h20-ban", "broken")],
        [Marker(broke, "h20-ban", "#1 broken")],
        start=START,
        end=END,
        data_from=first,
    )
    assert plan.no_data == (pytest.approx(_days(START)), pytest.approx(_days(first)))
    lefts = [left for states in plan.bands.values() for s in states.values() for left, _ in s]
    assert min(lefts) == pytest.approx(_days(first))  # no band starts before the data does
    assert plan.bands[0]["broken"] == [(pytest.approx(_days(broke)), pytest.approx(1.0))]
    assert plan.labels == [(pytest.approx(_days(broke)), 0, "#1 broken")]
    assert plan.key == ["intact", "challenged", "broken", "reversed", "no data yet", "alert"]


def test_a_state_from_before_the_window_carries_into_it() -> None:
    plan = plan_chart(
        LEGS, [(START - timedelta(days=5), "h20-ban", "reversed")], [], start=START, end=END
    )
    assert list(plan.bands[0]) == ["reversed"]
    assert plan.no_data is None
    assert "no data yet" not in plan.key


def test_crowded_labels_never_overlap_and_the_newest_win() -> None:
    marks = [
        Marker(END - timedelta(hours=3 * n), "h20-ban", f"#{100 - n} challenged") for n in range(60)
    ]
    plan = plan_chart(LEGS, [], marks, start=START, end=END)
    assert len(plan.markers) == 60  # every alert is marked
    assert 0 < len(plan.labels) <= MAX_LABELS
    assert plan.labels[0][2] == "#100 chall."  # the newest, labelled in full
    spans = sorted((x - len(t) * 0.0036 * 30, x + len(t) * 0.0036 * 30) for x, _, t in plan.labels)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def test_the_png_shows_no_data_in_grey_and_the_state_in_its_colour() -> None:
    first = END - timedelta(days=10)
    png = draw_states(LEGS, [], [], start=START, end=END, data_from=first)
    image = matplotlib.image.imread(io.BytesIO(png))
    height, width = image.shape[:2]
    plan = plan_chart(LEGS, [], [], start=START, end=END, data_from=first)
    left, bottom, w, h = plan.axes
    # Rows run from -0.75 (top) to 1.5 (bottom) for two legs; the first leg's band is at 0.
    y = int(height * (1 - bottom - h) + height * h * 0.75 / 2.25)

    def patch(at: datetime) -> tuple[float, float, float]:
        """The mean colour of a 20x5 pixel patch on the first leg's row at ``at``."""
        x = int(width * (left + w * (_days(at) - plan.start) / (plan.end - plan.start)))
        area = image[y - 2 : y + 3, x - 10 : x + 10, :3]
        r, g, b = (float(area[..., c].mean()) for c in range(3))
        return r, g, b

    green = _rgb(STATE_COLOURS["intact"])
    assert patch(END - timedelta(days=5)) == pytest.approx(green, abs=0.02)
    r, g, b = patch(START + timedelta(days=5))
    assert max(r, g, b) - min(r, g, b) < 0.05  # grey: no colour of any state
    assert 0.5 < r < 0.97  # and not the white of an empty chart
