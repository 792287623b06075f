"""A small X API v2 server for exactly what prcast uses, following the published API:

- OAuth 1.0a user context: every request's HMAC-SHA1 signature is verified (Authlib's
  RFC 5849 verifier); a wrong signature, unknown key or reused nonce answers 401.
- POST /2/tweets -> 201 {"data": {"id", "text"}}; text over 280 weighted characters,
  an unknown reply target or unknown media -> 400 (problem JSON with "errors"); the same
  text twice -> 403 "You are not allowed to create a Tweet with duplicate content.";
  x-rate-limit-limit/-remaining/-reset headers on every answer and 429 when the
  window is used up.
- POST /2/media/upload (multipart "media", "media_category") -> {"data": {"id",
  "media_key", "size", "expires_after_secs"}}; POST /2/media/metadata -> alt text.
- GET /2/tweets/:id with expansions=attachments.media_keys and media.fields=alt_text,
  GET /2/users/me.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth1.rfc5849.signature import verify_hmac_sha1
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twitter_text import parse_tweet

CONSUMER_KEY, CONSUMER_SECRET = "test-consumer-key", "test-consumer-secret"
ACCESS_TOKEN, ACCESS_SECRET = "1001-test-access-token", "test-access-secret"
USER = {"id": "1001", "name": "Example Corp Press", "username": "examplepress"}
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."


class _Registered:
    """The app and the user token this server knows (Authlib's client/credential interface)."""

    def get_client_secret(self) -> str:
        return CONSUMER_SECRET

    def get_oauth_token_secret(self) -> str:
        return ACCESS_SECRET


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "type": "about:blank", "status": status, **extra}, status
    )


@dataclass
class XState:
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1_800_000_000_000_000_001)
    )
    #: posts allowed per rate-limit window (X's user limit for POST /2/tweets is per 15 minutes);
    #: windows are aligned to multiples of window_seconds, so the integer reset time is exact
    window_limit: int = 10_000
    window_seconds: int = 900
    window_used: int = 0
    window_reset: int = 0
    rejected: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: seconds to hold the answer after a tweet is created (to lose answers in crash tests)
    answer_delay: float = 0.0


