"""The room's message schema: what a browser may send, checked before anything acts on it.

Every message is one JSON object of at most MESSAGE_MAX characters with a known `type` and
only that type's fields, each of the right kind. A message that fails is answered with an
error to its sender only; nobody else's connection is touched.
"""

from dataclasses import dataclass
from time import monotonic

MESSAGE_MAX = 16_384  # an SDP offer with four transceivers is 4-8 KB
CHAT_MAX = 1_000
SDP_MAX = 12_000
CONNECTION_STATES = ("new", "connecting", "connected", "disconnected", "failed", "closed")
SIGNAL_KINDS = ("offer", "answer", "ice")


class Invalid(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _str(limit: int):
    return lambda v: isinstance(v, str) and len(v) <= limit


def _candidate(value) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict) or set(value) - {"candidate", "sdpMid", "sdpMLineIndex",
                                                     "usernameFragment"}:  # fmt: skip
        return False
    return (
        _str(2_000)(value.get("candidate", ""))
        and (value.get("sdpMid") is None or _str(64)(value.get("sdpMid")))
        and (value.get("sdpMLineIndex") is None or isinstance(value.get("sdpMLineIndex"), int))
        and (value.get("usernameFragment") is None or _str(256)(value.get("usernameFragment")))
    )


# type -> {field: (required, check)}
SCHEMA = {
    "signal": {
        "to": (True, _int),
        "kind": (True, lambda v: v in SIGNAL_KINDS),
        "sdp": (False, _str(SDP_MAX)),
        "candidate": (False, _candidate),
    },
    "chat": {"text": (True, lambda v: isinstance(v, str) and 0 < len(v.strip()) <= CHAT_MAX)},
    "state": {
        "peer": (False, _int),
        "state": (True, lambda v: v in CONNECTION_STATES),
    },
    "admit": {"seat": (True, _int)},
    "remove": {"seat": (True, _int)},
    "invite": {"membership": (True, _int)},
    "end": {},
    "check_now": {},
    "check_answer": {"check": (True, _int), "answer": (True, _str(20))},
    "phone": {"phone": (True, _str(30))},
    "leave": {},
    "ping": {},
}


def parse(text: str | None, load) -> dict:
    """The validated message, or Invalid. `load` is json.loads."""
    if text is None:
        raise Invalid("text_only", "Send text (JSON) messages only.")
    if len(text) > MESSAGE_MAX:
        raise Invalid("too_large", f"Messages are limited to {MESSAGE_MAX} characters.")
    try:
        message = load(text)
    except ValueError:
        raise Invalid("malformed", "That was not JSON.") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Invalid("malformed", "A message is an object with a type.")
    fields = SCHEMA.get(message["type"])
    if fields is None:
        raise Invalid("unknown_type", "Unknown message type.")
    extra = set(message) - set(fields) - {"type"}
    if extra:
        raise Invalid("malformed", "Unknown fields in the message.")
    for name, (required, check) in fields.items():
        if name not in message:
            if required:
                raise Invalid("malformed", f"The message needs {name}.")
            continue
        if not check(message[name]):
            raise Invalid("malformed", f"{name} is not valid.")
    if message["type"] == "signal":
        kind = message["kind"]
        if kind in ("offer", "answer") and not message.get("sdp"):
            raise Invalid("malformed", "An offer or answer carries its sdp.")
        if kind == "ice" and "candidate" not in message:
            raise Invalid("malformed", "An ICE message carries its candidate.")
    return message


@dataclass
class Bucket:
    """A token bucket per socket: `burst` messages at once, `rate` a second after that."""

    rate: float = 20.0
    burst: float = 60.0
    tokens: float = 60.0
    at: float = 0.0

    def take(self, now: float | None = None) -> bool:
        now = monotonic() if now is None else now
        if self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
