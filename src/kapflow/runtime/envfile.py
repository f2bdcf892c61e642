"""Prints a shell file of fresh secrets for `make serve` on a machine without them.

`make serve` writes it once to var/kapflow.env (mode 600) and sources it; each line keeps a
value already in the environment, so a host's own SECRET_KEY, field keys and audit key win.
A real deployment sets these in its process manager instead (docs/deploy.md). No Django here:
settings refuse to load without the keys this makes.
"""

import base64
import secrets


def render() -> str:
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "KAPFLOW_FIELD_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "KAPFLOW_AUDIT_KEY": secrets.token_urlsafe(48),
    }
    lines = [
        "# Made by `make serve` (kapflow.runtime.envfile). Keep it secret and keep it: the field",
        "# keys decrypt TOTP seeds and the audit key verifies the trail. Values already in the",
        "# environment win.",
    ]
    lines += [f'export {name}="${{{name}:-{value}}}"' for name, value in values.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
