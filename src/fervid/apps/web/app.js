// fervid web page: upload, then show faces (photo) or a playable annotated video with timelines (video).
// Its requests go to URLs relative to the page, and then to the links the API answers (which carry
// `fervid serve --root-path`): the page works under a reverse proxy's path prefix as at /.
// This tab's video job, so that a reload finds it again: in sessionStorage, which is each tab's own (one key in
// localStorage, shared by every tab, sent a reloaded tab to the video another tab had picked since).
const JOB_KEY = "fervid-video-job";
const ADVISE_AFTER_MS = 30_000;  // the server out of reach this long: say whom to ask
let current = 0;  // each file picked starts a new analysis; an older one still running stops drawing
let photoDownload = null;  // the last photo's JSON, as a blob URL: let go when the next one replaces it
let photoTable = null;  // the last photo's CSV, as a blob URL: let go as the JSON is

function problem(err) {  // "TypeError: Failed to fetch" says nothing to a person
  return err instanceof TypeError && /fetch|network/i.test(err.message)
    ? `could not reach the fervid server at ${location.host} (is \`fervid serve\` still running?)` : String(err);
}

async function errorText(response) {
  let text = response.statusText;
  // the server's words for a person (message) where its error names its options, for whoever runs it
  try { const body = await response.json(); text = body.message || body.error || JSON.stringify(body); } catch { /* not JSON */ }
  const wait = response.headers.get("Retry-After");
  return wait ? `${text} (try again in ${wait} s)` : text;
}

function bars(probabilities) {
  return EMOTIONS.map((e) => `<div class="bar"><span>${e}</span><span class="fill" style="width:${
    Math.round(probabilities[e] * 200)}px;background:${COLORS[e]}"></span><span>${percentText(probabilities[e])}</span></div>`).join("");
}

// Where each face's label goes, as annotate.layout does in Python: placed from the image's left, above its box,
// else below, else inside its top, wherever it covers the least of the labels placed before it (4 times as much
// as a face: text is hidden) and of the other faces; always inside the image. Rects are {x, y, w, h}.
function layoutLabels(boxes, sizes, width, height) {
  const overlap = (a, b) => Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) *
    Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const placed = [], labels = [];
  for (const i of boxes.map((_, i) => i).sort((a, b) => boxes[a].x - boxes[b].x || boxes[a].y - boxes[b].y)) {
    const box = boxes[i], {w, h} = sizes[i], x = Math.max(0, Math.min(box.x, width - w));
    const inside = [box.y - h, box.y + box.h, box.y].filter((y) => y >= 0 && y + h <= height).map((y) => ({x, y, w, h}));
    const candidates = inside.length ? inside : [{x, y: Math.max(0, Math.min(box.y, height - h)), w, h}];
    const hidden = (rect) => 4 * placed.reduce((sum, other) => sum + overlap(rect, other), 0) +
      boxes.reduce((sum, other, j) => sum + (j === i ? 0 : overlap(rect, other)), 0);
    labels[i] = candidates.reduce((best, rect) => (hidden(rect) < hidden(best) ? rect : best));
    placed.push(labels[i]);
  }
  return labels;
}

