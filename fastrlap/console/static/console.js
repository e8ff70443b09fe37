// The field console page: figures arrive over a websocket, control goes out as POST requests
// carrying the token in a header. No libraries: the page must work with no network but the car's.
"use strict";

const TOKEN_HEADER = "X-Fastrlap-Token";
const $ = (id) => document.getElementById(id);

// The token comes in the address's fragment (never sent to the server) and stays in this tab.
// A fragment typed into an open page does not reload it, hence the hashchange listener too.
function takeToken() {
  const m = location.hash.match(/token=([A-Za-z0-9_-]+)/);
  if (m) {
    sessionStorage.setItem("fastrlap-token", m[1]);
    history.replaceState(null, "", location.pathname);
    if (last) render(last);
  }
}
let last = null;
takeToken();
window.addEventListener("hashchange", takeToken);
const token = () => sessionStorage.getItem("fastrlap-token") || "";

let track = { path: [], checkpoints: [] };
let shownFrame = -1;

const fmt = (v, unit, digits = 2) => (v === null || v === undefined) ? "-" : `${Number(v).toFixed(digits)}${unit}`;

function setPill(el, text, cls) { el.textContent = text; el.className = "pill " + (cls || ""); }

function render(s) {
  last = s;
  const modeCls = { LEARNING: "ok", RECOVERY: "warn", TELEOP: "warn", STOPPED: "bad", ERRORED: "bad" }[s.mode];
  setPill($("mode"), s.live ? s.mode : "replay", s.live ? modeCls : "");
  $("speed").textContent = fmt(s.speed, " m/s", 1);
  $("laps").textContent = String(s.laps);
  $("last").textContent = s.lap_times.length ? fmt(s.lap_times[s.lap_times.length - 1], " s") : "-";
  $("best").textContent = fmt(s.best_lap, " s");
  $("practice").textContent = fmt(s.practice_time / 60, " min") + (s.total_time ? ` / ${fmt(s.total_time / 60, " min", 1)}` : "");
  $("reason").textContent = s.mode === "STOPPED" || s.estop ? (s.estop || s.stop_reason || "-") : "-";
  $("rate").textContent = s.live ? fmt(s.updates_per_s, "", 0) : "-";
  $("buffer").textContent = String(s.buffer);
  $("age").textContent = fmt(s.camera_age, " s");
  $("serial").textContent = s.live ? (s.link || "up") : "-";
  $("learner").textContent = s.live ? [s.learner_link || "in this process", s.learner_pace].filter(Boolean).join(" · ") : "-";
  const canControl = s.live && s.control && token() !== "";
  $("estop").disabled = !canControl;
  $("estop").classList.toggle("latched", Boolean(s.estop));
  $("estop").textContent = s.estop ? "E-STOP HELD" : "E-STOP";
  // Only the page's own stop is continued from here; the space key's is released at the terminal.
  $("continue").disabled = !canControl || s.estop_source !== "console";
  $("access").textContent = !s.live ? "replay of a finished run: read-only"
    : canControl ? (s.estop ? s.estop : "E-STOP stops the car at once and holds it; continue asks first")
    : "read-only: open the address with the token printed at start to control the car";
  if (s.live && s.frame !== shownFrame && s.frame > 0) {
    shownFrame = s.frame;
    $("camera").src = `/camera.jpg?f=${s.frame}`;
  }
  $("camera-card").hidden = !s.live;
  const list = $("events");
  list.replaceChildren(...s.events.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.textContent = `${e.t.toFixed(1)} s  ${e.event}  ${e.text}`;
    if (e.event === "estop") li.className = "estop";
    return li;
  }));
  drawChart(s);
  drawMap(s);
}

// Canvas helpers: drawing in CSS pixels on a backing store scaled to the screen.
function surface(canvas) {
  const w = canvas.clientWidth || canvas.width, h = Math.round(w * canvas.height / canvas.width);
  const dpr = window.devicePixelRatio || 1;
  if (canvas._w !== w) { canvas.style.height = h + "px"; canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); canvas._w = w; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h: canvas.height / dpr };
}

