"""Email over SMTP: one personalised message per recipient, STARTTLS or implicit TLS with
login, reused connections, a send rate limit, and a Message-ID derived from the delivery key.

SMTP cannot say whether it has seen a message before, so a message whose answer was lost is
never re-sent blindly (dedupes = False); the Message-ID lets mail systems fold a duplicate."""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

import aiosmtplib

from prcast.channels.base import ChannelError, Post, Receipt
from prcast.config import EmailConfig
from prcast.errors import InputError
from prcast.text.markup import plain_of

# --- the wire form of a message, assembled from parts prepared once per run -------------------

#: bytes of UTF-8 text per base64 encoded-word on a continuation line: " =?utf-8?b?" + 60
#: base64 characters + "?=" is 75 characters, the most RFC 2047 allows, in a 77-character line
_WORD_BYTES = 45
#: the characters of an atom (RFC 5322 atext): a display name made of these and spaces is
#: written as it is, anything else is quoted or encoded
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ "
)
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


class AddressError(ValueError):
    """An address that cannot be written as it is (bad domain, or non-ASCII without SMTPUTF8)."""


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, CRLF line ends (C-level, for bodies and attachments)."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _encoded_words(text: str, first_room: int) -> list[str]:
    """`text` as RFC 2047 base64 encoded-words (UTF-8), never splitting a character: the
    first fits in `first_room` characters of its line, the others in a continuation line."""
    words: list[str] = []
    room = max(4, (first_room - 12) // 4 * 4) // 4 * 3  # bytes the first word can carry
    chunk = bytearray()
    for ch in text:
        b = ch.encode("utf-8", "surrogatepass")
        if chunk and len(chunk) + len(b) > room:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
            chunk = bytearray()
            room = _WORD_BYTES
        chunk += b
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
    return words


def _needs_encoding(text: str) -> bool:
    return not (text.isascii() and set(text) <= _PRINTABLE) or "=?" in text


def _fold(name: str, tokens: list[str]) -> bytes:
    """`Name: token token ...` with a line break (CRLF and a space, RFC 5322 folding) before a
    token that would take the line past 78 characters; a longer token keeps its own line."""
    lines: list[str] = []
    line = name + ":"
    for token in tokens:
        if len(line) + 1 + len(token) > 78 and line != name + ":":
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def unstructured(name: str, value: str) -> bytes:
    """An unstructured header (Subject, Content-Description): as it is when printable
    ASCII, else RFC 2047 encoded; folded into lines of at most 78 characters."""
    if not _needs_encoding(value) and "  " not in value and value == value.strip():
        return _fold(name, value.split(" ") if value else [])
    return _fold(name, _encoded_words(value, 78 - len(name) - 2))


def ascii_address(address: str, utf8: bool = False) -> str:
    """An address as it goes on the wire: the domain in its ASCII (IDNA 2008) form; a
    non-ASCII local part only where the server takes SMTPUTF8 (`utf8`), else AddressError."""
    import idna

    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f'"{address}" is not an email address')
    if not local.isascii() and not utf8:
        raise AddressError(
            f'"{address}" has a non-ASCII local part, which needs a server that offers SMTPUTF8'
        )
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressError(
                f'"{address}": the domain is not a valid domain name ({exc})'
            ) from None
    return f"{local}@{domain}"


def _phrase(name: str, first_room: int) -> list[str]:
    """A display name as header tokens: atoms as they are, otherwise a quoted string, or
    RFC 2047 encoded-words when it is not printable ASCII."""
    if _needs_encoding(name):
        return _encoded_words(name, first_room)
    if set(name) <= _ATEXT and name == name.strip() and "  " not in name:
        return name.split(" ")
    return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']


def address_header(name: str, display: str, address: str, utf8: bool = False) -> bytes:
    """`To: Display Name <local@domain>`, the name encoded as needed and the domain in its
    ASCII form, so `email.utils.getaddresses` finds both."""
    addr = ascii_address(address, utf8)
    if not display:
        return _fold(name, [addr])
    return _fold(name, [*_phrase(display, 78 - len(name) - 2), f"<{addr}>"])


