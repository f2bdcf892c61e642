"""Signalling messages per second through the session room's Redis channel layer.

One room group with four members (the room's maximum); a sender group_sends relay messages
the size of an ICE candidate (about 300 bytes of JSON), and every member receives each one,
as the consumer's chat and presence fan-out does. Reported: messages delivered per second
(sends x members), median of the rounds. Needs Redis (REDIS_URL, default 127.0.0.1:6379).

    .venv/bin/python bench/telehealth_signalling.py --messages 2000 --rounds 5
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid

from channels_redis.core import RedisChannelLayer

CANDIDATE = {
    "type": "room.relay",
    "message": {
        "type": "signal", "from": 1, "kind": "ice",
        "candidate": {"candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 50000 typ "
                      "srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXmG network-cost 999",
                      "sdpMid": "0", "sdpMLineIndex": 0},
    },
}  # fmt: skip


async def one_round(layer, messages: int, members: int) -> float:
    group = f"bench.{uuid.uuid4().hex[:12]}"
    channels = [await layer.new_channel() for _ in range(members)]
    for channel in channels:
        await layer.group_add(group, channel)

    async def drain(channel):
        for _ in range(messages):
            await layer.receive(channel)

    start = time.perf_counter()
    receivers = [asyncio.ensure_future(drain(c)) for c in channels]
    for _ in range(messages):
        await layer.group_send(group, CANDIDATE)
    await asyncio.gather(*receivers)
    elapsed = time.perf_counter() - start
    for channel in channels:
        await layer.group_discard(group, channel)
    return messages * members / elapsed


async def main(args):
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    layer = RedisChannelLayer(hosts=[url], prefix="bench:room", capacity=args.messages + 10)
    rates = [await one_round(layer, args.messages, args.members) for _ in range(args.rounds)]
    await layer.flush()
    print(
        f"{args.members} members, {args.messages} sends per round, {args.rounds} rounds: "
        f"median {statistics.median(rates):,.0f} messages delivered/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
