"""Email over SMTP: one personalised message per recipient, STARTTLS or implicit TLS with
login, reused connections, a send rate limit, and a Message-ID derived from the delivery key.

SMTP cannot say whether it has seen a message before, so a message whose answer was lost is
never re-sent blindly (dedupes = False); the Message-ID lets mail systems fold a duplicate."""

from __future__ import annotations

import asyncio
import functools
import mimetypes
import ssl
from collections.abc import Awaitable, Callable
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import cast
from urllib.parse import quote

import aiosmtplib

from prcast.channels.base import ChannelError, Post, Receipt
from prcast.config import EmailConfig

#: the MIME classes' own policy, with the CRLF line ends SMTP wants on the wire
WIRE = compat32.clone(linesep="\r\n")


@functools.lru_cache(maxsize=64)
def _sender(from_address: str) -> str:
    return parseaddr(from_address)[1]


def message_id(key: str, from_address: str) -> str:
    domain = _sender(from_address).rpartition("@")[2] or "prcast.invalid"
    return f"<{key}.prcast@{domain}>"


def _header(value: str) -> str:
    """A header value: as it is when ASCII, else RFC 2047 encoded (the message accepts a
    Header object where its type says str)."""
    return value if value.isascii() else cast(str, Header(value, "utf-8"))


def attachment(path: Path, alt: str) -> MIMEBase:
    """An image (or any file) as an attachment part, with its alt text as Content-Description."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, _, subtype = mime.partition("/")
    part = MIMEBase(maintype, subtype)
    part.set_payload(path.read_bytes())
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=path.name)
    part["Content-Description"] = _header(alt)
    return part


def build_message(
    config: EmailConfig, post: Post, key: str, attachments: dict[Path, MIMEBase] | None = None
) -> Message:
    """The MIME message of one delivery: text and HTML alternatives, images attached.
    `attachments` caches encoded parts, which are the same for every recipient."""
    [address] = post.recipients
    body: Message = MIMEText(post.text, "plain", "utf-8")
    # boundaries set here, from the key: the generator would otherwise compile a pattern per
    # message to pick one. The parts are base64, which never holds "=_".
    if post.html:
        alternative = MIMEMultipart("alternative", boundary=f"=_alt_{key}")
        alternative.attach(body)
        alternative.attach(MIMEText(post.html, "html", "utf-8"))
        body = alternative
    if post.media:
        msg: Message = MIMEMultipart("mixed", boundary=f"=_mixed_{key}")
        msg.attach(body)
        cache = attachments if attachments is not None else {}
        for media in post.media:
            if media.path not in cache:
                cache[media.path] = attachment(media.path, media.alt)
            msg.attach(cache[media.path])
    else:
        msg = body
    msg["From"] = config.from_address
    msg["To"] = (
        formataddr((post.recipient_name, address), charset="utf-8")
        if post.recipient_name
        else address
    )
    msg["Subject"] = _header(post.subject or post.title)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(key, config.from_address)
    msg["Content-Language"] = post.language
    if config.reply_to:
        msg["Reply-To"] = config.reply_to
    if post.embargo is not None:
        msg["X-Embargo-Until"] = post.embargo.isoformat()
    unsubscribe = [f"<mailto:{_sender(config.from_address)}?subject=unsubscribe>"]
    if config.unsubscribe_url:
        unsubscribe.insert(0, f"<{config.unsubscribe_url.replace('{email}', quote(address))}>")
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["List-Unsubscribe"] = ", ".join(unsubscribe)
    return msg


class EmailChannel:
    """An SMTP server that sends press emails."""

    dedupes = False

    def __init__(self, config: EmailConfig) -> None:
        self.name = config.name
        self.config = config
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(config.connections)
        self._open: list[aiosmtplib.SMTP] = []
        self._password = config.password.resolve() if config.password else None
        #: deliveries the engine runs at once: one per connection (sending rate: max_per_minute)
        self.concurrency = config.connections
        #: publish() calls `commit` itself, right before the step that cannot be taken back
        self.commits_late = True
        self._attachments: dict[Path, MIMEBase] = {}

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.tls == "ssl",
            start_tls=c.tls == "starttls",
            tls_context=self._tls() if c.tls != "none" else None,
            timeout=c.timeout,
        )
        try:
            await smtp.connect()
            if c.username:
                await smtp.login(c.username, self._password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise ChannelError(self.name, f"SMTP login refused: {exc.code} {exc.message}",
                               hint="check the username and the password variable in channels.toml") from None  # fmt: skip
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelError(
                self.name, f"cannot connect to {c.host}:{c.port}: {exc}", transient=True
            ) from None
        self._open.append(smtp)
        return smtp

    async def _acquire(self) -> aiosmtplib.SMTP:
        await self._slots.acquire()
        try:
            while not self._idle.empty():
                smtp = self._idle.get_nowait()
                if smtp.is_connected:
                    return smtp
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    def _release(self, smtp: aiosmtplib.SMTP | None) -> None:
        if smtp is not None and smtp.is_connected:
            self._idle.put_nowait(smtp)
        self._slots.release()

    async def verify(self) -> str:
        smtp = await self._acquire()
        try:
            await smtp.noop()
        finally:
            self._release(smtp)
        login = f"{self.config.username}@" if self.config.username else ""
        return f"SMTP {login}{self.config.host}:{self.config.port} ({self.config.tls})"

    async def publish(
        self,
        post: Post,
        key: str,
        reply_to: Receipt | None = None,
        commit: Callable[[], Awaitable[None]] | None = None,
    ) -> Receipt:
        """Send one message. MAIL and RCPT come first; `commit` is awaited just before DATA,
        the only step after which the server may have the message."""
        msg = build_message(self.config, post, key, self._attachments)
        data = msg.as_bytes(policy=WIRE)
        sender = _sender(self.config.from_address)
        smtp: aiosmtplib.SMTP | None = await self._acquire()
        committed = False
        try:
            assert smtp is not None
            await smtp.mail(sender)
            await smtp.rcpt(post.recipients[0])
            if commit is not None:
                await commit()
            committed = True
            await smtp.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            transient = 400 <= exc.code < 500  # "try again later"; 5xx is final
            if smtp is not None and smtp.is_connected:
                await _reset(smtp)
            raise ChannelError(
                self.name,
                f"the server refused {post.recipients[0]}: {exc.code} {exc.message}",
                status=exc.code,
                transient=transient,
            ) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            await _quietly_close(smtp)
            smtp = None
            raise ChannelError(
                self.name,
                f"connection lost while sending: {exc}",
                transient=True,
                maybe_sent=committed,
            ) from None
        except BaseException:
            # e.g. the claim was lost at commit: leave the connection clean for the next message
            if smtp is not None and smtp.is_connected and not committed:
                await _reset(smtp)
            elif smtp is not None:
                await _quietly_close(smtp)
                smtp = None
            raise
        finally:
            self._release(smtp)
        return Receipt(remote_id=str(msg["Message-ID"]))

    async def close(self) -> None:
        for smtp in self._open:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    await _quietly_close(smtp)


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()


async def _quietly_close(smtp: aiosmtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


__all__ = ["EmailChannel", "build_message", "message_id"]
