"""An independent WebRTC peer for the session room: aiortc (a Python implementation of
WebRTC nobody here wrote) joins a room through the room's own WebSocket signalling, exactly
as room.js does, sends aiortc's synthetic video (and silent audio) and reports the first
frame it receives from the browser.

It runs in a thread with its own event loop (the test thread's loop belongs to Playwright).
Only the room's public protocol is used: welcome, admitted, presence, signal.
"""

import asyncio
import json
import threading
from dataclasses import dataclass, field

TIMEOUT = 60


@dataclass
class PeerResult:
    seat: int | None = None
    status: str = ""
    admitted: bool = False
    offered_to: list[int] = field(default_factory=list)
    remote_kinds: list[str] = field(default_factory=list)
    frame_size: tuple[int, int] | None = None
    connection_state: str = ""
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)
    joined: threading.Event = field(default_factory=threading.Event)


async def _run(ws_url: str, cookie: str, origin: str, result: PeerResult, stop: threading.Event):
    import websockets
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
    from aiortc.sdp import candidate_from_sdp

    socket = await websockets.connect(ws_url, additional_headers={"Cookie": cookie}, origin=origin)
    pcs: dict[int, RTCPeerConnection] = {}
    readers: list[asyncio.Future] = []
    first_frame = asyncio.get_running_loop().create_future()

    async def send(message):
        await socket.send(json.dumps(message))

    async def read_frame(track):
        frame = await track.recv()
        if not first_frame.done():
            first_frame.set_result((frame.width, frame.height))

    def new_pc(seat: int) -> RTCPeerConnection:
        pc = RTCPeerConnection()  # host candidates only: no STUN/TURN is configured in tests
        pcs[seat] = pc

        @pc.on("track")
        def on_track(track):
            result.remote_kinds.append(track.kind)
            if track.kind == "video":
                readers.append(asyncio.ensure_future(read_frame(track)))

        @pc.on("connectionstatechange")
        async def on_state():
            result.connection_state = pc.connectionState
            await send({"type": "state", "peer": seat, "state": pc.connectionState})

        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
        return pc

    async def offer_to(seat: int):
        pc = new_pc(seat)
        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
        result.offered_to.append(seat)
        await send({"type": "signal", "to": seat, "kind": "offer",
                    "sdp": pc.localDescription.sdp})  # fmt: skip

    async def on_signal(message):
        seat = message["from"]
        if message["kind"] == "offer":
            pc = new_pc(seat)
            await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await send({"type": "signal", "to": seat, "kind": "answer",
                        "sdp": pc.localDescription.sdp})  # fmt: skip
        elif message["kind"] == "answer" and seat in pcs:
            await pcs[seat].setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
        elif message["kind"] == "ice" and seat in pcs and message.get("candidate"):
            raw = message["candidate"]
            if not raw.get("candidate"):
                return
            candidate = candidate_from_sdp(raw["candidate"].split(":", 1)[1])
            candidate.sdpMid = raw.get("sdpMid")
            candidate.sdpMLineIndex = raw.get("sdpMLineIndex")
            await pcs[seat].addIceCandidate(candidate)

    async def on_presence(presence):
        # room.js's rule: the later seat offers to the earlier one.
        for s in presence:
            other = s["seat"]
            live = s["status"] == "admitted" and s["online"]
            if live and other != result.seat and other not in pcs and result.seat > other:
                await offer_to(other)

    async def messages():
        async for raw in socket:
            message = json.loads(raw)
            kind = message["type"]
            if kind == "welcome":
                result.seat, result.status = message["seat"], message["status"]
                result.admitted = message["status"] == "admitted"
                result.joined.set()
            elif kind == "refused":
                result.error = message["message"]
                result.joined.set()
                return
            elif kind == "admitted":
                result.admitted = True
            elif kind == "presence" and result.admitted:
                await on_presence(message["presence"])
            elif kind == "signal":
                await on_signal(message)

    reader = asyncio.ensure_future(messages())
    try:
        size = await asyncio.wait_for(first_frame, TIMEOUT)
        result.frame_size = size
        # Keep sending until the test has seen the browser play our video.
        while not stop.is_set():
            await asyncio.sleep(0.1)
    except TimeoutError:
        result.error = result.error or "no frame from the browser"
    finally:
        reader.cancel()
        for task in readers:
            task.cancel()
        await send({"type": "leave"})
        await socket.close()
        for pc in pcs.values():
            await pc.close()


class AiortcPeer:
    """Start with `start()`; `result` fills in as the call goes; `stop()` leaves the room."""

    def __init__(self, ws_url: str, cookie: str, origin: str):
        self.result = PeerResult()
        self._stop = threading.Event()
        self._args = (ws_url, cookie, origin, self.result, self._stop)
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        try:
            asyncio.run(_run(*self._args))
        except Exception as e:  # reported to the test, which fails with it
            self.result.error = f"{type(e).__name__}: {e}"
        finally:
            self.result.joined.set()
            self.result.done.set()

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
