"""The isolation risk map's inputs: per-town statistics imported from a CSV and the scores computed from them.

``town_stats`` holds one row per town from the city's statistics (replaced whole by each import);
``risk_computations`` one row per computation, with its time, window, weights and suppression
threshold; ``town_risk_scores`` the per-town score, rank and indicators of a computation. Towns
only: nothing here names or points to a person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow

__all__ = ["RiskComputation", "TownRiskScore", "TownStats"]


class TownStats(Base):
    """One town's statistics as the city publishes them (住民基本台帳, 介護保険, 孤立死 records).

    No foreign key to ``towns``: a directory import replaces the towns, and the statistics
    are checked against the towns when they are imported.
    """

    __tablename__ = "town_stats"

    town_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    population: Mapped[int] = mapped_column(Integer)
    aged_65_plus: Mapped[int] = mapped_column(Integer)
    single_elderly_households: Mapped[int] = mapped_column(Integer)
    care_certifications: Mapped[int] = mapped_column(Integer)
    lone_deaths: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskComputation(Base):
    """One computation of the risk scores: when, over which window, with which weights."""

    __tablename__ = "risk_computations"

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    window_days: Mapped[int] = mapped_column(Integer)
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Counts below this were shown as "<k" and entered the score at a fixed value.
    k_threshold: Mapped[int] = mapped_column(Integer)
    # The statistics it used (their import time): a newer import calls for a new computation.
    stats_imported_at: Mapped[datetime] = mapped_column()

    scores: Mapped[list[TownRiskScore]] = relationship(
        back_populates="computation", cascade="all, delete-orphan", order_by="TownRiskScore.rank"
    )


class TownRiskScore(Base):
    """A town's risk score (0–100, higher is riskier), its rank and its indicators, already suppressed."""

    __tablename__ = "town_risk_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    computation_id: Mapped[int] = mapped_column(ForeignKey("risk_computations.id", ondelete="CASCADE"), index=True)
    town_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    # {"population": 5840, "aged_share": {"count": 2240, "value": 38.4}, "lone_deaths": {"count": "<5", "value": None}, …}
    indicators: Mapped[dict[str, Any]] = mapped_column(default=dict)

    computation: Mapped[RiskComputation] = relationship(back_populates="scores")
