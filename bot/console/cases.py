"""The counters' case pages: the inbox (``/staff/cases``) and one case (``/staff/cases/{id}``).

The inbox lists the cases of the staff member's counters (a manager's: every counter's,
read-only), overdue first, with the time left to the first-contact deadline in colour and
in words, filtered by status, topic and town (a GET form) and paged. The case page shows
what the resident said (only what the case keeps: they agreed to share it with the
counter), the place on a small map, why this counter was chosen, possibly related
reports, the history of the case, the thread with the resident and the internal notes;
and the actions (POST, CSRF-checked): acknowledged, contacted (the first contact, the
24-hour figure), closed with a reason, transfer to another counter, a note, a reply to
the resident on their own channel and handing the chat back to the bot
(:mod:`bot.console.casework`). While staff hold the chat the thread refreshes itself
(htmx, every few seconds) so the resident's answers appear as they come.

Another counter's case answers 404, as a missing one does. Every view of a case and every
change is written to the audit log (:func:`bot.console.audit.audit`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from bot.console import casework
from bot.console.audit import audit
from bot.console.auth import CaseReader, CaseWorker, console_settings
from bot.console.maps import town_map_svg
from bot.console.replies import schedule_replies
from bot.console.web import language, render
from bot.domain import load_domain
from bot.models import Case, CaseStatus, StaffUser
from bot.models.staff import Permission
from bot.staff_api import SessionDep, case_counters
from bot.taxonomy import DESK_TOPICS, TOPICS
from routing.cases import INCOMPLETE, OPEN_STATUSES
from routing.delivery import schedule_delivery
from routing.methods import DETAIL_LABELS
from routing.snapshot import Directory, get_directory

__all__ = ["STATUS_LABELS", "TOPIC_LABELS", "deadline_words", "router"]

router = APIRouter()

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "new": ("新規", "New"),
    "acknowledged": ("受付済み", "Acknowledged"),
    "contacted": ("連絡済み", "Contacted"),
    "found": ("発見", "Found"),
    "cancelled": ("取り消し", "Cancelled"),
    "closed": ("終了", "Closed"),
}
TOPIC_LABELS: dict[str, tuple[str, str]] = {
    "elderly": ("高齢", "Older people"),
    "disability": ("障がい", "Disability"),
    "child": ("子ども・子育て", "Children"),
    "child_abuse": ("児童虐待", "Child abuse"),
    "dv": ("DV", "Domestic violence"),
    "money": ("生活・お金", "Money"),
    "mental": ("こころ", "Mental health"),
    "hikikomori": ("ひきこもり", "Hikikomori"),
    "consumer": ("消費生活", "Consumer"),
    "complex": ("複合", "Complex"),
    "watch": ("見守り", "Watch"),
    "missing": ("行方不明", "Missing person"),
    "emergency": ("緊急", "Emergency"),
}
KIND_LABELS: dict[str, tuple[str, str]] = {
    "consult": ("相談", "Consultation"),
    "worry": ("見守りの気づき", "Worry report"),
    "missing": ("行方不明", "Missing person"),
    "callback": ("折り返し依頼", "Call-back request"),
}
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "created": ("受付", "Reported"),
    "report_completed": ("報告の完了", "Report completed"),
    "repeat_report": ("同じ世帯の追加報告", "Repeat report"),
    "details_added": ("追加の内容", "Details added"),
    "possibly_related": ("関連の可能性", "Possibly related"),
    "status": ("状態の変更", "Status changed"),
    "transferred": ("窓口の変更", "Transferred"),
    "handed_back": ("自動応答に戻した", "Handed back to the bot"),
}
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "line": ("LINE", "LINE"), "telegram": ("Telegram", "Telegram"), "sms": ("SMS", "SMS"),
    "webchat": ("Webチャット", "web chat"), "voice": ("電話", "phone"),
}
# What a refused action says, by ``CaseActionError.code``.
REFUSALS: dict[str, tuple[str, str]] = {
    "bad_step": ("この案件は、その状態には変更できません。", "The case cannot move to that status."),
    "needs_reason": ("理由を入力してください。", "Please give a reason."),
    "same_counter": ("すでにその窓口の案件です。", "The case is with that counter already."),
    "not_a_counter": ("その窓口には移せません。", "The case cannot go to that counter."),
    "ended": ("終了した案件です。", "The case has ended."),
    "length": ("文字数を確認してください（空欄や長すぎる文は送れません）。", "Please check the length (not empty, not too long)."),
    "no_contact": ("この案件からは住民に連絡できません。", "This case keeps no way to reach the reporter."),
    "not_held": ("このチャットは職員が対応中ではありません。", "Staff do not hold this chat."),
}
# How often the case page looks for new messages while staff hold the chat.
THREAD_REFRESH_SECONDS = 5


def _label(labels: dict[str, tuple[str, str]], key: str | None, lang: str) -> str:
    pair = labels.get(key or "")
    if pair is None:
        return key or "–"
    return pair[1] if lang == "en" else pair[0]


def deadline_words(deadline: casework.Deadline, lang: str) -> str:
    """The first-contact deadline in words (never only a colour): 「残り 5時間12分」「期限超過 3時間」."""
    hours, minutes = divmod(deadline.minutes, 60)
    if lang == "en":
        span = f"{hours} h {minutes} min" if hours else f"{minutes} min"
        words = {"overdue": f"{span} overdue", "soon": f"{span} left", "ok": f"{span} left",
                 "done": "contact made or ended", "none": "no deadline"}
    else:
        span = f"{hours}時間{minutes}分" if hours else f"{minutes}分"
        words = {"overdue": f"期限超過 {span}", "soon": f"残り {span}", "ok": f"残り {span}",
                 "done": "連絡済み・終了", "none": "期限なし"}
    return words[deadline.level]


def _place(directory: Directory, case: Case) -> str:
    if case.town_id and case.town_id in directory.towns:
        option = directory.towns[case.town_id].option
        return f"{option.ward} {option.town}"
    return directory.wards.get(case.ward or "", "") or "–"


def _counter_name(directory: Directory, counter_id: str) -> str:
    service = directory.services.get(counter_id)
    return service.name if service else (counter_id or "–")


def _town_options(directory: Directory) -> list[tuple[str, str]]:
    towns = [(town_id, f"{record.option.ward} {record.option.town}") for town_id, record in directory.towns.items()]
    return sorted(towns, key=lambda town: town[1])


def _helpers(request: Request, directory: Directory) -> dict[str, Any]:
    """What every case template uses to write labels in the page's language."""
    lang = language(request)
    return {
        "status_label": lambda key: _label(STATUS_LABELS, key, lang),
        "topic_label": lambda key: _label(TOPIC_LABELS, key, lang),
        "kind_label": lambda key: _label(KIND_LABELS, key, lang),
        "event_label": lambda key: _label(EVENT_LABELS, key, lang),
        "channel_label": lambda key: _label(CHANNEL_LABELS, key, lang),
        "deadline_words": lambda deadline: deadline_words(deadline, lang),
        "deadline": casework.deadline,
        "place": lambda case: _place(directory, case),
        "counter_name": lambda counter_id: _counter_name(directory, counter_id),
        "detail_label": lambda key: DETAIL_LABELS.get(key, key),
    }