// The photo's boxes and labels. Labels are sized for the screen: from the face's height as shown (canvas pixels
// times the displayed scale), between 11 and 16 CSS pixels; sized to the image, a 6000 x 512 panorama's read 3 px
// and a 6000 x 4000 photo's were taller than its faces.
function drawBoxesAndLabels(canvas, faces) {
  const ctx = canvas.getContext("2d");
  const scale = canvas.clientWidth / canvas.width || 1;  // CSS pixels per canvas pixel
  ctx.lineWidth = Math.max(2, 2 / scale);
  for (const face of faces) {
    ctx.strokeStyle = COLORS[face.emotion];
    ctx.strokeRect(face.box.x, face.box.y, face.box.width, face.box.height);
  }
  const boxes = faces.map((face) => ({x: face.box.x, y: face.box.y, w: face.box.width, h: face.box.height}));
  const texts = faces.map((face, i) => `${i + 1} ${faceLabel(face.emotion, face.confidence, face.uncertain)}`);
  const fonts = boxes.map((box, i) => {
    const size = Math.min(16, Math.max(11, (box.h * scale) / 4)) / scale;
    ctx.font = `${size}px sans-serif`;
    return Math.min(size, (size * canvas.width) / (ctx.measureText(texts[i]).width + size / 2));  // fits the width
  });
  const sizes = texts.map((text, i) => {
    ctx.font = `${fonts[i]}px sans-serif`;
    return {w: ctx.measureText(text).width + fonts[i] / 2, h: fonts[i] * 1.4};
  });
  const labels = layoutLabels(boxes, sizes, canvas.width, canvas.height);
  labels.forEach((label, i) => {  // on a patch of the emotion's colour (readable on any photo), in black or white
    ctx.fillStyle = COLORS[faces[i].emotion]; ctx.fillRect(label.x, label.y, label.w, label.h);
    ctx.font = `${fonts[i]}px sans-serif`; ctx.fillStyle = ink(COLORS[faces[i].emotion]);
    ctx.fillText(texts[i], label.x + fonts[i] / 4, label.y + fonts[i] * 1.05);
  });
  canvas.dataset.labels = JSON.stringify(labels.map((label, i) => ({...label, font: fonts[i], text: texts[i]})));  // for tests
}

async function analysePhoto(file, token) {
  setStatus(`Analysing ${file.name}…`);
  const form = new FormData();
  form.append("files", file);
  // its JSON and its CSV table in one answer (?csv=true): the spreadsheet is of this analysis, not of another one
  const response = await fetch("v1/images?csv=true", {method: "POST", body: form});
  if (token !== current) return;
  if (!response.ok) {
    const text = await errorText(response);
    if (token === current) setStatus(`Error: ${text}`, true);
    return;
  }
  const {csv, ...doc} = await response.json();  // doc: what `fervid image --json` writes, the JSON download
  if (token !== current) return;
  const result = doc.files[0];
  const canvas = $("photo-canvas"), note = $("photo-note");
  note.hidden = true;
  const image = new Image();
  image.src = URL.createObjectURL(file);
  try {
    await image.decode();
    if (token !== current) return;
    $("photo").hidden = canvas.hidden = false;  // first: labels are sized to the width the page shows it at
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    canvas.getContext("2d").drawImage(image, 0, 0);
    drawBoxesAndLabels(canvas, result.faces);
    // what the picture's drawn labels say, in words (a screen reader read the canvas as the file's name alone)
    canvas.setAttribute("aria-label", `${file.name} with ${result.faces.length} face(s) outlined${
      result.faces.map((f, i) => `${i ? ";" : ":"} ${i + 1} ${faceLabelSpoken(f.emotion, f.confidence, f.uncertain)}`)
        .join("")}`);
  } catch {  // TIFF and other formats browsers do not draw: the server read it, so the results still show
    canvas.hidden = true;
    note.textContent = `This browser cannot display ${file.name}; its faces are listed below.`;
    note.hidden = false;
  } finally {
    URL.revokeObjectURL(image.src);
  }
  if (token !== current) return;
  const rows = result.faces.map((face, i) => `<tr><td>${i + 1}</td><td>${faceLabelHtml(face.emotion,
    face.confidence, face.uncertain)}</td><td>${bars(face.probabilities)}</td></tr>`);
  $("faces").querySelector("tbody").innerHTML = rows.join("") || `<tr><td colspan="3">No face found.</td></tr>`;
  for (const url of [photoDownload, photoTable]) if (url) URL.revokeObjectURL(url);
  photoDownload = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], {type: "application/json"}));
  photoTable = URL.createObjectURL(new Blob([csv], {type: "text/csv"}));
  const stem = escapeHtml(file.name.replace(/\.[^.]*$/, ""));
  // the table first, in plain words, as a video's; the JSON for programmers
  $("photo-downloads").innerHTML = `<p><a href="${photoTable}" download="${stem}.csv">Download the faces
    (spreadsheet, CSV)</a></p><p class="note">For programmers: <a href="${photoDownload}" download="${
    stem}.json">the result as JSON</a></p>`;
  $("photo").hidden = false;
  const labels = (label) => result.faces.map((f) => label(f.emotion, f.confidence, f.uncertain)).join(", ");
  const intro = `${file.name}: ${result.faces.length} face(s): `;
  if (result.faces.length) setStatus(intro + labels(faceLabel), false, escapeHtml(intro) + labels(faceLabelHtml));
  else setStatus(`${file.name}: no face found`);
}