function drawChart(s) {
  const { ctx, w, h } = surface($("chart"));
  const times = s.lap_times;
  const refs = [["demo", s.demo_lap, "#4f8ef7", [6, 3]], ["oracle", s.oracle_lap, "#3fbf5f", [2, 3]]].filter((r) => r[1]);
  const values = times.concat(refs.map((r) => r[1]));
  ctx.font = "12px sans-serif";
  if (!values.length) { ctx.fillStyle = "#888"; ctx.fillText("no lap yet", 10, 20); return; }
  const lo = Math.min(...values) * 0.9, hi = Math.max(...values) * 1.05;
  const pad = { l: 40, r: 8, t: 8, b: 20 };
  const n = Math.max(times.length, 2);
  const X = (i) => pad.l + (w - pad.l - pad.r) * (i / (n - 1));
  const Y = (v) => pad.t + (h - pad.t - pad.b) * (1 - (v - lo) / (hi - lo || 1));
  ctx.strokeStyle = "#444"; ctx.fillStyle = "#aaa";
  for (const v of [lo, (lo + hi) / 2, hi]) { ctx.fillText(v.toFixed(1), 2, Y(v) + 4); }
  ctx.fillText("lap", w - 30, h - 4);
  for (const [name, v, color, dash] of refs) {
    ctx.setLineDash(dash); ctx.strokeStyle = color; ctx.beginPath(); ctx.moveTo(pad.l, Y(v)); ctx.lineTo(w - pad.r, Y(v)); ctx.stroke();
    ctx.fillStyle = color; ctx.fillText(`${name} ${v.toFixed(2)} s`, pad.l + 4, Y(v) - 3);
  }
  ctx.setLineDash([]); ctx.strokeStyle = "#f2a03d"; ctx.fillStyle = "#f2a03d"; ctx.lineWidth = 2;
  ctx.beginPath();
  times.forEach((v, i) => (i ? ctx.lineTo(X(i), Y(v)) : ctx.moveTo(X(i), Y(v))));
  ctx.stroke();
  times.forEach((v, i) => { ctx.beginPath(); ctx.arc(X(i), Y(v), 3, 0, 2 * Math.PI); ctx.fill(); });
  ctx.lineWidth = 1;
}

function drawMap(s) {
  const { ctx, w, h } = surface($("map"));
  const pts = track.path.concat(track.checkpoints, s.trail, s.car ? [[s.car[0], s.car[1]]] : []);
  if (!pts.length) return;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const k = Math.min((w - 20) / (x1 - x0 || 1), (h - 20) / (y1 - y0 || 1));
  const P = (p) => [10 + (p[0] - x0) * k + ((w - 20) - (x1 - x0) * k) / 2, h - 10 - (p[1] - y0) * k - ((h - 20) - (y1 - y0) * k) / 2];
  const line = (list, color, width) => {
    if (list.length < 2) return;
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
    list.forEach((p, i) => { const [x, y] = P(p); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
  };
  line(track.path, "#3a3a3a", 8);
  line(s.trail, "#f2a03d", 2);
  track.checkpoints.forEach((c, i) => {
    const [x, y] = P(c); ctx.fillStyle = i === 0 ? "#ffffff" : "#4f8ef7";
    ctx.beginPath(); ctx.arc(x, y, i === 0 ? 5 : 3.5, 0, 2 * Math.PI); ctx.fill();
  });
  ctx.strokeStyle = "#ff5050"; ctx.lineWidth = 2;
  for (const r of s.recoveries) {
    const [x, y] = P(r); ctx.beginPath(); ctx.moveTo(x - 4, y - 4); ctx.lineTo(x + 4, y + 4); ctx.moveTo(x + 4, y - 4); ctx.lineTo(x - 4, y + 4); ctx.stroke();
  }
  if (s.car) {
    const [x, y] = P(s.car), a = -s.car[2];
    ctx.save(); ctx.translate(x, y); ctx.rotate(a); ctx.fillStyle = "#ffe14d";
    ctx.beginPath(); ctx.moveTo(9, 0); ctx.lineTo(-6, 5); ctx.lineTo(-6, -5); ctx.closePath(); ctx.fill(); ctx.restore();
  }
  ctx.lineWidth = 1;
}

async function control(what) {
  const r = await fetch(`/api/${what}`, { method: "POST", headers: { [TOKEN_HEADER]: token() } });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    $("access").textContent = body.error || `${what} refused (${r.status})`;
  }
}

$("estop").addEventListener("click", () => control("estop"));
$("continue").addEventListener("click", () => {
  if (window.confirm("Release the E-STOP and let the car drive again?")) control("continue");
});

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => setPill($("link"), "connected", "ok");
  ws.onmessage = (m) => render(JSON.parse(m.data));
  ws.onclose = () => { setPill($("link"), "link lost", "bad"); setTimeout(connect, 1000); };
}

fetch("/api/track").then((r) => r.json()).then((t) => { track = t; if (last) render(last); }).finally(connect);
window.addEventListener("resize", () => last && render(last));
