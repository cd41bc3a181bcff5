// fervid live page: camera frames over a WebSocket to /v1/live (protocol: fervid/apps/live.py), results drawn
// over the camera image as they come back. One frame in flight at a time: the page never queues behind.
const MAX_WIDTH = 640;        // frames are downscaled to this width before they are sent
const TIMELINE_SECONDS = 30;


// what the page has shown, for people and for tests
const live = window.fervidLive = {results: 0, faces: [], tracks: {}, rtts: [], saved: null, error: null};
let socket = null, stream = null, seq = 0, inFlight = null, sentAt = {}, resultTimes = [];
// a frame is sent once: a result answered faster than the camera's rate sent the same picture again (the fps
// shown and the saved session's rate were inflated; a third of a 2-core server's work was repeats)
let newFrame = true, waitingForFrame = false, session = 0;
const grab = document.createElement("canvas");


$("legend").innerHTML = EMOTIONS.map((e) => `<span><i style="background:${COLORS[e]}"></i>${e}</span>`).join("");

function reset() {  // a new session starts from nothing: a frame left unanswered by the last one blocked every send
  session += 1;
  inFlight = null; sentAt = {}; resultTimes = []; newFrame = true; waitingForFrame = false;
  Object.assign(live, {results: 0, faces: [], tracks: {}, rtts: [], saved: null, error: null});
  $("timelines").innerHTML = ""; $("faces").innerHTML = ""; $("saved").innerHTML = "";
  announced = {};  // a new session's track #1 is a new person
  clearStage();
}