async function analyseVideo(file, token) {
  setStatus(`Uploading ${file.name}…`);
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("v1/videos", {method: "POST", body: form});
  if (token !== current) return;
  if (!response.ok) {
    const text = await errorText(response);
    if (token === current) setStatus(`Error: ${text}`, true);
    return;
  }
  const job = {...await response.json(), name: file.name};
  remember(job);  // this browser's, even where this tab moves on to another file
  if (token !== current) return;
  sessionStorage.setItem(JOB_KEY, JSON.stringify(job));
  showRecent();
  await followJob(job, token);
}

const STATUS_WORDS = {queued: "waiting", running: "being analysed", done: "ready", failed: "failed"};

// "Your recent videos and live sessions": each of this browser's video jobs and saved live sessions the server still
// has, with a link that shows its results (in this tab; in a new one too), when the server deletes it, and a button
// that deletes a finished one now. Those the server no longer has (deleted, or expired) are dropped from the list;
// one whose server is out of reach is listed as it was until the time the server said it deletes it (it was listed
// for ever: its file's name, on a shared PC).
async function showRecent() {
  const entries = readRecent();
  const states = await Promise.all(entries.map(async (entry) => {
    try {
      const response = await fetch(entry.status_url);
      if (response.status === 404) return "gone";
      // the time it was answered, by the server's clock (its Date header): expiry is the server's, and the
      // browser's clock may be hours off (a job the server keeps left the list, or one it deleted stayed)
      return response.ok ? {...await response.json(), answered: Date.parse(response.headers.get("Date"))} : null;
    } catch {  // out of reach for now: listed as it was
      return null;
    }
  }));
  // when the server deletes each, by this browser's clock (the server's time less its clock's lead), kept for the
  // times it cannot be reached
  const expiries = {};
  entries.forEach((entry, i) => {
    const state = states[i];
    if (!state || state === "gone" || !state.expires_at) return;
    const lead = Number.isFinite(state.answered) ? state.answered - Date.now() : 0;
    expiries[entry.job_id] = Date.parse(state.expires_at) - lead;
  });
  noteExpiry(expiries);
  // (an answer without a Date header is not judged by time: the server's cleanup deletes an expired job, a 404)
  const expired = (entry, state) => state === "gone" || (state ? state.expires_at && Date.parse(state.expires_at) <= state.answered
                                                               : entry.expires <= Date.now());
  forget(entries.filter((entry, i) => expired(entry, states[i])).map((entry) => entry.job_id));
  const known = new Set(readRecent().map((entry) => entry.job_id));  // another tab's changes meanwhile kept
  const items = entries.map((entry, i) => [entry, states[i]]).filter(([entry, state]) => known.has(entry.job_id)
                                                                                     && !expired(entry, state));
  const list = $("recent-list");
  list.innerHTML = items.map(([entry, state]) => {
    // when, by the server's clock where it says (created: Unix seconds), as the time it deletes it is
    const when = state && state.created ? state.created * 1000 : entry.started;
    const said = [`${entry.live ? "saved" : "uploaded"} ${new Date(when).toLocaleString()}`];
    if (state) said.push(STATUS_WORDS[state.status] || state.status);
    const deletes = state ? state.expires_at : entry.expires;
    if (deletes) said.push(`the server deletes it on ${new Date(deletes).toLocaleString()}`);
    const button = state && FINISHED.includes(state.status) ? ` <button type="button" data-job="${entry.job_id}"
      aria-label="Delete ${escapeHtml(entry.name)} from the server">Delete from the server</button>` : "";
    return `<li><a href="#job=${entry.job_id}">${escapeHtml(entry.name)}</a> <span class="note">(${said.join(", ")})</span>${button}</li>`;
  }).join("");
  for (const [entry] of items) {
    const button = list.querySelector(`button[data-job="${entry.job_id}"]`);
    if (button) button.addEventListener("click", () => deleteJob(entry));
  }
  $("recent").hidden = !items.length;
}

