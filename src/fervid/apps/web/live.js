// fervid live page: camera frames over a WebSocket to /v1/live (protocol: fervid/apps/live.py), results drawn
// over the camera image as they come back. One frame in flight at a time: the page never queues behind.
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const COLORS = {angry: "#dc2828", disgust: "#3c8c3c", fear: "#963c96", happy: "#fac800", sad: "#1e78c8",
                surprise: "#ff9600", neutral: "#aaaaaa"};
const MAX_WIDTH = 640;        // frames are downscaled to this width before they are sent
const TIMELINE_SECONDS = 30;
const $ = (id) => document.getElementById(id);

// what the page has shown, for people and for tests
const live = window.fervidLive = {results: 0, faces: [], tracks: {}, rtts: [], saved: null, error: null};
let socket = null, stream = null, seq = 0, inFlight = null, sentAt = {}, resultTimes = [];
const grab = document.createElement("canvas");

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

$("legend").innerHTML = EMOTIONS.map((e) => `<span><i style="background:${COLORS[e]}"></i>${e}</span>`).join("");

async function start() {
  $("start").disabled = true;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  } catch (err) {
    setStatus(`No camera: ${err.message}`, true);
    $("start").disabled = false;
    return;
  }
  $("camera").srcObject = stream;
  await $("camera").play();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/v1/live`);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => handle(JSON.parse(event.data));
  socket.onclose = (event) => {
    if (event.code !== 1000 && !live.error) {
      live.error = event.reason || `connection closed (${event.code})`;
      setStatus(`Stopped: ${live.error}`, true);
    }
    finishCamera();
  };
  $("stop").disabled = false;
  setStatus("Connecting…");
}

function handle(message) {
  if (message.type === "ready") {
    $("window").textContent = message.window;
    $("delay").textContent = message.delay_seconds.toFixed(1);
    setStatus(`Live: ${message.model} with ${message.detector}, ${message.method} over ${message.window} s.`);
    sendFrame();
  } else if (message.type === "result") {
    received(message);
    sendFrame();
  } else if (message.type === "saved") {
    live.saved = message;
    $("saved").innerHTML = `<p>Session saved as job <code>${message.job_id}</code> (${message.frames} frames,
      ${message.tracks} track(s)): <a id="download-csv" href="${message.links.frames_csv}" download>per-frame
      table (CSV)</a> · <a href="${message.links.frames_parquet}" download>Parquet</a> ·
      <a href="${message.links.tracks_json}">tracks JSON</a> · <a href="${message.result_url}">result</a></p>`;
    setStatus("Stopped; the session is saved.");
  } else if (message.type === "stopped") {
    setStatus("Stopped.");
  } else if (message.type === "error") {
    live.error = message.error;
    setStatus(`Error: ${message.error}`, true);
  }
}

function sendFrame() {
  if (!socket || socket.readyState !== WebSocket.OPEN || inFlight !== null) return;
  const video = $("camera");
  if (!video.videoWidth) { setTimeout(sendFrame, 50); return; }
  const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  const id = inFlight = ++seq;
  sentAt[id] = performance.now();  // the round trip counts the encoding too: from frame grabbed to result drawn
  grab.toBlob(async (blob) => {
    const body = new Uint8Array(4 + blob.size);
    new DataView(body.buffer).setUint32(0, id, true);
    body.set(new Uint8Array(await blob.arrayBuffer()), 4);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(body);
  }, "image/jpeg", 0.8);
}

function received(result) {
  const now = performance.now();
  if (sentAt[result.seq] !== undefined) {
    live.rtts.push(now - sentAt[result.seq]);
    delete sentAt[result.seq];
    if (live.rtts.length > 300) live.rtts.shift();
  }
  if (result.seq === inFlight) inFlight = null;
  live.results += 1;
  live.faces = result.faces;
  resultTimes.push(now);
  resultTimes = resultTimes.filter((t) => now - t < 2000);
  const sorted = [...live.rtts].sort((a, b) => a - b);
  $("fps").textContent = (resultTimes.length / 2).toFixed(1);
  $("rtt").textContent = sorted.length ? sorted[Math.floor(sorted.length / 2)].toFixed(0) : "-";
  $("rtt95").textContent = sorted.length ? sorted[Math.floor(sorted.length * 0.95)].toFixed(0) : "-";
  $("dropped").textContent = result.dropped;
  for (const face of result.faces) {
    const track = live.tracks[face.track] = live.tracks[face.track] || [];
    track.push({time: result.time, emotion: face.emotion, confidence: face.confidence});
    while (track.length && track[0].time < result.time - TIMELINE_SECONDS) track.shift();
  }
  drawOverlay(result);
  drawFaces(result.faces);
  drawTimelines(result.time);
}

function drawOverlay(result) {
  const video = $("camera"), overlay = $("overlay");
  overlay.width = video.clientWidth; overlay.height = video.clientHeight;
  const sx = overlay.width / result.width, sy = overlay.height / result.height;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = 3; ctx.font = "16px sans-serif";
  const drawn = [];
  for (const face of result.faces) {
    const [x, y, w, h] = [face.x * sx, face.y * sy, face.width * sx, face.height * sy];
    ctx.strokeStyle = ctx.fillStyle = COLORS[face.emotion];
    ctx.strokeRect(x, y, w, h);
    const label = `#${face.track} ${face.emotion} ${Math.round(face.confidence * 100)}%${face.uncertain ? "?" : ""}`;
    ctx.fillRect(x, y - 22, ctx.measureText(label).width + 8, 22);
    ctx.fillStyle = "#000"; ctx.fillText(label, x + 4, y - 6);
    drawn.push({track: face.track, emotion: face.emotion, box: [x, y, w, h].map(Math.round)});
  }
  overlay.dataset.boxes = JSON.stringify(drawn);
}

