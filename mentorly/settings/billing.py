"""The Billing section: the plan, membership, and points and level.

Payments do not exist yet, so every member is on the Free plan and the section says so. The level
thresholds live here and only here: whatever awards points should set `users.level` with
`level_for_points`, and the section shows the level the points have earned.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime

from flask import Response, g

from ..auth.session import onboarded_required
from ..models import User
from . import bp
from .sections import render_section

SLUG = "billing"
PLAN = "Free"

# Points needed for each level: level 1 from 0 points, level 2 from 100, ... level 10 (the top)
# from 10,000. Past the top the progress bar stays full.
LEVEL_THRESHOLDS = (0, 100, 250, 500, 1_000, 2_000, 3_500, 5_000, 7_500, 10_000)
MAX_LEVEL = len(LEVEL_THRESHOLDS)


def level_for_points(points: int) -> int:
    """The level `points` have earned (1 for none)."""
    return max(1, bisect_right(LEVEL_THRESHOLDS, max(points, 0)))


@dataclass(frozen=True)
class LevelProgress:
    points: int
    level: int
    level_floor: int  # the points at which this level began
    next_level: int | None  # None at the top level
    next_threshold: int | None
    points_to_next: int  # 0 at the top level
    percent: int  # of the way from this level to the next, 0-100

    @property
    def is_max(self) -> bool:
        return self.next_level is None


def level_progress(points: int) -> LevelProgress:
    points = max(points, 0)
    level = level_for_points(points)
    floor = LEVEL_THRESHOLDS[level - 1]
    if level == MAX_LEVEL:
        return LevelProgress(points, level, floor, None, None, 0, 100)
    ceiling = LEVEL_THRESHOLDS[level]
    percent = (points - floor) * 100 // (ceiling - floor)
    return LevelProgress(points, level, floor, level + 1, ceiling, ceiling - points, percent)


def member_since(user: User) -> datetime:
    """When the person joined: Clerk's account creation, else our first record of them."""
    return user.joined_at or user.created_at


@bp.get("/billing")
@onboarded_required
def billing() -> Response:
    return render_section(
        SLUG,
        plan=PLAN,
        member_since=member_since(g.user),
        progress=level_progress(g.user.points),
    )