const FINISHED = ["done", "failed"];  // a job the server can be asked to delete from the page (a running one it stops)
let finishedJob = null;  // the job this tab shows, once it is done or failed: its "Delete from the server" button's

function offerDelete(job) {
  finishedJob = job;
  $("delete-job").hidden = false;
}

// DELETE /v1/jobs/{id} (its status URL, which carries --root-path), once the person confirms: its upload's
// results go from the server at once, not at its expiry, and it leaves this browser's recent list
async function deleteJob(job) {
  const name = job.name || "this video";
  if (!confirm(`Delete ${name} and its results from the server now? This cannot be undone: download what you keep first.`)) return;
  let response;
  try {
    response = await fetch(job.status_url, {method: "DELETE"});
  } catch (err) {
    setStatus(`Error: could not delete ${name}: ${problem(err)}`, true);
    return;
  }
  if (!response.ok && response.status !== 404) {  // 404: gone already (another tab's, or expired)
    setStatus(`Error: could not delete ${name}: ${await errorText(response)}`, true);
    return;
  }
  forget([job.job_id]);
  if (finishedJob && finishedJob.job_id === job.job_id) {  // this tab's: its pictures and links go too
    ++current;
    sessionStorage.removeItem(JOB_KEY);
    clearResults();
  }
  setStatus(`Deleted ${name} and its results from the server.`);
  showRecent();
}

// The page opened (or its link in "Your recent videos" followed) at #job=<id>: this tab shows that job
function openLinkedJob() {
  const linked = /^#job=([0-9a-f]{32})$/.exec(location.hash);
  if (!linked) return false;
  history.replaceState(null, "", location.pathname + location.search);  // the tab keeps its job in sessionStorage
  const jobId = linked[1], entry = readRecent().find((e) => e.job_id === jobId);
  follow(entry ? {job_id: jobId, name: entry.name, status_url: entry.status_url, result_url: entry.result_url}
               : {job_id: jobId, name: null, status_url: `v1/jobs/${jobId}`, result_url: `v1/jobs/${jobId}/result`});
  $("status").scrollIntoView();
  return true;
}

function follow(job) {  // this tab shows `job` from now on, through a reload too
  const token = ++current;
  clearResults();
  sessionStorage.setItem(JOB_KEY, JSON.stringify(job));
  followJob(job, token).catch((err) => { if (token === current) setStatus(`Error: ${problem(err)}`, true); });
}

function clearResults() {
  $("photo").hidden = true; $("video").hidden = true; $("progress").hidden = true; $("job").textContent = "";
  $("delete-job").hidden = true; finishedJob = null;
  const player = $("player");
  if (player.getAttribute("src")) { player.removeAttribute("src"); player.load(); }  // a deleted job's video let go
  for (const id of ["timelines", "keyframes", "downloads"]) $(id).innerHTML = "";
}

