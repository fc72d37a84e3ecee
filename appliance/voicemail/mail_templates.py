"""The "new voicemail" e-mail and SMS texts, in the mailbox's language (en, zh, ru).

Pure functions of a `Notice` (what the queue row remembers of the message) and the time: no I/O, so
the exact bytes a mail server will receive are unit-testable.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

LANGUAGES = ("en", "zh", "ru")


@dataclass(frozen=True, kw_only=True)
class Notice:
    """What a notification says about one message: a snapshot taken when it was queued.

    Kept in the queue row so that a message deleted before the mail went out can still be described.
    """

    mailbox: str
    mailbox_name: str
    mailbox_kind: str  # "personal" or "shared": says which feature code listens to it
    caller: str
    caller_name: str | None
    received_at: float  # epoch seconds
    duration: float
    language: str = "en"
    forwarded_from: str | None = None


_TEXT = {
    "en": {
        "subject": "New voicemail from {who} ({duration}) - mailbox {box}",
        "intro": "You have a new voicemail message.",
        "from": "From", "received": "Received", "duration": "Duration", "mailbox": "Mailbox",
        "forwarded": "Forwarded by",
        "unknown": "unknown caller",
        "attached": "The message is attached as a WAV file.",
        "notice": "This e-mail carries no audio: listen to the message by phone ({code}) or in the web portal.",
        "gone": "The message was deleted from the mailbox before this e-mail could be sent, so no audio is "
                "attached.",
        "sms": "Voicemail {box} from {who}, {duration}, {time}. Listen: {code}",
        "read_link": "Mark as read", "delete_link": "Delete",
        "links_note": "These links work for {days} days; the page asks before it changes anything.",
    },
    "zh": {
        "subject": "新语音留言：{who}（{duration}）- 信箱 {box}",
        "intro": "您有一条新的语音留言。",
        "from": "来电", "received": "时间", "duration": "时长", "mailbox": "信箱", "colon": "：",
        "forwarded": "转发人",
        "unknown": "未知来电",
        "attached": "留言录音已作为 WAV 文件附在本邮件中。",
        "notice": "本邮件不含录音：请用电话拨打 {code} 或登录网页门户收听留言。",
        "gone": "该留言在本邮件发出之前已从信箱中删除，因此没有附带录音。",
        "sms": "信箱 {box} 有新留言：{who}，{duration}，{time}。收听请拨 {code}",
        "read_link": "标为已读", "delete_link": "删除",
        "links_note": "以上链接 {days} 天内有效；打开后会先请您确认，不会直接更改。",
    },
    "ru": {
        "subject": "Новое голосовое сообщение от {who} ({duration}) - ящик {box}",
        "intro": "Вам оставлено новое голосовое сообщение.",
        "from": "От", "received": "Получено", "duration": "Длительность", "mailbox": "Ящик",
        "forwarded": "Переслал",
        "unknown": "неизвестный абонент",
        "attached": "Сообщение приложено к письму в виде файла WAV.",
        "notice": "Письмо без записи: прослушайте сообщение по телефону ({code}) или на веб-портале.",
        "gone": "Сообщение было удалено из ящика до отправки этого письма, поэтому запись не приложена.",
        "sms": "Голосовая почта {box}: {who}, {duration}, {time}. Прослушать: {code}",
        "read_link": "Отметить как прочитанное", "delete_link": "Удалить",
        "links_note": "Ссылки действуют {days} дн.; перед изменением страница попросит подтверждения.",
    },
}


def text_for(language: str | None) -> dict[str, str]:
    return _TEXT.get(language or "en", _TEXT["en"])


def local_time(epoch: float, tz: datetime.tzinfo | None) -> datetime.datetime:
    """The box's local time (the host's zone when `tz` is None)."""
    if tz is None:
        return datetime.datetime.fromtimestamp(epoch).astimezone()
    return datetime.datetime.fromtimestamp(epoch, tz)


def format_duration(seconds: float) -> str:
    """m:ss (h:mm:ss from an hour), the same in every language."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def caller_display(notice: Notice) -> str:
    """"Name (number)", the number alone, or "unknown caller" in the notice's language."""
    number, name = notice.caller.strip(), (notice.caller_name or "").strip()
    if name and number and name != number:
        return f"{name} ({number})"
    return name or number or text_for(notice.language)["unknown"]


