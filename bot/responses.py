"""Every response any part of tsunagu can send, so that domain.yml is checked against all of them.

The flows list theirs (``flows.registry``), the engine its own (``ENGINE_RESPONSES``:
clarifying questions, the safety guidance) and the alert network the texts it sends
outside a conversation (``alerts.texts.RESPONSES``: alert messages, closing notices,
the yearly re-confirmation request; ``alerts.cap.CAP_RESPONSES``: CAP messages), and the web chat page its own words
(``bot.page_words``). The core
(``bot.domain``) cannot import those packages, so the
composition roots (``bot.app``, ``bot.cli``) call :func:`check_domain` at start-up: a
missing sentence fails there, not in a worker when a message is sent.
"""

from __future__ import annotations

from alerts.cap import CAP_RESPONSES
from alerts.texts import RESPONSES as ALERT_RESPONSES
from bot.domain import Domain
from bot.engine import ENGINE_RESPONSES
from bot.page_words import PAGE_RESPONSES
from flows.base import required_responses
from flows.registry import FLOWS

__all__ = ["check_domain", "sendable_responses"]


def sendable_responses() -> frozenset[str]:
    """The name of every response the code can send: flows, engine and alert network."""
    return (frozenset(required_responses(FLOWS)) | set(ENGINE_RESPONSES) | set(ALERT_RESPONSES)
            | set(CAP_RESPONSES) | set(PAGE_RESPONSES.values()))


def check_domain(domain: Domain) -> Domain:
    """Fail unless ``domain`` has every sendable response in every language.

    Args:
        domain: the loaded domain.

    Returns:
        The same domain, checked.

    Raises:
        bot.domain.DomainError: naming each missing response or language.
    """
    domain.check_required(sendable_responses())
    return domain
