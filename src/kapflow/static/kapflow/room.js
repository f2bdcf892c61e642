// The session room (decision 0049): WebRTC between the people in the room, signalling over
// the room's WebSocket. Our own code, no library, nothing from a CDN. Media goes browser to
// browser (or through the practice's TURN server); nothing is recorded.
(function () {
  "use strict";
  var root = document.getElementById("room");
  if (!root) return;
  var appointment = root.dataset.appointment;
  var isHost = root.dataset.host === "1";
  var statusEl = document.getElementById("room-status");
  var alertsEl = document.getElementById("room-alerts");
  var videos = document.getElementById("videos");
  var me = null, iceServers = [], localStream = null, socket = null, retries = 0, closedForGood = false;
  var peers = {}; // seat id -> {pc, pending: [], tile}
  var roles = {};

  function say(text) { statusEl.textContent = text; }
  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text) e.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }
  function alertBox(text, withPlan) {
    var p = el("p", text, { "class": "alert", "data-testid": "room-alert" });
    if (withPlan) {
      var b = el("button", "Show the emergency plan", { type: "button" });
      b.addEventListener("click", function () {
        var plan = document.getElementById("emergency-plan");
        if (plan) { plan.open = true; plan.scrollIntoView(); }
      });
      p.appendChild(document.createTextNode(" "));
      p.appendChild(b);
    }
    alertsEl.prepend(p);
  }
  function notice(text) {
    var list = document.getElementById("notices");
    if (list) list.prepend(el("li", text));
  }

  function getMedia() {
    if (!navigator.mediaDevices) return Promise.resolve(null);
    return navigator.mediaDevices.getUserMedia({ audio: true, video: true }).then(function (s) {
      localStream = s;
      document.getElementById("local-video").srcObject = s;
      return s;
    }).catch(function () { say("No camera or microphone: you can see and hear the others."); return null; });
  }

  function tileFor(seat) {
    var fig = document.getElementById("tile-" + seat);
    if (!fig) {
      fig = el("figure", "", { id: "tile-" + seat, "class": "tile" });
      var v = el("video", "", { autoplay: "", playsinline: "", "data-testid": "remote-video", "data-seat": seat });
      fig.appendChild(v);
      fig.appendChild(el("figcaption", roles[seat] || "Participant"));
      videos.appendChild(fig);
    }
    return fig;
  }

  function showState(seat, state) {
    var fig = document.getElementById("tile-" + seat);
    if (!fig) return;
    fig.dataset.state = state;
    fig.querySelector("figcaption").textContent = (roles[seat] || "Participant") + " (" + state + ")";
  }

  function closePeer(seat) {
    var p = peers[seat];
    if (!p) return;
    p.pc.close();
    delete peers[seat];
    var fig = document.getElementById("tile-" + seat);
    if (fig) fig.remove();
  }

  function makePeer(seat) {
    closePeer(seat);
    var pc = new RTCPeerConnection({ iceServers: iceServers });
    var p = { pc: pc, pending: [] };
    peers[seat] = p;
    if (localStream) {
      localStream.getTracks().forEach(function (t) { pc.addTrack(t, localStream); });
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.ontrack = function (ev) {
      var v = tileFor(seat).querySelector("video");
      if (v.srcObject !== ev.streams[0]) v.srcObject = ev.streams[0] || new MediaStream([ev.track]);
    };
    pc.onicecandidate = function (ev) {
      send({ type: "signal", to: seat, kind: "ice", candidate: ev.candidate ? ev.candidate.toJSON() : null });
    };
    pc.onconnectionstatechange = function () {
      showState(seat, pc.connectionState);
      send({ type: "state", peer: seat, state: pc.connectionState });
    };
    return p;
  }

  function offerTo(seat) {
    var p = makePeer(seat);
    p.pc.createOffer().then(function (o) { return p.pc.setLocalDescription(o); }).then(function () {
      send({ type: "signal", to: seat, kind: "offer", sdp: p.pc.localDescription.sdp });
    });
  }

  function onSignal(m) {
    var seat = m.from, p = peers[seat];
    if (m.kind === "offer") {
      p = makePeer(seat);
      p.pc.setRemoteDescription({ type: "offer", sdp: m.sdp }).then(function () {
        p.pending.forEach(function (c) { p.pc.addIceCandidate(c); });
        p.pending = [];
        return p.pc.createAnswer();
      }).then(function (a) { return p.pc.setLocalDescription(a); }).then(function () {
        send({ type: "signal", to: seat, kind: "answer", sdp: p.pc.localDescription.sdp });
      });
    } else if (m.kind === "answer" && p) {
      p.pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).then(function () {
        p.pending.forEach(function (c) { p.pc.addIceCandidate(c); });
        p.pending = [];
      });
    } else if (m.kind === "ice" && p && m.candidate) {
      if (p.pc.remoteDescription) p.pc.addIceCandidate(m.candidate);
      else p.pending.push(m.candidate);
    }
  }

  function onPresence(list) {
    var ul = document.getElementById("presence");
    var waiting = document.getElementById("waiting");
    ul.textContent = "";
    if (waiting) waiting.textContent = "";
    var live = {};
    list.forEach(function (s) {
      roles[s.seat] = s.label;
      if (s.status === "waiting") {
        if (waiting && s.online) {
          var li = el("li", s.label + " is waiting ", { "data-seat": s.seat });
          var b = el("button", "Admit", { type: "button", "data-testid": "admit-" + s.role });
          b.addEventListener("click", function () { send({ type: "admit", seat: s.seat }); });
          li.appendChild(b);
          waiting.appendChild(li);
        }
        return;
      }
      var item = el("li", s.label + (s.seat === me ? " (you)" : "") + ": " + (s.online ? "connected" : "not connected"),
                    { "data-seat": s.seat, "data-testid": "present-" + s.role });
      if (isHost && s.seat !== me) {
        var r = el("button", "Remove", { type: "button" });
        r.addEventListener("click", function () { send({ type: "remove", seat: s.seat }); });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(r);
      }
      ul.appendChild(item);
      if (s.online && s.seat !== me) live[s.seat] = true;
    });
    Object.keys(peers).forEach(function (seat) { if (!live[seat]) closePeer(Number(seat)); });
    // The later seat offers to the earlier one, so each pair negotiates once.
    Object.keys(live).forEach(function (seat) {
      seat = Number(seat);
      if (!peers[seat] && me > seat) offerTo(seat);
    });
  }

  var admitted = false;
  function handle(m) {
    switch (m.type) {
      case "welcome":
        me = m.seat; iceServers = m.ice_servers; retries = 0;
        admitted = m.status === "admitted";
        say(admitted ? "In the room." : "In the waiting room: the therapist will let you in.");
        if (admitted) onPresence(m.presence);
        break;
      case "admitted": admitted = true; say("In the room."); break;
      case "presence": if (admitted) onPresence(m.presence); break;
      case "signal": onSignal(m); break;
      case "chat":
        document.getElementById("chat").appendChild(el("li", (roles[m.from] || m.role) + ": " + m.text));
        break;
      case "state":
        // Each person's link with me, as their browser reports it: shown on their tile.
        if (m.peer === me) showState(m.seat, m.state);
        break;
      case "refused": closedForGood = true; say(m.message); break;
      case "removed": closedForGood = true; say("The therapist removed you from the room."); stopAll(); break;
      case "ended": closedForGood = true; say("The therapist ended the room."); stopAll(); break;
      case "help_now": alertBox("Need help now: raised by the " + m.raised_by + ".", isHost); break;
      case "checkin": notice("Companion check-in: " + m.label); break;
      case "alert":
        alertBox("The " + m.role + "'s connection dropped during the dosing window.", true);
        break;
      case "check_prompt":
        var f = document.getElementById("check-form");
        if (f) { f.hidden = false; f.dataset.check = m.check; }
        break;
      case "check_prompted": notice("Visual check asked of the companion."); break;
      case "check_answered": notice("Visual check answered: " + m.label); break;
      case "check_recorded":
        var cf = document.getElementById("check-form"); if (cf) { cf.hidden = true; cf.reset(); }
        break;
      case "error": if (m.code !== "rate_limited") say(m.message); break;
    }
  }

  function stopAll() {
    Object.keys(peers).forEach(function (s) { closePeer(Number(s)); });
    if (localStream) localStream.getTracks().forEach(function (t) { t.stop(); });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/telehealth/" + appointment + "/");
    socket.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    socket.onclose = function () {
      Object.keys(peers).forEach(function (s) { closePeer(Number(s)); });
      if (closedForGood) return;
      // A dropped network comes back to the same seat.
      retries += 1;
      say("Connection lost; reconnecting…");
      setTimeout(connect, Math.min(1000 * retries, 10000));
    };
  }

  document.getElementById("chat-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("chat-text");
    if (input.value.trim()) send({ type: "chat", text: input.value.trim() });
    input.value = "";
  });
  document.getElementById("leave").addEventListener("click", function () {
    closedForGood = true; send({ type: "leave" }); stopAll(); say("You left the room.");
  });
  document.getElementById("mute-audio").addEventListener("click", function (ev) {
    if (!localStream) return;
    localStream.getAudioTracks().forEach(function (t) { t.enabled = !t.enabled; ev.target.textContent = t.enabled ? "Mute" : "Unmute"; });
  });
  document.getElementById("mute-video").addEventListener("click", function (ev) {
    if (!localStream) return;
    localStream.getVideoTracks().forEach(function (t) { t.enabled = !t.enabled; ev.target.textContent = t.enabled ? "Camera off" : "Camera on"; });
  });
  var end = document.getElementById("end-room");
  if (end) end.addEventListener("click", function () {
    if (window.confirm("End the room for everyone?")) send({ type: "end" });
  });
  var checkNow = document.getElementById("check-now");
  if (checkNow) checkNow.addEventListener("click", function () { send({ type: "check_now" }); });
  var checkForm = document.getElementById("check-form");
  if (checkForm) checkForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var chosen = checkForm.querySelector("input[name=answer]:checked");
    if (chosen) send({ type: "check_answer", check: Number(checkForm.dataset.check), answer: chosen.value });
  });
  var phoneForm = document.getElementById("phone-form");
  if (phoneForm) phoneForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    send({ type: "phone", phone: document.getElementById("callback-phone").value });
  });

  getMedia().then(connect);
})();