function drawFaces(faces) {
  $("faces").innerHTML = faces.map((face) => `<div class="face" data-track="${face.track}"
      data-emotion="${face.emotion}"><b>#${face.track} ${face.emotion} ${Math.round(face.confidence * 100)}%</b>
      ${EMOTIONS.map((e) => `<div class="bar"><span>${e}</span><span class="fill" style="width:${
        Math.round(face[e] * 150)}px;background:${COLORS[e]}"></span><span>${Math.round(face[e] * 100)}%</span>
      </div>`).join("")}</div>`).join("");
}

function drawTimelines(now) {
  const box = $("timelines");
  for (const [track, points] of Object.entries(live.tracks)) {
    let canvas = box.querySelector(`canvas[data-track="${track}"]`);
    if (!canvas) {
      const row = document.createElement("div");
      row.className = "timeline";
      row.innerHTML = `<span>track ${track}</span>`;
      canvas = document.createElement("canvas");
      canvas.dataset.track = track;
      canvas.width = 900; canvas.height = 40;
      row.appendChild(canvas);
      box.appendChild(row);
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const x = (t) => canvas.width * (1 - (now - t) / TIMELINE_SECONDS);
    points.forEach((p, i) => {
      const next = i + 1 < points.length ? points[i + 1].time : now;
      ctx.fillStyle = COLORS[p.emotion];
      ctx.fillRect(x(p.time), canvas.height * (1 - p.confidence), Math.max(1, x(next) - x(p.time)),
                   canvas.height * p.confidence);
    });
    canvas.dataset.points = points.length;
  }
}

function stop() {
  $("stop").disabled = true;
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({type: "stop", save: $("save").checked}));
    setStatus($("save").checked ? "Saving the session…" : "Stopping…");
  }
  finishCamera();
}

function finishCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("start").disabled = false;
  $("stop").disabled = true;
}

$("start").onclick = start;
$("stop").onclick = stop;