def parse_address(value: str) -> tuple[str, str]:
    """(display name, address) of "Name <local@domain>", '"Name, Org" <local@domain>' or a
    bare address (then the name is empty: a bare address is never taken for a name). Read
    the same on every Python version (email.utils.parseaddr's strictness varies)."""
    value = value.strip()
    if not (value.endswith(">") and "<" in value):
        return "", value
    display, _, address = value[:-1].rpartition("<")
    display = display.strip()
    if len(display) >= 2 and display[0] == display[-1] == '"':
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    return display, address.strip()


@dataclass
class Composer:
    """The wire bytes of one channel's messages. What does not vary per recipient (From,
    Reply-To, attachments, the subject when it is the same) is encoded once per run; per
    message only the recipient's header, its two text parts (base64, C-level) and the
    Message-ID are added. `utf8`: the server offers SMTPUTF8 (RFC 6531), so a non-ASCII
    local part of the sender may be written as it is (RFC 6532)."""

    config: EmailConfig
    utf8: bool = False

    def __post_init__(self) -> None:
        c = self.config
        display, address = parse_address(c.from_address)
        self.sender = ascii_address(address, self.utf8)
        self.domain = self.sender.rpartition("@")[2] or "prcast.invalid"
        fixed = address_header("From", display, address, self.utf8)
        if c.reply_to:
            fixed_reply = address_header("Reply-To", *parse_address(c.reply_to), self.utf8)
        else:
            fixed_reply = b""
        self._from, self._reply_to = fixed, fixed_reply
        self._subjects: dict[str, bytes] = {}
        self._attachments: dict[tuple[Path, str], bytes] = {}
        #: each paragraph's plain text, converted once for all recipients
        self._plain: dict[str, str] = {}
        self._date: tuple[int, bytes] = (-1, b"")
        mailto = f"<mailto:{self.sender}?subject=unsubscribe>"
        self._mailto = mailto

    def message_id(self, key: str) -> str:
        return f"<{key}.prcast@{self.domain}>"

    def _subject(self, subject: str) -> bytes:
        folded = self._subjects.get(subject)
        if folded is None:
            folded = unstructured("Subject", subject)
            if len(self._subjects) < 1024:  # one subject for all, or a few per language
                self._subjects[subject] = folded
        return folded

    def _attachment(self, path: Path, alt: str) -> bytes:
        part = self._attachments.get((path, alt))
        if part is None:
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            disposition = (
                f'attachment; filename="{path.name}"'
                if path.name.isascii() and '"' not in path.name and "\\" not in path.name
                else f"attachment; filename*=utf-8''{quote(path.name, safe='')}"
            )
            part = (
                f"Content-Type: {mime}\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: {disposition}\r\n".encode("ascii")
                + unstructured("Content-Description", alt)
                + b"\r\n"
                + _b64(path.read_bytes())
            )
            self._attachments[(path, alt)] = part
        return part

    def _now(self) -> bytes:
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, f"Date: {formatdate(second, usegmt=True)}\r\n".encode())
        return self._date[1]

    def headers(self, post: Post, key: str) -> bytes:
        """The message's own header lines (not the MIME structure)."""
        c = self.config
        [address] = post.recipients
        out = [
            self._from,
            address_header("To", post.recipient_name, address, self.utf8),
            self._subject(post.subject or post.title),
            self._now(),
            f"Message-ID: {self.message_id(key)}\r\n".encode("ascii"),
            unstructured("Content-Language", post.language),
            self._reply_to,
        ]
        if post.embargo is not None:
            out.append(f"X-Embargo-Until: {post.embargo.isoformat()}\r\n".encode("ascii"))
        unsubscribe = [self._mailto]
        if c.unsubscribe_url:
            url = c.unsubscribe_url.replace("{email}", quote(address))
            unsubscribe.insert(0, f"<{url}>,")
            out.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        out.append(_fold("List-Unsubscribe", unsubscribe))
        return b"".join(out)

    def message(self, post: Post, key: str) -> bytes:
        """The whole message as SMTP's DATA carries it (CRLF line ends, before dot-stuffing):
        text and HTML alternatives, images attached. The text part is the post's Markdown as
        plain text (made here: the post's text, whose digest identifies what was published,
        stays as it is)."""
        text = (
            b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + _b64(plain_of(post.text, self._plain).encode("utf-8"))
        )
        # boundaries from the key: the parts are base64 (or encoded headers), which never
        # hold "=_"
        if post.html:
            alt = f"=_alt_{key}".encode("ascii")
            body = (
                b'Content-Type: multipart/alternative;\r\n boundary="' + alt + b'"\r\n\r\n'
                b"--" + alt + b"\r\n" + text + b"--" + alt + b"\r\n"
                b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                + _b64(post.html.encode("utf-8"))
                + b"--" + alt + b"--\r\n"
            )  # fmt: skip
        else:
            body = text
        if post.media:
            mixed = f"=_mixed_{key}".encode("ascii")
            parts = [b"--" + mixed + b"\r\n" + body]
            parts += [b"--" + mixed + b"\r\n" + self._attachment(m.path, m.alt) for m in post.media]
            body = (
                b'Content-Type: multipart/mixed;\r\n boundary="' + mixed + b'"\r\n\r\n'
                + b"".join(parts) + b"--" + mixed + b"--\r\n"
            )  # fmt: skip
        head, _, rest = body.partition(b"\r\n\r\n")
        return head + b"\r\nMIME-Version: 1.0\r\n" + self.headers(post, key) + b"\r\n" + rest


