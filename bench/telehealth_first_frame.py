"""The time from the therapist's "Admit" to the first remote video frame in the browser.

Runs the session room's browser test (tests/e2e/test_session_room.py::
test_admit_to_first_remote_frame) with KAPFLOW_ROOM_ROUNDS rooms: the shipped ASGI
application under uvicorn, Debian's Chromium with fake camera and microphone, the therapist
and the client signed in; in each room the client waits, the therapist presses "Admit", and
the therapist's page times until the client's video has decoded its first frame (offer,
answer and ICE through the room's WebSocket, then DTLS and the first frame over loopback).
Prints the median, min and max in milliseconds.

    KAPFLOW_TESTING=1 .venv/bin/python bench/telehealth_first_frame.py --rounds 5
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_session_room.py::test_admit_to_first_remote_frame"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, KAPFLOW_TESTING="1", KAPFLOW_ROOM_ROUNDS=str(args.rounds))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"admit to first remote video frame.*", run.stdout)
    if run.returncode != 0 or found is None:
        sys.stdout.write(run.stdout[-4000:] + run.stderr[-2000:])
        sys.exit(1)
    print(found.group(0))


if __name__ == "__main__":
    main()
