"""Spoken chat answers a later turn may send back by `audio.id`: each id's transcript, until it expires."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from modelport.errors import InvalidRequestError


class AudioStore:
    """Transcripts by audio id for `ttl` seconds; past `size` ids the oldest are forgotten."""

    def __init__(self, ttl: int, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[str, tuple[str, int]] = OrderedDict()

    @staticmethod
    def new_id() -> str:
        return f"audio_{uuid.uuid4().hex}"

    def keep(self, audio_id: str, transcript: str) -> int:
        """Remember a spoken answer's transcript under its id; returns when it expires (Unix seconds)."""
        expires_at = int(time.time()) + self.ttl
        self._items[audio_id] = (transcript, expires_at)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return expires_at

    def transcript(self, audio_id: str, param: str) -> str:
        """The transcript of `audio_id`; an id unknown here, or expired, is a 400 naming `param`."""
        item = self._items.get(audio_id)
        if item is None:
            raise InvalidRequestError(
                f"Audio with id '{audio_id}' is not known here: send the answer's transcript as content instead.",
                param=param,
                code="audio_not_found",
            )
        transcript, expires_at = item
        if expires_at <= time.time():
            del self._items[audio_id]
            raise InvalidRequestError(
                f"Audio with id '{audio_id}' has expired: send the answer's transcript as content instead.",
                param=param,
                code="audio_expired",
            )
        return transcript