def message_id(key: str, from_address: str) -> str:
    """The deterministic Message-ID of a delivery (its key at the sender's domain)."""
    domain = parse_address(from_address)[1].rpartition("@")[2]
    try:
        domain = ascii_address(f"x@{domain}").rpartition("@")[2] if domain else ""
    except AddressError:
        domain = ""
    return f"<{key}.prcast@{domain or 'prcast.invalid'}>"


#: the email package's compat32 policy with the CRLF line ends SMTP wants on the wire
WIRE = compat32.clone(linesep="\r\n")


def build_message(
    config: EmailConfig, post: Post, key: str, composer: Composer | None = None
) -> Message:
    """The MIME message of one delivery, exactly as it is sent (parsed back from its bytes).
    Pass one `composer` per channel to encode what does not vary per recipient once."""
    return message_from_bytes((composer or Composer(config)).message(post, key), policy=compat32)


# --- the hot path of an SMTP connection ------------------------------------------------------

#: the longest reply this client reads (aiosmtplib's limit too)
_MAX_REPLY = 1 << 17


@dataclass(frozen=True)
class Reply:
    code: int
    message: str


class _Wire(asyncio.Protocol):
    """One SMTP connection once it is set up (connected, EHLO, STARTTLS, login: done by
    aiosmtplib): each command is one write and its reply (RFC 5321 4.2, multi-line replies
    joined) resolves one future, with one timer for its timeout. aiosmtplib's machinery
    per command (a lock, `wait_for`, parsing the buffer on every read) was a quarter of
    the CPU a message took."""

    def __init__(self, transport: asyncio.Transport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.lines: list[bytes] = []
        self.waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        transport.set_protocol(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _MAX_REPLY:
            self._fail(aiosmtplib.SMTPResponseException(-1, "Response too long"))
            return
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[: end + 1])
            del self.buffer[: end + 1]
            self.lines.append(line)
            if line[3:4] == b"-":  # more lines of this reply follow
                continue
            lines, self.lines = self.lines, []
            try:
                code = int(lines[-1][:3])
            except ValueError:
                text = lines[-1].decode("utf-8", "replace").strip()
                self._fail(
                    aiosmtplib.SMTPResponseException(-1, f"Malformed SMTP response line: {text}")
                )
                return
            message = "\n".join(x[4:].decode("utf-8", "replace").rstrip("\r\n") for x in lines)
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(Reply(code, message))
            # a reply nobody waits for (the server speaking out of turn) is dropped

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = aiosmtplib.SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._fail(error)

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if not self.closed:
            self.close()

    def _timed_out(self, waiter: asyncio.Future[Reply]) -> None:
        if not waiter.done():
            self._fail(aiosmtplib.SMTPTimeoutError("Timed out waiting for server response"))

    async def ask(self, payload: bytes) -> Reply:
        """Write one command (or a message's content) and wait for its reply."""
        if self.closed:
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        waiter: asyncio.Future[Reply] = self.loop.create_future()
        self.waiter = waiter
        self.transport.write(payload)
        timer = self.loop.call_later(self.timeout, self._timed_out, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    def close(self) -> None:
        self.closed = True
        if not self.transport.is_closing():
            self.transport.close()


#: a line that starts with a dot (dot-stuffed in DATA, RFC 5321 4.5.2)
_DOT = re.compile(rb"(?m)^\.")


class _Session:
    """An SMTP connection: set up by aiosmtplib, then driven by `_Wire`."""

    def __init__(self, smtp: aiosmtplib.SMTP, timeout: float) -> None:
        self.smtp = smtp
        assert isinstance(smtp.transport, asyncio.Transport)
        self.wire = _Wire(smtp.transport, timeout)

    def supports_extension(self, name: str) -> bool:
        return self.smtp.supports_extension(name)

    @property
    def is_connected(self) -> bool:
        return not self.wire.closed

    async def execute_command(self, *words: bytes) -> Reply:
        return await self.wire.ask(b" ".join(words) + b"\r\n")

    async def data(self, message: bytes) -> Reply:
        """DATA, then the message (CRLF line ends, dot-stuffed) and its end."""
        if message.count(b"\n") != message.count(b"\r\n") or message.count(b"\r") != message.count(
            b"\r\n"
        ):  # a bare CR or LF: as aiosmtplib does, make every line end CRLF
            message = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
        if message.startswith(b".") or b"\n." in message:
            message = _DOT.sub(b"..", message)
        if not message.endswith(b"\r\n"):
            message += b"\r\n"
        start = await self.wire.ask(b"DATA\r\n")
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        answer = await self.wire.ask(message + b".\r\n")
        if answer.code != 250:
            raise aiosmtplib.SMTPDataError(answer.code, answer.message)
        return answer

    async def noop(self) -> None:
        answer = await self.execute_command(b"NOOP")
        if answer.code != 250:
            raise aiosmtplib.SMTPResponseException(answer.code, answer.message)

    async def rset(self) -> None:
        answer = await self.execute_command(b"RSET")
        if answer.code != 250:
            raise aiosmtplib.SMTPResponseException(answer.code, answer.message)

    async def quit(self) -> None:
        try:
            await self.execute_command(b"QUIT")
        finally:
            self.close()

    def close(self) -> None:
        self.wire.close()


class EmailChannel:
    """An SMTP server that sends press emails."""

    dedupes = False

    def __init__(self, config: EmailConfig) -> None:
        self.name = config.name
        self.config = config
        self._idle: asyncio.Queue[_Session] = asyncio.Queue()
        self._slots = asyncio.Semaphore(config.connections)
        self._open: list[_Session] = []
        self._password = config.password.resolve() if config.password else None
        #: deliveries the engine runs at once: one per connection (sending rate: max_per_minute)
        self.concurrency = config.connections
        #: publish() calls `commit` itself, right before the step that cannot be taken back
        self.commits_late = True
        self._composer: Composer | None = None

    def _compose(self, smtp: _Session) -> Composer:
        """The run's composer, made once the server said whether it takes SMTPUTF8."""
        if self._composer is None:
            utf8 = smtp.supports_extension("smtputf8")
            try:
                self._composer = Composer(self.config, utf8=utf8)
            except AddressError as exc:
                raise InputError(
                    f'channel "{self.name}": from_address / reply_to: {exc}, and '
                    f"{self.config.host}:{self.config.port} does not; nothing was sent",
                    path="channels.toml",
                    hint="an address with a non-ASCII local part needs a server that offers "
                    "SMTPUTF8; use an ASCII address (an internationalised domain is fine)",
                ) from None
        return self._composer

    async def ready(self) -> None:
        """Connect once and check that the sender can be written for this server (the
        engine calls this before it claims anything): a non-ASCII sender address on a
        server without SMTPUTF8 is refused here, before anything is sent."""
        try:
            smtp = await self._acquire()
        except ChannelError:
            return  # every delivery reports that the server cannot be reached
        try:
            self._compose(smtp)
        finally:
            self._release(smtp)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    async def _connect(self) -> _Session:
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
            if smtp.is_ehlo_or_helo_needed:  # what the server offers (SMTPUTF8) is known from here
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
            if c.username:
                await smtp.login(c.username, self._password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise ChannelError(self.name, f"SMTP login refused: {exc.code} {exc.message}",
                               hint="check the username and the password variable in channels.toml") from None  # fmt: skip
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelError(
                self.name, f"cannot connect to {c.host}:{c.port}: {exc}", transient=True
            ) from None
        session = _Session(smtp, c.timeout)
        self._open.append(session)
        return session

    async def _acquire(self) -> _Session:
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

    def _release(self, smtp: _Session | None) -> None:
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
        commit: Callable[[], Awaitable[Callable[[], Awaitable[None]]]] | None = None,
    ) -> Receipt:
        """Send one message. `commit` (the record that it is sent) runs while MAIL and RCPT
        are answered; what it returns (making that record durable) is awaited before DATA,
        the only step after which the server may have the message."""
        smtp: _Session | None = await self._acquire()
        committed = False
        recipient = post.recipients[0]
        try:
            assert smtp is not None
            composer = self._compose(smtp)
            try:
                data = composer.message(post, key)
                rcpt = ascii_address(recipient, composer.utf8)
            except AddressError as exc:
                raise ChannelError(self.name, f"cannot address {recipient}: {exc}") from None
            utf8 = not (rcpt.isascii() and composer.sender.isascii())
            options = [b"SMTPUTF8"] if utf8 else []

            async def envelope() -> None:
                # the commands as SMTP.mail and .rcpt send them, without parsing the
                # addresses again for every message (they are checked above)
                assert smtp is not None
                sender = f"FROM:<{composer.sender}>".encode()
                answer = await smtp.execute_command(b"MAIL", sender, *options)
                if answer.code != 250:
                    raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, composer.sender)
                answer = await smtp.execute_command(b"RCPT", f"TO:<{rcpt}>".encode())
                if answer.code not in (250, 251):
                    raise aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, rcpt)

            if commit is None:
                await envelope()
            else:
                # the record is written while MAIL and RCPT are answered, and sealed (its
                # fsync, shared with the messages that started meanwhile) before DATA
                recording = asyncio.ensure_future(commit())
                try:
                    await envelope()
                except asyncio.CancelledError:
                    recording.cancel()
                    raise
                except BaseException:
                    try:
                        await asyncio.wait([recording])
                    except BaseException:  # cancelled meanwhile: the record's task goes too
                        recording.cancel()  # (and an exception it holds is not reported)
                        raise
                    failure = None if recording.cancelled() else recording.exception()
                    if failure is not None:
                        raise failure from None  # first: a lost claim (not this one's to send)
                    raise
                seal = await recording
                await seal()
            committed = True
            await smtp.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            transient = 400 <= exc.code < 500  # "try again later"; 5xx is final
            if smtp is not None and smtp.is_connected:
                await _reset(smtp)
            raise ChannelError(
                self.name,
                f"the server refused {recipient}: {exc.code} {exc.message}",
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
        return Receipt(remote_id=composer.message_id(key))

    async def close(self) -> None:
        for smtp in self._open:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    await _quietly_close(smtp)


async def _reset(smtp: _Session) -> None:
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()


async def _quietly_close(smtp: _Session | None) -> None:
    if smtp is not None:
        smtp.close()


__all__ = ["AddressError", "Composer", "EmailChannel", "build_message", "message_id"]
