"""Production means production: what a city must set before residents are served.

With ``TSUNAGU_ENVIRONMENT=production``, ``tsunagu serve``, ``tsunagu worker`` and
``tsunagu deliver`` refuse to start while :func:`production_problems` finds anything, and
say every problem at once with the variable to change — a city must not find out from a
lost message that it ran on a laptop's defaults. The embedded default (SQLite, the sample
city, the development secret) stays what ``development`` and ``test`` run on.
"""

from __future__ import annotations

from bot.console_io import fail
from bot.settings import BUNDLED_DIRECTORY, DEVELOPMENT_SECRET, Settings
from bot.settings import settings as current_settings

__all__ = [
    "CHANNEL_SECRETS",
    "MIN_SECRET_LENGTH",
    "ProductionRefused",
    "check_production",
    "production_problems",
    "refuse_unfit_production",
]

MIN_SECRET_LENGTH = 32
"""Characters of TSUNAGU_SECRET_KEY: it signs sessions, so it must not be guessable."""

CHANNEL_SECRETS: dict[str, tuple[str, ...]] = {
    "LINE": ("line_channel_secret", "line_channel_access_token"),
    "Telegram": ("telegram_bot_token", "telegram_secret_token"),
    "Twilio (phone and SMS)": ("twilio_account_sid", "twilio_auth_token", "twilio_from_number"),
}
"""The settings a channel needs all of. With only some of them set, the app would silently
leave the channel out (an empty secret would verify forged webhooks): in production that is
a mistake to report, not a choice."""


class ProductionRefused(RuntimeError):
    """The settings are not fit for production; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _env_name(field: str) -> str:
    return f"TSUNAGU_{field.upper()}"


def production_problems(settings: Settings) -> list[str]:
    """Everything that makes ``settings`` unfit to serve residents, one sentence each.

    Returns:
        An empty list when the settings are fit (or the environment is not production).
    """
    if settings.environment != "production":
        return []
    problems: list[str] = []
    if settings.database_url.startswith("sqlite"):
        problems.append("TSUNAGU_DATABASE_URL is SQLite: production needs PostgreSQL "
                        "(one file cannot take several processes, and it is easy to leave readable)")
    if settings.directory_path.resolve() == BUNDLED_DIRECTORY.resolve():
        problems.append("TSUNAGU_DIRECTORY_PATH is the bundled sample city: point it at the city's own directory")
    if settings.secret_key == DEVELOPMENT_SECRET or len(settings.secret_key) < MIN_SECRET_LENGTH:
        problems.append(f"TSUNAGU_SECRET_KEY must be a random secret of at least {MIN_SECRET_LENGTH} characters")
    if settings.sensor_secret and len(settings.sensor_secret) < MIN_SECRET_LENGTH:
        problems.append(f"TSUNAGU_SENSOR_SECRET must be a random secret of at least {MIN_SECRET_LENGTH} characters "
                        "(every device's key is derived from it), or unset to turn the sensor endpoint off")
    if not settings.redis_url:
        problems.append("TSUNAGU_REDIS_URL is not set: without Redis each process applies the whole channel "
                        "rate limit on its own and the alert queue is woken per process")
    if not settings.public_base_url.startswith("https://"):
        problems.append("TSUNAGU_PUBLIC_BASE_URL must be the public https:// address "
                        "(webhook signatures and secure cookies depend on it)")
    for channel, fields in CHANNEL_SECRETS.items():
        missing = [field for field in fields if not getattr(settings, field)]
        if missing and len(missing) < len(fields):
            names = ", ".join(_env_name(field) for field in missing)
            problems.append(f"{channel} is configured in part: set {names} too, or unset the channel")
    return problems


def check_production(settings: Settings) -> None:
    """Refuse to go on with settings unfit for production.

    Raises:
        ProductionRefused: listing every problem.
    """
    problems = production_problems(settings)
    if problems:
        raise ProductionRefused(problems)


def refuse_unfit_production() -> None:
    """End a serving command (exit code 1, every problem listed) when production settings are unfit.

    Called at the start of the command itself, not in the CLI's callback, so ``--help`` works
    on any settings.
    """
    try:
        check_production(current_settings)
    except ProductionRefused as refused:
        fail("TSUNAGU_ENVIRONMENT is production, but:\n" + "\n".join(f"  - {p}" for p in refused.problems))