// What a job's state says: why it waits, and how far it has got
async function followJob(job, token) {
  const progress = $("progress");
  progress.hidden = false; progress.value = 0;
  $("job").textContent = `job ${job.job_id}`;  // beside the status, not in it: a screen reader reads the status
  // the status speaks again at a new state, 10% more, or 10 s on (said: what it last said)
  let wait = 500, said = {}, lostSince = null, state = null;
  const name = () => job.name || "the video";
  while (token === current) {
    let response;
    try {
      response = await fetch(job.status_url);
    } catch {
      response = null;
    }
    if (token !== current) return;
    // no answer (the server restarts, the network dropped), or a reverse proxy's while the server restarts: the job
    // goes on there; keep asking
    if (response === null || [502, 503, 504].includes(response.status)) {
      lostSince = lostSince ?? Date.now();
      const advice = Date.now() - lostSince >= ADVISE_AFTER_MS ? " If this goes on, ask whoever runs the server." : "";
      setStatus(`Lost contact with the server; retrying… (${name()})${advice}`, true);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5000);
      continue;
    }
    wait = 500; lostSince = null;
    if (response.status === 404) {
      sessionStorage.removeItem(JOB_KEY);
      forget([job.job_id]);
      showRecent();
      progress.hidden = true;
      setStatus(`The job for ${name()} (${job.job_id}) no longer exists: it was deleted, or expired. Pick the file again to analyse it.`, true);
      return;
    }
    if (!response.ok) {
      const text = await errorText(response);
      if (token === current) { setStatus(`Error: ${text}`, true); progress.hidden = true; }
      return;
    }
    state = await response.json();
    if (token !== current) return;
    job.name = job.name || state.filename;  // a job opened by its link alone
    progress.value = state.progress || 0;
    const tenths = Math.floor((state.progress || 0) * 10), now = Date.now();
    const phase = `${state.status} ${state.waiting_for}`;  // waiting (for how many), running, ...
    if (phase !== said.phase || tenths > said.tenths || now - said.time >= 10_000) {
      setStatus(`Analysing ${name()}: ${progressText(state)}`);
      said = {phase, tenths, time: now};
    }
    if (state.status === "done") break;
    if (state.status === "failed") {  // (the tab keeps it: a reload says so again)
      progress.hidden = true;
      setStatus(`Error: ${state.error}`, true);
      offerDelete(job);
      showRecent();
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (token !== current) return;
  const result = await (await fetch(job.result_url)).json();
  if (token !== current) return;
  const frames = await (await fetch(result.links.frames_json)).json();
  if (token !== current) return;
  progress.hidden = true;  // (the tab keeps the job: a reload shows its results again)
  showVideo(result, frames);
  offerDelete(job);
  $("expires").textContent = state.expires_at ? `The server deletes these results on ${
    new Date(state.expires_at).toLocaleString()}: download what you keep.` : "";
  showRecent();
  // what the file itself limited: a video cut short, or too dark to read as it was (fervid video prints both)
  const notes = [result.error,
                 result.frames_brightened && `dark in ${result.frames_brightened} of ${result.frames_analysed} ` +
                   "analysed frames: faces were found and read on its levels stretched"].filter(Boolean);
  setStatus((result.tracks.length ? `${name()}: ${result.tracks.length} person(s) tracked: ` +
             result.tracks.map((t) => `#${t.track} ${dominantText(t)}`).join("; ")
                                  : `${name()}: no face found`) + notes.map((note) => ` (note: ${note})`).join(""));
}

function seekable(element, seek) {  // mouse and keyboard alike
  element.tabIndex = 0;
  element.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); seek(); }
  });
}

