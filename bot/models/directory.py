"""The counter directory: Open Referral HSDS tables (organizations, services, locations, phones,
schedules, service areas, taxonomy) and the towns with their readings and polygons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow


class DirectoryImport(Base):
    """One successful directory import; its random token keys the in-memory directory caches."""

    __tablename__ = "directory_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(1024), default="")
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")


class Service(Base):
    """A counter (窓口) or a hotline: the thing a resident is sent to."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="active")
    languages: Mapped[str] = mapped_column(String(64), default="ja")
    first_contact_hours: Mapped[int | None] = mapped_column(Integer)
    # Row order in services.csv: the directory's own order breaks ties and orders hotlines.
    position: Mapped[int] = mapped_column(Integer, default=0)

    organization: Mapped[Organization] = relationship()
    phones: Mapped[list[Phone]] = relationship(order_by="Phone.id")
    schedules: Mapped[list[Schedule]] = relationship(order_by="Schedule.id")
    service_areas: Mapped[list[ServiceArea]] = relationship(order_by="ServiceArea.id")


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), index=True)
    address_1: Mapped[str] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(128), default="")
    state_province: Mapped[str] = mapped_column(String(128), default="")
    postal_code: Mapped[str] = mapped_column(String(16), default="")
    country: Mapped[str] = mapped_column(String(8), default="JP")


class ServiceAtLocation(Base):
    __tablename__ = "services_at_location"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))


class Phone(Base):
    __tablename__ = "phones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(16), default="voice")
    language: Mapped[str] = mapped_column(String(8), default="ja")


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    freq: Mapped[str] = mapped_column(String(16), default="WEEKLY")
    byday: Mapped[str] = mapped_column(String(64))
    opens_at: Mapped[str] = mapped_column(String(5))
    closes_at: Mapped[str] = mapped_column(String(5))
    notes: Mapped[str] = mapped_column(Text, default="")


class ServiceArea(Base):
    __tablename__ = "service_areas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # A care area (kita-1), a ward (kita), "city" or "japan".
    area_code: Mapped[str] = mapped_column(String(64), index=True)


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_terms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    taxonomy: Mapped[str] = mapped_column(String(64))


class Attribute(Base):
    __tablename__ = "attributes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    link_id: Mapped[str] = mapped_column(String(64), index=True)
    link_type: Mapped[str] = mapped_column(String(32))
    taxonomy_term_id: Mapped[str] = mapped_column(ForeignKey("taxonomy_terms.id"))


class Town(Base):
    """A town (町) with its care area (sphere), ward, readings and polygon (GeoJSON)."""

    __tablename__ = "towns"

    town_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ward: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(64))
    sphere: Mapped[str] = mapped_column(String(64), index=True)
    ward_code: Mapped[str] = mapped_column(String(64))
    postal_code: Mapped[str] = mapped_column(String(16), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    ward_kana: Mapped[str] = mapped_column(String(64), default="")
    town_kana: Mapped[str] = mapped_column(String(64), default="")
    ward_romaji: Mapped[str] = mapped_column(String(64), default="")
    town_romaji: Mapped[str] = mapped_column(String(64), default="")
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Row order in towns.csv, so wards and towns are offered in the city's own order.
    position: Mapped[int] = mapped_column(Integer, default=0)