def create_app(state: XState | None = None) -> Starlette:
    state = state or XState()

    async def authorized(request: Request) -> JSONResponse | None:
        # JSON and multipart bodies are not part of the OAuth 1.0a signature base string
        headers = {"Authorization": request.headers.get("authorization", "")}
        oauth = OAuth1Request(request.method, str(request.url), body=None, headers=headers)
        if oauth.client_id != CONSUMER_KEY or oauth.token != ACCESS_TOKEN:
            return problem(401, "Unauthorized", "Unauthorized")
        oauth.client, oauth.credential = _Registered(), _Registered()
        if oauth.signature_method != "HMAC-SHA1" or not verify_hmac_sha1(oauth):
            return problem(401, "Unauthorized", "Unauthorized")
        nonce = oauth.oauth_params.get("oauth_nonce")
        if not nonce or nonce in state.nonces or abs(int(oauth.timestamp or 0) - time.time()) > 300:
            return problem(401, "Unauthorized", "Unauthorized")
        state.nonces.add(nonce)
        state.requests.append((request.method, request.url.path))
        return None

    def limited(response: JSONResponse) -> JSONResponse:
        response.headers["x-rate-limit-limit"] = str(state.window_limit)
        response.headers["x-rate-limit-remaining"] = str(
            max(0, state.window_limit - state.window_used)
        )
        response.headers["x-rate-limit-reset"] = str(state.window_reset)
        return response

    async def create_tweet(request: Request) -> JSONResponse:
        if denied := await authorized(request):
            return denied
        now = time.time()
        if now >= state.window_reset:
            state.window_used = 0
            state.window_reset = (int(now) // state.window_seconds + 1) * state.window_seconds
        if state.window_used >= state.window_limit:
            state.rejected += 1
            return limited(problem(429, "Too Many Requests", "Too Many Requests"))
        state.window_used += 1
        body = await request.json()
        text = body.get("text", "")
        media_ids = body.get("media", {}).get("media_ids", [])
        if not text and not media_ids:
            return limited(problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                                   errors=[{"message": "text or media is required"}]))  # fmt: skip
        if parse_tweet(text).weightedLength > 280:
            return limited(problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                                   errors=[{"message": "Your Tweet text is too long."}]))  # fmt: skip
        parent = body.get("reply", {}).get("in_reply_to_tweet_id")
        if parent is not None and parent not in state.tweets:
            return limited(problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                                   errors=[{"message": "The tweet you are replying to does not exist."}]))  # fmt: skip
        unknown = [m for m in media_ids if m not in state.media]
        if unknown:
            return limited(problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                                   errors=[{"message": f"Media id {unknown[0]} not found"}]))  # fmt: skip
        if any(t["text"] == text for t in state.tweets.values()):
            return limited(problem(403, "Forbidden", DUPLICATE))
        tweet_id = str(next(state.ids))
        root = state.tweets[parent]["conversation_id"] if parent else tweet_id
        state.tweets[tweet_id] = {"id": tweet_id, "text": text, "author_id": USER["id"], "conversation_id": root,
                                  "in_reply_to": parent, "media_ids": media_ids}  # fmt: skip
        if state.answer_delay:
            await asyncio.sleep(state.answer_delay)
        return limited(JSONResponse({"data": {"id": tweet_id, "text": text}}, 201))

    async def get_tweet(request: Request) -> JSONResponse:
        if denied := await authorized(request):
            return denied
        tweet = state.tweets.get(request.path_params["id"])
        if tweet is None:
            return JSONResponse({"errors": [{"title": "Not Found Error", "detail": "Could not find tweet",
                                             "type": "https://api.twitter.com/2/problems/resource-not-found"}]})  # fmt: skip
        data: dict[str, Any] = {"id": tweet["id"], "text": tweet["text"], "author_id": tweet["author_id"],
                                "conversation_id": tweet["conversation_id"]}  # fmt: skip
        if tweet["in_reply_to"]:
            data["referenced_tweets"] = [{"type": "replied_to", "id": tweet["in_reply_to"]}]
        out: dict[str, Any] = {"data": data}
        if tweet["media_ids"]:
            keys = [state.media[m]["media_key"] for m in tweet["media_ids"]]
            data["attachments"] = {"media_keys": keys}
            if "attachments.media_keys" in request.query_params.get("expansions", ""):
                out["includes"] = {"media": [{"media_key": state.media[m]["media_key"], "type": "photo",
                                              "alt_text": state.media[m].get("alt_text")}
                                             for m in tweet["media_ids"]]}  # fmt: skip
        return JSONResponse(out)

    async def upload(request: Request) -> JSONResponse:
        if denied := await authorized(request):
            return denied
        form = await request.form()
        media = form.get("media")
        if media is None or isinstance(media, str):
            return problem(400, "Invalid Request", "media is required")
        data = await media.read()
        media_id = str(next(state.ids))
        state.media[media_id] = {
            "media_key": f"3_{media_id}",
            "size": len(data),
            "category": form.get("media_category"),
        }
        return JSONResponse({"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(data),
                                      "expires_after_secs": 86400}})  # fmt: skip

    async def metadata(request: Request) -> JSONResponse:
        if denied := await authorized(request):
            return denied
        body = await request.json()
        media = state.media.get(str(body.get("id")))
        if media is None:
            return problem(400, "Invalid Request", "Media not found")
        alt = body.get("metadata", {}).get("alt_text", {}).get("text", "")
        if len(alt) > 1000:
            return problem(400, "Invalid Request", "alt text is longer than 1000 characters")
        media["alt_text"] = alt
        return JSONResponse(
            {"data": {"id": body["id"], "associated_metadata": body.get("metadata", {})}}
        )

    async def me(request: Request) -> JSONResponse:
        if denied := await authorized(request):
            return denied
        return JSONResponse({"data": USER})

    app = Starlette(
        routes=[
            Route("/2/tweets", create_tweet, methods=["POST"]),
            Route("/2/tweets/{id}", get_tweet, methods=["GET"]),
            Route("/2/media/upload", upload, methods=["POST"]),
            Route("/2/media/metadata", metadata, methods=["POST"]),
            Route("/2/users/me", me, methods=["GET"]),
        ]
    )
    app.state.x = state
    return app
