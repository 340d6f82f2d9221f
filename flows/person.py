"""register_person: a family pre-registers (事前登録) a relative who might go missing.

New registration (person_form in domain.yml): explicit consent first, then the
person's description — the key features it does not say (sex, height, build) asked with
choices, each skippable (flows/features.py) — where they live (a town: staff covering that
ward can see the registration), an optional photo (an image message; its media reference
is kept), places they often go, and emergency contacts; then whether an alert may show
their name, condition and photo (default no; the name and its reading asked only on yes);
a confirmation creates the RegisteredPerson linked to this family's contact, with the
structured features an alert text is composed from. A family that already registered
someone gets their registrations as choices: view one, change any item, or delete it
(「登録を削除して」 also works while one is shown). A family only ever sees its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alerts.texts import clean_fields, describe
from bot.messages import Choice, EffectKind
from bot.models import RegisteredPerson
from flows.base import FormFlow, TurnContext, is_no
from flows.features import (
    FEATURE_RESPONSES,
    SHARE_RESPONSES,
    ask_feature,
    ask_share,
    missing_features,
    read_answer,
    read_features,
    read_name,
    read_share,
)
from flows.place_question import PLACE_RESPONSES, ask_place, place_label
from flows.steps import (
    CONSENT,
    OPTIONAL_RESPONSES,
    REGISTER,
    REGISTRATION_RESPONSES,
    YES_NO,
    answered_none,
    ask_optional,
    ask_yes_no,
    decline_registration,
    on_yes_no,
    read_town,
    yes_or_no,
)
from routing.areas import resolve_town_id

__all__ = ["RegisterPersonFlow", "person_label", "persons_of"]

# The order of person_form's required slots in domain.yml.
QUESTIONS = {
    "person_description": "utter_ask_person_description",
    "person_home": "utter_ask_person_home",
    "person_photo": "utter_ask_person_photo",
    "usual_places": "utter_ask_usual_places",
    "emergency_contacts": "utter_ask_emergency_contacts",
}
# The registration's structured features (alerts.texts fields) and the key features still to ask.
FEATURES = "person_features"
FEATURES_ASKING = "features_asking"
# Whether an alert may show name, condition and photo; also the edit choice that changes it.
SHARING = "share_identity"
# Items a family may skip with "none".
OPTIONAL = ("person_photo", "usual_places")
# The registration's column for each item.
COLUMNS = {
    "person_description": "description",
    "person_home": "town_id",
    "person_photo": "photo_ref",
    "usual_places": "usual_places",
    "emergency_contacts": "emergency_contacts",
}
EDIT_CHOICES = (
    ("person_description", "utter_choice_edit_description"),
    ("person_home", "utter_choice_edit_home"),
    ("person_photo", "utter_choice_edit_photo"),
    ("usual_places", "utter_choice_edit_usual_places"),
    ("emergency_contacts", "utter_choice_edit_emergency_contacts"),
    (SHARING, "utter_choice_edit_sharing"),
)
DELETE_WORDS = ("削除", "消して", "けして", "取り消して", "delete", "remove")
SHORT_LABEL = 20
# Returned by _read when the answer was not usable and the question was asked again.
_ASKED_AGAIN = object()


def persons_of(ctx: TurnContext) -> list[RegisteredPerson]:
    """The registrations made from this contact, oldest first."""
    return list(ctx.session.scalars(
        select(RegisteredPerson).where(RegisteredPerson.family_contact_id == ctx.contact.id)
        .order_by(RegisteredPerson.id)
    ))


def person_label(ctx: TurnContext, person: RegisteredPerson) -> str:
    """A button title for a registration: its number and the start of its description."""
    short = person.description if len(person.description) <= SHORT_LABEL else person.description[:SHORT_LABEL] + "…"
    return ctx.t("utter_person_choice_label", person_id=person.id, short=short)


def _own_person(ctx: TurnContext, person_id: Any) -> RegisteredPerson | None:
    person = ctx.session.get(RegisteredPerson, person_id) if isinstance(person_id, int) else None
    return person if person is not None and person.family_contact_id == ctx.contact.id else None


def _wants_delete(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in DELETE_WORDS)


class RegisterPersonFlow(FormFlow):
    name = "register_person"
    intents = ("register_person",)
    form = "person_form"
    questions = QUESTIONS
    responses = (
        "utter_person_consent",
        "utter_person_summary",
        "utter_person_confirm",
        "utter_person_registered",
        "utter_person_menu",
        "utter_person_choice_label",
        "utter_choice_person_new",
        "utter_person_actions",
        *(response for _, response in EDIT_CHOICES),
        "utter_choice_delete_registration",
        "utter_choice_done",
        "utter_person_updated",
        "utter_person_delete_confirm",
        "utter_person_deleted",
        "utter_person_kept",
        "utter_anything_else",
        "utter_photo_yes_label",
        "utter_none_label",
        "utter_unknown_label",
        "utter_choice_share_no",
        "utter_choice_share_yes",
        *FEATURE_RESPONSES,
        *SHARE_RESPONSES,
        *REGISTRATION_RESPONSES,
        *OPTIONAL_RESPONSES,
        *YES_NO.responses,
        *PLACE_RESPONSES,
    )

    # ------------------------------------------------------------------ entry
    def describes_a_person(self, step: str | None) -> bool:
        # The description, its features and their edits: what the person looks like and how they are.
        return step is not None and (step.removeprefix("edit:") in ("person_description", "usual_places")
                                     or step.startswith(("feature:", "edit:feature")))

    def start(self, ctx: TurnContext) -> None:
        persons = persons_of(ctx)
        if not persons:
            self._ask_consent(ctx)
            return
        ctx.set_step("menu")
        choices = [Choice(person_label(ctx, person), f"person:{person.id}") for person in persons]
        ctx.ask("utter_person_menu", choices=[*choices, Choice(ctx.t("utter_choice_person_new"), "new")])

    def _ask_consent(self, ctx: TurnContext) -> None:
        ctx.set_step("consent")
        ask_yes_no(ctx, "utter_person_consent", CONSENT)

    def resume(self, ctx: TurnContext) -> None:
        step = ctx.step or ""
        if step == "menu":
            self._menu(ctx)
        elif step == "consent":
            on_yes_no(ctx, CONSENT, self._next, decline_registration)
        elif step == "confirm":
            on_yes_no(ctx, REGISTER, self._create, decline_registration)
        elif step == "actions":
            self._action(ctx)
        elif step == "delete_confirm":
            self._delete(ctx)
        elif step.startswith("feature:"):
            self._feature(ctx, step.removeprefix("feature:"))
        elif step in ("share", "edit:share"):
            self._share(ctx, editing=step == "edit:share")
        elif step in ("public_name", "edit:public_name"):
            self._public_name(ctx, editing=step == "edit:public_name")
        elif step.startswith("edit:"):
            self._edit(ctx, step.removeprefix("edit:"))
        elif step in QUESTIONS:
            value = self._read(ctx, step)
            if value is not _ASKED_AGAIN:
                ctx.set_slot(step, value)
                if step == "person_description":
                    self._describe(ctx, value)
                self._next(ctx)

    # ------------------------------------------------------------------ features and sharing
    def _describe(self, ctx: TurnContext, description: str) -> None:
        """The features the description says; the key ones it does not are asked next."""
        features = {**(ctx.slots.get(FEATURES) or {}), **read_features(description)}
        ctx.set_slot(FEATURES, features)
        ctx.set_slot(FEATURES_ASKING, missing_features(features))

    def _feature(self, ctx: TurnContext, field: str) -> None:
        asking = [item for item in ctx.slots.get(FEATURES_ASKING) or [] if item != field]
        ctx.set_slot(FEATURES, {**(ctx.slots.get(FEATURES) or {}), **read_answer(ctx, field)})
        ctx.set_slot(FEATURES_ASKING, asking)
        self._next(ctx)

    def _share(self, ctx: TurnContext, *, editing: bool) -> None:
        share = read_share(ctx)
        person = _own_person(ctx, ctx.slots.get("person_id")) if editing else None
        if editing and person is None:
            ctx.finish()
            return
        features = person.features if person is not None else ctx.slots.get(FEATURES) or {}
        if person is not None:
            person.share_identity = share
        else:
            ctx.set_slot(SHARING, share)
        if share and "name" not in features:
            ctx.set_step("edit:public_name" if editing else "public_name")
            ask_optional(ctx, "utter_ask_public_name")
        elif person is not None:
            ctx.say("utter_person_updated")
            self._show(ctx, person)
        else:
            self._next(ctx)

    def _public_name(self, ctx: TurnContext, *, editing: bool) -> None:
        name = {} if answered_none(ctx) else read_name(ctx.text)
        if editing:
            person = _own_person(ctx, ctx.slots.get("person_id"))
            if person is None:
                ctx.finish()
                return
            person.features = clean_fields({**person.features, **name})
            ctx.say("utter_person_updated")
            self._show(ctx, person)
            return
        ctx.set_slot(FEATURES, {**(ctx.slots.get(FEATURES) or {}), **name})
        self._next(ctx)

    # ------------------------------------------------------------------ answers
    def _read(self, ctx: TurnContext, item: str) -> Any:
        """The value of one item from this message, or _ASKED_AGAIN after asking once more."""
        if item in OPTIONAL and answered_none(ctx):
            return None
        if item == "person_home":
            area = read_town(ctx, QUESTIONS[item])
            return _ASKED_AGAIN if area is None or area.town is None else area.town.town_id
        if item == "person_photo":
            if ctx.message.media_ref:
                return ctx.message.media_ref
            ctx.repeat_prompt()
            return _ASKED_AGAIN
        if not ctx.text:
            ctx.repeat_prompt()
            return _ASKED_AGAIN
        return ctx.text

    def ask_slot(self, ctx: TurnContext, slot: str, question: str) -> None:
        if slot == "person_home":
            ask_place(ctx, question)
        elif slot in OPTIONAL:
            ask_optional(ctx, question)
        else:
            ctx.ask(question)

    def _next(self, ctx: TurnContext) -> None:
        asking = ctx.slots.get(FEATURES_ASKING) or []
        if asking:
            ctx.set_step(f"feature:{asking[0]}")
            ask_feature(ctx, asking[0])
            return
        if self.ask_next(ctx):
            return
        if SHARING not in ctx.slots:
            ctx.set_step("share")
            ask_share(ctx)
            return
        ctx.set_step("confirm")
        self._say_summary(ctx, None, self._values(ctx))
        ask_yes_no(ctx, "utter_person_confirm", REGISTER)

    def _values(self, ctx: TurnContext) -> dict[str, Any]:
        """The registration's columns from the answers."""
        return {**{COLUMNS[item]: ctx.slots[item] for item in QUESTIONS},
                "features": clean_fields(ctx.slots.get(FEATURES) or {}), SHARING: bool(ctx.slots.get(SHARING))}

    def _say_summary(self, ctx: TurnContext, person_id: int | None, values: dict[str, Any]) -> None:
        none = ctx.t("utter_none_label")
        town_id = values.get("town_id")
        unknown = ctx.t("utter_unknown_label")
        home = place_label(resolve_town_id(ctx.session, town_id), None, town_id) if town_id else unknown
        features = describe(ctx.domain, values.get("features") or {}, ctx.lang)
        ctx.say(
            "utter_person_summary",
            person_id=person_id if person_id is not None else "-",
            description=values.get("description") or none,
            features=features or unknown,
            sharing=ctx.t("utter_choice_share_yes" if values.get(SHARING) else "utter_choice_share_no"),
            home=home,
            photo=ctx.t("utter_photo_yes_label") if values.get("photo_ref") else none,
            usual_places=values.get("usual_places") or none,
            emergency_contacts=values.get("emergency_contacts") or none,
        )

    def _create(self, ctx: TurnContext) -> None:
        values = self._values(ctx)
        person = RegisteredPerson(
            family_contact_id=ctx.contact.id,
            town_id=values["town_id"],
            description=values["description"],
            photo_ref=values["photo_ref"],
            usual_places=values["usual_places"] or "",
            emergency_contacts=values["emergency_contacts"],
            features=values["features"],
            share_identity=values[SHARING],
            consented_at=ctx.now,
            created_at=ctx.now,
        )
        ctx.session.add(person)
        ctx.session.flush()
        ctx.say("utter_person_registered", person_id=person.id)
        ctx.effect(EffectKind.person_registered, person_id=person.id)
        ctx.finish()

    # ------------------------------------------------------------------ view, edit, delete
    def _menu(self, ctx: TurnContext) -> None:
        if ctx.answer == "new":
            self._ask_consent(ctx)
            return
        persons = persons_of(ctx)
        person = None
        if ctx.answer.startswith("person:") and ctx.answer.removeprefix("person:").isdigit():
            person = _own_person(ctx, int(ctx.answer.removeprefix("person:")))
        elif _wants_delete(ctx.text) and len(persons) == 1:
            self._ask_delete(ctx, persons[0])
            return
        if person is None:
            ctx.repeat_prompt()
            return
        self._show(ctx, person)

    def _show(self, ctx: TurnContext, person: RegisteredPerson) -> None:
        self._say_summary(ctx, person.id, {column: getattr(person, column)
                                           for column in (*COLUMNS.values(), "features", SHARING)})
        ctx.set_slot("person_id", person.id)
        ctx.set_step("actions")
        choices = [Choice(ctx.t(response), f"edit:{item}") for item, response in EDIT_CHOICES]
        ctx.ask("utter_person_actions", choices=[*choices, Choice(ctx.t("utter_choice_delete_registration"), "delete"),
                                                 Choice(ctx.t("utter_choice_done"), "done")])

    def _action(self, ctx: TurnContext) -> None:
        person = _own_person(ctx, ctx.slots.get("person_id"))
        if person is None:
            ctx.finish()
            return
        if ctx.answer == f"edit:{SHARING}":
            ctx.set_step("edit:share")
            ask_share(ctx)
        elif ctx.answer.startswith("edit:") and ctx.answer.removeprefix("edit:") in QUESTIONS:
            item = ctx.answer.removeprefix("edit:")
            ctx.set_step(f"edit:{item}")
            self.ask_slot(ctx, item, QUESTIONS[item])
        elif ctx.answer == "delete" or _wants_delete(ctx.text):
            self._ask_delete(ctx, person)
        elif ctx.answer == "done" or is_no(ctx.answer):
            ctx.say("utter_anything_else")
            ctx.finish()
        else:
            ctx.repeat_prompt()

    def _edit(self, ctx: TurnContext, item: str) -> None:
        person = _own_person(ctx, ctx.slots.get("person_id"))
        if person is None or item not in QUESTIONS:
            ctx.finish()
            return
        value = self._read(ctx, item)
        if value is _ASKED_AGAIN:
            return
        setattr(person, COLUMNS[item], value if value is not None or item == "person_photo" else "")
        if item == "person_description":
            # What the new description says replaces what the old one said; choices made stay.
            person.features = clean_fields({**person.features, **read_features(value)})
        ctx.say("utter_person_updated")
        self._show(ctx, person)

    def _ask_delete(self, ctx: TurnContext, person: RegisteredPerson) -> None:
        ctx.set_slot("person_id", person.id)
        ctx.set_step("delete_confirm")
        ask_yes_no(ctx, "utter_person_delete_confirm", person_id=person.id)

    def _delete(self, ctx: TurnContext) -> None:
        person = _own_person(ctx, ctx.slots.get("person_id"))
        if person is None:
            ctx.finish()
            return
        delete = yes_or_no(ctx)
        if delete is None:
            ctx.repeat_prompt()
        elif delete:
            ctx.session.delete(person)
            ctx.say("utter_person_deleted")
            ctx.effect(EffectKind.person_deleted, person_id=person.id)
            ctx.finish()
        else:
            ctx.say("utter_person_kept")
            self._show(ctx, person)