def listen_code(notice: Notice) -> str:
    """The feature code that opens this mailbox from a phone (*61 own, *56<number> shared)."""
    return f"*56{notice.mailbox}" if notice.mailbox_kind == "shared" else "*61"


def attachment_name(notice: Notice, tz: datetime.tzinfo | None) -> str:
    """voicemail-<caller>-<YYYYmmdd-HHMM>.wav, with only safe characters from the caller's number."""
    caller = re.sub(r"[^0-9A-Za-z+]", "", notice.caller)[:32] or "unknown"
    return f"voicemail-{caller}-{local_time(notice.received_at, tz):%Y%m%d-%H%M}.wav"


def render_subject(notice: Notice) -> str:
    t = text_for(notice.language)
    return t["subject"].format(who=caller_display(notice), duration=format_duration(notice.duration),
                               box=notice.mailbox)


def render_body(notice: Notice, *, audio: str, tz: datetime.tzinfo | None,
                links: Mapping[str, str] | None = None, link_days: int = 14) -> str:
    """The plain-text body; `audio` is "attached", "notice" (no audio by choice) or "gone" (deleted);
    `links` ({"read": url, "delete": url}, see links.ActionLinks) adds the portal's action links."""
    t = text_for(notice.language)
    received = local_time(notice.received_at, tz)
    box = notice.mailbox + (f" ({notice.mailbox_name})" if notice.mailbox_name else "")
    rows = [
        (t["from"], caller_display(notice)),
        (t["received"], f"{received:%Y-%m-%d %H:%M:%S} {received.tzname() or ''}".rstrip()),
        (t["duration"], format_duration(notice.duration)),
        (t["mailbox"], box),
    ]
    if notice.forwarded_from:
        rows.append((t["forwarded"], notice.forwarded_from))
    colon = t.get("colon", ":")
    width = max(len(label) for label, _ in rows) + 2
    lines = [t["intro"], ""] + [f"{label + colon:<{width}}{value}" for label, value in rows] + [""]
    lines.append(t[audio].format(code=listen_code(notice)))
    if links:
        labels = [(t["read_link"], links["read"]), (t["delete_link"], links["delete"])]
        label_width = max(len(label) for label, _ in labels) + len(colon) + 1
        lines.append("")
        lines += [f"{label + colon:<{label_width}}{url}" for label, url in labels]
        lines.append(t["links_note"].format(days=link_days))
    return "\n".join(lines) + "\n"


def build_email(notice: Notice, *, sender: str, recipient: str, now: float, audio: bytes | None,
                gone: bool = False, tz: datetime.tzinfo | None = None,
                links: Mapping[str, str] | None = None, link_days: int = 14) -> EmailMessage:
    """The complete MIME message: UTF-8 text part (with the action links when given), plus the WAV when
    `audio` is given."""
    msg = EmailMessage()
    msg["Subject"] = render_subject(notice)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(local_time(now, tz))
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid("voicemail", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the box
    msg["X-Auto-Response-Suppress"] = "All"
    kind = "attached" if audio is not None else ("gone" if gone else "notice")
    body = render_body(notice, audio=kind, tz=tz, links=links, link_days=link_days)
    # quoted-printable keeps the mail 7-bit clean: no reliance on the server's 8BITMIME
    msg.set_content(body, charset="utf-8", cte="7bit" if body.isascii() else "quoted-printable")
    if audio is not None:
        msg.add_attachment(audio, maintype="audio", subtype="wav", filename=attachment_name(notice, tz))
    return msg


def render_sms(notice: Notice, *, tz: datetime.tzinfo | None = None) -> str:
    """One short line for an SMS gateway."""
    t = text_for(notice.language)
    return t["sms"].format(box=notice.mailbox, who=caller_display(notice), duration=format_duration(notice.duration),
                           time=f"{local_time(notice.received_at, tz):%m-%d %H:%M}", code=listen_code(notice))