// A timeline is a slider over the video's time: Enter goes to the person's first appearance, the arrow keys 1 s
// back or on, Page Up/Down a tenth of the video, Home/End its ends; a screen reader hears the time it is at.
function timelineSlider(canvas, player, start, duration, summary) {
  const show = () => {
    if (!canvas.isConnected) { player.removeEventListener("timeupdate", show); return; }  // an earlier video's
    canvas.setAttribute("aria-valuenow", player.currentTime.toFixed(1));
    canvas.setAttribute("aria-valuetext", `${player.currentTime.toFixed(1)} s`);
  };
  const moves = {Enter: () => start, ArrowLeft: (t) => t - 1, ArrowDown: (t) => t - 1, ArrowRight: (t) => t + 1,
                 ArrowUp: (t) => t + 1, PageDown: (t) => t - duration / 10, PageUp: (t) => t + duration / 10,
                 Home: () => 0, End: () => duration};
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "slider");
  canvas.setAttribute("aria-label", `${summary}: seek the video`);
  canvas.setAttribute("aria-valuemin", "0");
  canvas.setAttribute("aria-valuemax", duration.toFixed(1));
  show();
  player.addEventListener("timeupdate", show);
  canvas.addEventListener("keydown", (event) => {
    if (!(event.key in moves)) return;
    event.preventDefault();
    player.currentTime = Math.min(Math.max(0, moves[event.key](player.currentTime)), player.duration || duration);
    show();
  });
}

const EDGE = "#4d4d4d";  // under a light emotion colour's line (under 3:1 on white), as in fervid's timeline PNG
const edged = (emotion) => contrast(COLORS[emotion], "#ffffff") < 3;

function lineSample(emotion) {  // the legend's: the emotion's colour, dashes and edge, as its timeline line
  const line = (colour, width) => `<line x1="0" y1="5" x2="26" y2="5" stroke="${colour}" stroke-width="${width}"
    stroke-dasharray="${DASHES[emotion].map((d) => d * 2).join(" ") || "none"}"/>`;
  return `<svg width="26" height="10" aria-hidden="true">${edged(emotion) ? line(EDGE, 3.5) : ""}${
    line(COLORS[emotion], 2)}</svg>`;
}