# --------------------------------------------------------------------------- the inbox


@router.get("/cases")
def inbox(
    request: Request, session: SessionDep, user: CaseReader,
    status_filter: Annotated[str, Query(alias="status", max_length=16)] = casework.OPEN,
    topic: Annotated[str, Query(max_length=32)] = "",
    town: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """The cases of the staff member's counters, overdue first."""
    filters = casework.CaseFilter(status=status_filter, topic=topic, town=town, page=page)
    found = casework.inbox(session, case_counters(session, user), filters)
    query = {key: value for key, value in (("status", filters.status), ("topic", topic), ("town", town)) if value}
    # The list shows no resident's words: one row for the page, named by its filters.
    audit(session, user, "list", "cases", urlencode({**query, "page": found.page}))
    session.commit()
    directory = get_directory(session)
    return render(request, "cases/inbox.html", {
        "found": found, "filters": filters, "topics": [*TOPICS, *DESK_TOPICS], "towns": _town_options(directory),
        "statuses": list(STATUS_LABELS), "page_link": lambda number: "?" + urlencode({**query, "page": number}),
        "transferred": request.query_params.get("transferred"), "read_only": not user.may(Permission.work_cases),
        **_helpers(request, directory),
    })


# --------------------------------------------------------------------------- one case


def _own_case(session: Session, user: StaffUser, case_id: int) -> Case:
    case = casework.find_case(session, case_id, case_counters(session, user))
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    return case


def _map(directory: Directory, case: Case, lang: str) -> Markup | None:
    """The case's town on a map of its ward, or None when its place is not known."""
    ward = directory.towns[case.town_id].option.ward_code if case.town_id in directory.towns else case.ward
    towns = [town_id for town_id, record in directory.towns.items() if record.option.ward_code == ward]
    if not towns:
        return None
    title = ("Where: " if lang == "en" else "場所：") + _place(directory, case)
    return town_map_svg(directory, title=title, highlight=[case.town_id] if case.town_id else [], towns=towns,
                        css_class="tsunagu-map case-map")


def _detail_rows(case: Case) -> list[tuple[str, str]]:
    return [(DETAIL_LABELS.get(key, key), str(value)) for key, value in case.details.items()
            if value not in (None, "", True) and key != INCOMPLETE]


def _case_page(request: Request, session: Session, user: StaffUser, case: Case, *, error: str | None = None,
               status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    directory = get_directory(session)
    helpers = _helpers(request, directory)
    lang = language(request)
    counters = case_counters(session, user)
    history = [event for event in case.events if event.kind in EVENT_LABELS]
    return render(request, "cases/case.html", {
        "case": case, "details": _detail_rows(case), "map": _map(directory, case, lang),
        "related": casework.related_cases(session, case, counters), "history": history,
        "thread": casework.thread(session, case), "notes": casework.notes(session, case),
        "reply_channel": casework.reply_channel(session, case), "held": casework.held_here(session, case),
        "allowed": casework.allowed_statuses(case), "can_work": user.may(Permission.work_cases),
        "transfer_to": casework.transfer_counters(session, case), "open": case.status in OPEN_STATUSES, "error": error,
        "refresh_seconds": THREAD_REFRESH_SECONDS, **helpers,
    }, status_code=status_code)


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, session: SessionDep, user: CaseReader) -> HTMLResponse:
    """One case of the staff member's counters (404 for another counter's)."""
    case = _own_case(session, user, case_id)
    audit(session, user, "view", "case", case.id)
    session.commit()
    return _case_page(request, session, user, case)


@router.get("/cases/{case_id}/thread")
def case_thread(case_id: int, request: Request, session: SessionDep, user: CaseReader) -> HTMLResponse:
    """The thread with the resident alone (the case page refreshes it while staff hold the chat)."""
    case = _own_case(session, user, case_id)
    return render(request, "cases/_thread.html", {
        "case": case, "thread": casework.thread(session, case), "held": casework.held_here(session, case),
        "refresh_seconds": THREAD_REFRESH_SECONDS, **_helpers(request, get_directory(session)),
    })


def _done(case_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/staff/cases/{case_id}{anchor}", status_code=status.HTTP_303_SEE_OTHER)


def _refused(request: Request, session: Session, user: StaffUser, case: Case,
             error: casework.CaseActionError) -> HTMLResponse:
    session.rollback()
    return _case_page(request, session, user, session.get(Case, case.id) or case,
                      error=_label(REFUSALS, error.code, language(request)), status_code=status.HTTP_400_BAD_REQUEST)


@router.post("/cases/{case_id}/status")
def change_status(
    case_id: int, request: Request, session: SessionDep, user: CaseWorker,
    new_status: Annotated[str, Form(alias="status", max_length=16)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Acknowledged, contacted (records the first contact) or closed with a reason."""
    case = _own_case(session, user, case_id)
    if new_status not in CaseStatus.__members__:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "unknown status")
    try:
        notice = casework.set_status(session, case, CaseStatus(new_status), actor=user.username,
                                     reason=reason or None, domain=load_domain())
    except casework.CaseActionError as error:
        return _refused(request, session, user, case, error)
    audit(session, user, new_status, "case", case.id)
    session.commit()
    if notice is not None:
        schedule_replies(console_settings(request).database_url)
    return _done(case.id)


@router.post("/cases/{case_id}/transfer")
def transfer(
    case_id: int, request: Request, session: SessionDep, user: CaseWorker,
    counter_id: Annotated[str, Form(max_length=64)], reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Hand the case to another counter, which is notified through its delivery targets."""
    case = _own_case(session, user, case_id)
    try:
        casework.transfer(session, case, counter_id, actor=user.username, reason=reason)
    except casework.CaseActionError as error:
        return _refused(request, session, user, case, error)
    audit(session, user, "transfer", "case", case.id)
    session.commit()
    schedule_delivery(url=console_settings(request).database_url)
    if case.counter_id in case_counters(session, user):
        return _done(case.id)
    # Now another counter's: back to the inbox, which says where it went.
    return RedirectResponse(f"/staff/cases?transferred={case.id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/cases/{case_id}/notes")
def add_note(
    case_id: int, request: Request, session: SessionDep, user: CaseWorker,
    text: Annotated[str, Form(max_length=casework.NOTE_MAX)],
) -> Response:
    """Keep an internal note (never sent to the resident)."""
    case = _own_case(session, user, case_id)
    try:
        casework.add_note(session, case, text, author=user.username)
    except casework.CaseActionError as error:
        return _refused(request, session, user, case, error)
    audit(session, user, "note", "case", case.id)
    session.commit()
    return _done(case.id, "#notes")


@router.post("/cases/{case_id}/reply")
def reply(
    case_id: int, request: Request, session: SessionDep, user: CaseWorker,
    text: Annotated[str, Form(max_length=casework.REPLY_MAX)],
) -> Response:
    """Write to the resident on their own channel; on a chat, staff then hold it."""
    case = _own_case(session, user, case_id)
    try:
        casework.reply(session, case, text, author=user.username, domain=load_domain())
    except casework.CaseActionError as error:
        return _refused(request, session, user, case, error)
    audit(session, user, "reply", "case", case.id)
    session.commit()
    schedule_replies(console_settings(request).database_url)
    return _done(case.id, "#thread")


@router.post("/cases/{case_id}/handback")
def hand_back(case_id: int, request: Request, session: SessionDep, user: CaseWorker) -> Response:
    """Give the resident's chat back to the bot; the resident is told so."""
    case = _own_case(session, user, case_id)
    try:
        casework.hand_back(session, case, actor=user.username, domain=load_domain())
    except casework.CaseActionError as error:
        return _refused(request, session, user, case, error)
    audit(session, user, "hand_back", "case", case.id)
    session.commit()
    schedule_replies(console_settings(request).database_url)
    return _done(case.id, "#thread")