function clearStage() {  // nothing of a stopped session stays drawn over the black video
  const overlay = $("overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  overlay.dataset.boxes = "[]";
  overlay.setAttribute("aria-label", "The camera picture: no face marked");
  for (const id of ["fps", "rtt", "rtt95"]) $(id).textContent = "-";
  $("dark").hidden = true;  // of the stopped session's picture
}

function liveSocketUrl() {  // next to this page: under a reverse proxy's path prefix too (/fervid/v1/live)
  const url = new URL("v1/live", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function enable(id) {  // a focused button that is disabled drops the focus to <body>: it goes to this one
  $(id).disabled = false;
  if (document.activeElement === document.body || !document.activeElement) $(id).focus();
}

async function start() {
  $("start").disabled = true;
  reset();
  if (!navigator.mediaDevices) {  // browsers give cameras to secure pages only
    setStatus(`No camera: this page must be opened as http://localhost:${location.port || 80}${location.pathname} on the machine ` +
              "that serves it, or over https (browsers allow a camera nowhere else)", true);
    enable("start");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  } catch (err) {
    setStatus(`No camera: ${err.message}`, true);
    enable("start");
    return;
  }
  $("camera").srcObject = stream;
  await $("camera").play();
  watchFrames($("camera"));
  // each handler acts for its own socket only: the last session's, still saving when Start was pressed again,
  // closed the new camera and wrote its "saved" links into the new session
  const ws = socket = new WebSocket(liveSocketUrl());
  ws.startedAt = new Date();  // names the session if it is saved
  ws.binaryType = "arraybuffer";
  ws.onmessage = (event) => handle(JSON.parse(event.data), ws);
  ws.onclose = (event) => {
    if (ws !== socket) return;
    if (event.code !== 1000 && !live.error) {
      live.error = event.reason || `connection closed (${event.code})`;
      setStatus(`Stopped: ${live.error}`, true);
    }
    finishCamera();
  };
  enable("stop");
  setStatus("Connecting…");
}

function handle(message, ws) {
  if (ws !== socket && message.type !== "saved") return;  // an earlier session's; its "saved" below says so
  if (message.type === "ready") {
    $("window").textContent = message.window;
    $("delay").textContent = message.labels_delay_seconds.toFixed(1);
    $("setup").textContent = `${message.model} with ${message.detector}, ${message.method} over ${message.window} s`;
    setStatus("Live: reading the faces your camera shows.");
    sendFrame();
  } else if (message.type === "result") {
    if (!stream) return;  // answered after Stop: the stage stays cleared
    received(message);
    sendFrame();
  } else if (message.type === "saved") {
    rememberSession(message, ws.startedAt);
    if (ws !== socket) {  // the session before this one: its links, without touching this one's status
      $("saved").innerHTML = `<p>The previous session was saved as job <code>${message.job_id}</code>:
        <a href="${message.result_url}">result</a></p>`;
      return;
    }
    live.saved = message;
    $("saved").innerHTML = `<p>Session saved as job <code>${message.job_id}</code> (${message.frames} frames,
      ${message.tracks} person(s)): <a id="download-csv" href="${message.links.frames_csv}" download>every frame
      (spreadsheet)</a>; for programmers: <a href="${message.links.frames_parquet}" download>Parquet</a> ·
      <a href="${message.links.tracks_json}">JSON</a> · <a href="${message.result_url}">the result as JSON</a>.
      The server deletes it on ${new Date(message.expires_at).toLocaleString()}: download what you keep, or
      <a href="./#job=${message.job_id}">see its timelines on the main page</a>, which lists it under your recent
      videos and live sessions.</p>`;
    setStatus("Stopped; the session is saved.");
  } else if (message.type === "stopped") {
    if (!/nothing is saved/.test($("status").textContent)) setStatus("Stopped.");
  } else if (message.type === "error") {
    live.error = message.error;
    setStatus(`Error: ${message.error}`, true);
  }
}

// A saved session joins the main page's "Your recent videos and live sessions", named by when it ran (every
// session's job is a "live session" to the server): its link shows its timelines and downloads there
function rememberSession(saved, startedAt) {
  const jobs = saved.result_url.replace(/\/result$/, "");
  const name = `live camera, ${startedAt.toLocaleString()} to ${new Date().toLocaleTimeString()} (${
    saved.tracks} person(s))`;
  remember({job_id: saved.job_id, name, status_url: jobs, result_url: saved.result_url}, true);
}

function watchFrames(video) {
  if (!video.requestVideoFrameCallback) return;  // older browsers: every result takes the current picture
  const mine = session;  // a stopped session's watcher ends at its next call, not one more per restart
  const tick = () => {
    if (mine !== session) return;
    newFrame = true;
    if (waitingForFrame) { waitingForFrame = false; sendFrame(); }
    if (stream) video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
}

function sendFrame() {
  if (!socket || socket.readyState !== WebSocket.OPEN || inFlight !== null) return;
  const video = $("camera");
  if (!video.videoWidth) { setTimeout(sendFrame, 50); return; }
  if (video.requestVideoFrameCallback && !newFrame) { waitingForFrame = true; return; }
  newFrame = false;
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
  $("dark").hidden = !result.dark;
  for (const face of result.faces) {
    const track = live.tracks[face.track] = live.tracks[face.track] || [];
    track.push({time: result.time, emotion: face.emotion, confidence: face.confidence});
    while (track.length && track[0].time < result.time - TIMELINE_SECONDS) track.shift();
  }
  drawOverlay(result);
  drawFaces(result.faces);
  drawTimelines(result.time);
  announce(result.faces, now);
}

// Opt-in ("announce" box): a polite live region says a person's new label, at most every 2 s per person (a
// label flickering between two would be read out without end)
let announced = {};
$("announce").onchange = () => { $("changes").hidden = !$("announce").checked; announced = {}; };

function announce(faces, now) {
  if (!$("announce").checked) return;
  const changes = faces.filter((face) => {
    const last = announced[face.track];
    return !last || last.emotion !== face.emotion && now - last.time >= 2000;
  });
  for (const face of changes) announced[face.track] = {emotion: face.emotion, time: now};
  if (changes.length) $("changes").textContent = changes.map((face) => `#${face.track} ${face.emotion}`).join(", ");
}

function drawOverlay(result) {
  const video = $("camera"), overlay = $("overlay");
  overlay.width = video.clientWidth; overlay.height = video.clientHeight;
  const sx = overlay.width / result.width, sy = overlay.height / result.height;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = 3; ctx.font = "16px sans-serif";
  const drawn = [];
  // the drawn labels in words, for a screen reader (the canvas was silent); an uncertain label's mark: "uncertain"
  overlay.setAttribute("aria-label", result.faces.length ? `The camera picture, faces marked: ${result.faces.map(
    (face) => `#${face.track} ${faceLabelSpoken(face.emotion, face.confidence, face.uncertain)}`).join("; ")}`
                                                         : "The camera picture: no face found");
  for (const face of result.faces) {
    const [x, y, w, h] = [face.x * sx, face.y * sy, face.width * sx, face.height * sy];
    ctx.strokeStyle = ctx.fillStyle = COLORS[face.emotion];
    ctx.strokeRect(x, y, w, h);
    const label = `#${face.track} ${faceLabel(face.emotion, face.confidence, face.uncertain)}`;
    // above the box, or inside its top where there is no room above; never past the right edge
    const labelWidth = ctx.measureText(label).width + 8;
    const lx = Math.max(0, Math.min(x, overlay.width - labelWidth)), ly = y >= 22 ? y - 22 : Math.max(0, y);
    ctx.fillRect(lx, ly, labelWidth, 22);
    ctx.fillStyle = ink(COLORS[face.emotion]); ctx.fillText(label, lx + 4, ly + 16);
    drawn.push({track: face.track, emotion: face.emotion, box: [x, y, w, h].map(Math.round)});
  }
  overlay.dataset.boxes = JSON.stringify(drawn);
}

function drawFaces(faces) {
  $("faces").innerHTML = faces.map((face) => `<div class="face" data-track="${face.track}"
      data-emotion="${face.emotion}"><b>#${face.track} ${faceLabelHtml(face.emotion, face.confidence,
        face.uncertain)}</b>
      ${EMOTIONS.map((e) => `<div class="bar"><span>${e}</span><span class="fill" style="width:${
        Math.round(face[e] * 150)}px;background:${COLORS[e]}"></span><span>${percentText(face[e])}</span>
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
      canvas.setAttribute("role", "img");
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
    const shares = EMOTIONS.map((e) => [e, points.filter((p) => p.emotion === e).length / points.length])
      .filter(([, share]) => share > 0).sort((a, b) => b[1] - a[1]);
    canvas.setAttribute("aria-label", `track ${track}, last ${TIMELINE_SECONDS} s: ${
      shares.map(([e, share]) => `${e} ${percentText(share)}`).join(", ")}`);
  }
}

function stop() {
  $("stop").disabled = true;
  if (socket && socket.readyState === WebSocket.OPEN) {
    const save = $("save").checked && live.results > 0;  // an empty session is not a job
    socket.send(JSON.stringify({type: "stop", save}));
    setStatus(save ? "Saving the session…" : $("save").checked ? "Stopped; nothing was analysed, so nothing is saved."
                                                                 : "Stopping…");
  }
  finishCamera();
}

function finishCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  inFlight = null;
  clearStage();
  $("stop").disabled = true;
  enable("start");
}

$("start").onclick = start;
$("stop").onclick = stop;