function showVideo(result, frames) {
  $("video").hidden = false;  // first: the timelines are drawn at the width the page gives them
  const player = $("player");
  player.src = result.links.annotated_video || "";
  player.hidden = !result.links.annotated_video;
  const timelines = $("timelines");
  timelines.innerHTML = "";
  for (const track of result.tracks) {
    const series = frames.tracks[String(track.track)];
    const duration = result.duration || series.time[series.time.length - 1];
    const box = document.createElement("div");
    box.className = "timeline";
    const summary = `Person #${track.track}: ${track.start.toFixed(1)}–${track.end.toFixed(1)} s, ${dominantText(track)}`;
    const shares = `share of the time: ${Object.entries(track.emotion_share).filter(([, share]) => share > 0)
      .map(([e, share]) => `${e} ${percentText(share)}`).join(", ")}`;
    box.innerHTML = `<h3>${summary}</h3><p class="note" id="shares-${track.track}">${shares}</p>
      <div class="legend">${EMOTIONS.map((e) => `<span>${lineSample(e)}${e}</span>`).join("")}</div>`;
    const canvas = document.createElement("canvas");
    box.appendChild(canvas);
    timelines.appendChild(box);
    drawTimeline(canvas, series, duration);
    if (player.hidden) {  // nothing to seek: a picture of the timeline
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${summary}; ${shares}`);
      continue;
    }
    canvas.setAttribute("aria-describedby", `shares-${track.track}`);
    timelineSlider(canvas, player, track.start, duration, summary);
    canvas.addEventListener("click", (event) => {  // clicking the timeline seeks the video
      const rect = canvas.getBoundingClientRect();
      const along = (event.clientX - rect.left - TIMELINE_LEFT) / (rect.width - TIMELINE_LEFT);  // right of the scale
      player.currentTime = Math.min(Math.max(0, along), 1) * (player.duration || duration);
    });
  }
  const keyframes = $("keyframes");
  keyframes.innerHTML = "";
  for (const track of result.tracks) {
    const series = frames.tracks[String(track.track)];
    for (const ep of track.episodes) {
      if (!ep.key_frame_url) continue;
      const fig = document.createElement("figure");
      const time = ep.key_frame_time.toFixed(1);
      // labelled as its picture's caption is: the key frame's row's confidence and uncertain (its time is that row's)
      const row = series.time.indexOf(ep.key_frame_time);
      const label = faceLabelHtml(ep.emotion, ep.peak_confidence ?? null, row >= 0 && series.uncertain[row]);
      fig.innerHTML = `<img src="${ep.key_frame_url}" alt="person #${track.track}, ${ep.emotion}, at ${time} s">` +
        `<figcaption>#${track.track} ${label} from ${ep.start.toFixed(1)} s (this frame: ${time} s)</figcaption>`;
      if (!player.hidden) {  // a button that seeks the video there (Enter or Space)
        fig.setAttribute("role", "button");
        fig.setAttribute("aria-label", `Seek the video to ${time} s: person #${track.track}, ${ep.emotion}`);
        fig.addEventListener("click", () => { player.currentTime = ep.key_frame_time; });
        seekable(fig, () => { player.currentTime = ep.key_frame_time; player.focus(); });
      }
      keyframes.appendChild(fig);
    }
  }
  $("keyframes-heading").hidden = $("keyframes-note").hidden = !keyframes.children.length;
  // what a person opens first (one row per emotion episode, in a spreadsheet), in plain words; the files read by
  // programs last, named for them
  const links = result.links, anchor = ([label, url]) => `<a href="${url}" download>${label}</a>`;
  const everyone = [["emotion episodes (spreadsheet)", links.episodes_csv], ["every frame (spreadsheet)", links.frames_csv],
    ["the video with faces marked (MP4)", links.annotated_video],
    ...result.tracks.map((t) => [`timeline of person #${t.track} (picture)`, t.timeline_url])].filter(([, url]) => url);
  const programmers = [["JSON", links.tracks_json], ["Parquet", links.frames_parquet]].filter(([, url]) => url);
  $("downloads").innerHTML = `<p>${everyone.map(anchor).join(" · ")}</p>` +
    (programmers.length ? `<p class="note">For programmers: ${programmers.map(anchor).join(" · ")}</p>` : "");
}

// Tick spacings (s) a time axis reads well at; labels in seconds, or m:ss from a minute
const TIMELINE_LEFT = 40;  // px left of a timeline for its 0-100% scale; its time axis starts there
const TICKS = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
const clock = (t, step) => (step < 60 ? `${+t.toFixed(1)} s` : `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}`);

function drawTimeline(canvas, series, duration) {
  // the curves (probability 0-1) over a 0-100% scale at the left, a band of the winning emotion, and a time
  // axis under it
  const width = canvas.clientWidth || 900, height = 190, bandTop = height - 36, bandHeight = 14;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  const x = (t) => TIMELINE_LEFT + (t / Math.max(duration, 1e-6)) * (width - TIMELINE_LEFT);
  const y = (p) => bandTop - 6 - p * (bandTop - 14);
  const levels = [0, 0.25, 0.5, 0.75, 1];
  ctx.font = "11px sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const p of levels) {  // the scale: how sure the model is; a faint line across at each mark
    ctx.fillStyle = "#e4e4e4"; ctx.fillRect(TIMELINE_LEFT, Math.round(y(p)), width - TIMELINE_LEFT, 1);
    ctx.fillStyle = "#222"; ctx.fillRect(TIMELINE_LEFT - 4, Math.round(y(p)), 4, 1);
    ctx.fillText(percentText(p), TIMELINE_LEFT - 6, y(p));
  }
  ctx.fillRect(TIMELINE_LEFT - 1, y(1), 1, y(0) - y(1));
  canvas.dataset.scale = JSON.stringify(levels.map(percentText));  // what the scale says, for tests
  for (const e of EMOTIONS) {  // colour is not the only cue: each emotion's dashes, and light ones an edge
    ctx.beginPath();
    series.time.forEach((t, i) => (i ? ctx.lineTo(x(t), y(series[e][i])) : ctx.moveTo(x(t), y(series[e][i]))));
    ctx.setLineDash(DASHES[e].map((d) => d * 2));
    if (edged(e)) { ctx.strokeStyle = EDGE; ctx.lineWidth = 3.5; ctx.stroke(); }
    ctx.strokeStyle = COLORS[e]; ctx.lineWidth = 2; ctx.stroke();
  }
  ctx.setLineDash([]);
  const end = (i) => (i + 1 < series.time.length ? series.time[i + 1] : series.time[i] + 0.04);
  series.time.forEach((t, i) => {
    ctx.fillStyle = COLORS[series.emotion[i]];
    ctx.fillRect(x(t), bandTop, Math.max(1, x(end(i)) - x(t)), bandHeight);
  });
  ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  for (let i = 0, first = 0; i < series.time.length; i++) {  // each run of a label wide enough for its name says it
    if (i + 1 < series.time.length && series.emotion[i + 1] === series.emotion[first]) continue;
    const name = series.emotion[first], left = x(series.time[first]), right = x(end(i));
    if (right - left >= ctx.measureText(name).width + 8) {
      ctx.fillStyle = ink(COLORS[name]); ctx.fillText(name, (left + right) / 2, bandTop + bandHeight / 2 + 1);
    }
    first = i + 1;
  }
  const step = TICKS.find((s) => duration / s <= 8) || TICKS[TICKS.length - 1];
  const ticks = [];
  ctx.fillStyle = "#222"; ctx.textBaseline = "alphabetic";
  for (let t = 0; t <= duration + 1e-6; t += step) {
    ticks.push(clock(t, step));
    ctx.fillRect(Math.min(x(t), width - 1), bandTop + bandHeight, 1, 4);
    ctx.fillText(ticks[ticks.length - 1], Math.min(Math.max(x(t), TIMELINE_LEFT + 16), width - 16), height - 5);
  }
  canvas.dataset.ticks = JSON.stringify(ticks);  // what the axis says, for tests
}

function handle(files) {
  const file = files && files[0];
  if (!file) return;
  const token = ++current;
  clearResults();
  sessionStorage.removeItem(JOB_KEY);  // a new file: the tab no longer shows the last one
  const isVideo = file.type.startsWith("video/") || isVideoName(file.name);
  const more = files.length > 1 ? ` (${files.length - 1} more file(s) picked: this page reads one file at a time; pick the next one when it is done)` : "";
  (isVideo ? analyseVideo(file, token) : analysePhoto(file, token))
    .then(() => {
      if (!more || token !== current) return;
      const status = $("status");
      setStatus(status.textContent + more, status.classList.contains("error"), status.dataset.said + escapeHtml(more));
    })
    .catch((err) => { if (token === current) setStatus(`Error: ${problem(err)}`, true); });
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", (e) => { if (!drop.contains(e.relatedTarget)) drop.classList.remove("over"); });
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); handle(e.dataTransfer.files); });
$("file-input").addEventListener("change", (e) => { handle(e.target.files); e.target.value = ""; });  // same file again: a change

const shared = localStorage.getItem(JOB_KEY);  // an earlier page's job of every tab: into the recent list
if (shared) {
  try { remember(JSON.parse(shared)); } catch { /* not JSON */ }
  localStorage.removeItem(JOB_KEY);
}
$("delete-job").addEventListener("click", () => { if (finishedJob) deleteJob(finishedJob); });
window.addEventListener("hashchange", openLinkedJob);
if (!openLinkedJob()) {
  const mine = sessionStorage.getItem(JOB_KEY);
  if (mine) follow(JSON.parse(mine));  // reloaded: this tab's video again, analysed meanwhile or not
}
showRecent();
