// fervid web page: upload, then show faces (photo) or a playable annotated video with timelines (video).
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const COLORS = {angry: "#dc2828", disgust: "#3c8c3c", fear: "#963c96", happy: "#fac800", sad: "#1e78c8",
                surprise: "#ff9600", neutral: "#aaaaaa"};
const $ = (id) => document.getElementById(id);

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function errorText(response) {
  try { const body = await response.json(); return body.error || JSON.stringify(body); }
  catch { return response.statusText; }
}

function bars(probabilities) {
  return EMOTIONS.map((e) => `<div class="bar"><span>${e}</span><span class="fill" style="width:${
    Math.round(probabilities[e] * 200)}px;background:${COLORS[e]}"></span><span>${(probabilities[e] * 100).toFixed(0)}%</span></div>`).join("");
}

async function analysePhoto(file) {
  setStatus(`Analysing ${file.name}…`);
  const form = new FormData();
  form.append("files", file);
  const response = await fetch("/v1/images", {method: "POST", body: form});
  if (!response.ok) { setStatus(`Error: ${await errorText(response)}`, true); return; }
  const result = (await response.json()).files[0];
  const image = new Image();
  image.src = URL.createObjectURL(file);
  await image.decode();
  const canvas = $("photo-canvas");
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const unit = Math.max(1, Math.min(canvas.width, canvas.height) / 400);
  ctx.lineWidth = 2 * unit; ctx.font = `${14 * unit}px sans-serif`;
  const rows = [];
  result.faces.forEach((face, i) => {
    const b = face.box;
    ctx.strokeStyle = COLORS[face.emotion]; ctx.fillStyle = COLORS[face.emotion];
    ctx.strokeRect(b.x, b.y, b.width, b.height);
    ctx.fillText(`${i + 1} ${face.emotion}`, b.x, Math.max(14 * unit, b.y - 4));
    rows.push(`<tr><td>${i + 1}</td><td>${face.emotion} ${(face.confidence * 100).toFixed(0)}%${face.uncertain ? " (uncertain)" : ""}</td><td>${bars(face.probabilities)}</td></tr>`);
  });
  $("faces").querySelector("tbody").innerHTML = rows.join("") || `<tr><td colspan="3">No face found.</td></tr>`;
  $("photo").hidden = false;
  setStatus(`${file.name}: ${result.faces.length} face(s): ${result.faces.map((f) => f.emotion).join(", ")}`);
}

async function analyseVideo(file) {
  setStatus(`Uploading ${file.name}…`);
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("/v1/videos", {method: "POST", body: form});
  if (!response.ok) { setStatus(`Error: ${await errorText(response)}`, true); return; }
  const job = await response.json();
  const progress = $("progress");
  progress.hidden = false; progress.value = 0;
  while (true) {
    const state = await (await fetch(job.status_url)).json();
    progress.value = state.progress || 0;
    setStatus(`Analysing ${file.name}: ${state.status} ${Math.round((state.progress || 0) * 100)}%`);
    if (state.status === "done") break;
    if (state.status === "failed") { setStatus(`Error: ${state.error}`, true); return; }
    await new Promise((r) => setTimeout(r, 500));
  }
  const result = await (await fetch(job.result_url)).json();
  const frames = await (await fetch(result.links.frames_json)).json();
  showVideo(result, frames);
  progress.hidden = true;
  setStatus(`${file.name}: ${result.tracks.length} person(s) tracked: ` +
            result.tracks.map((t) => `#${t.track} mostly ${t.dominant_emotion}`).join(", "));
}

function showVideo(result, frames) {
  const player = $("player");
  player.src = result.links.annotated_video;
  const timelines = $("timelines");
  timelines.innerHTML = "";
  for (const track of result.tracks) {
    const series = frames.tracks[String(track.track)];
    const box = document.createElement("div");
    box.className = "timeline";
    box.innerHTML = `<h3>Person #${track.track}: ${track.start.toFixed(1)}–${track.end.toFixed(1)} s, mostly ${track.dominant_emotion}</h3>
      <div class="legend">${EMOTIONS.map((e) => `<span><i style="background:${COLORS[e]}"></i>${e}</span>`).join("")}</div>`;
    const canvas = document.createElement("canvas");
    canvas.dataset.track = track.track;
    box.appendChild(canvas);
    timelines.appendChild(box);
    drawTimeline(canvas, series, result.duration || series.time[series.time.length - 1]);
    canvas.addEventListener("click", (event) => {  // clicking the timeline seeks the video
      const rect = canvas.getBoundingClientRect();
      const duration = player.duration || result.duration;
      player.currentTime = ((event.clientX - rect.left) / rect.width) * duration;
    });
  }
  const keyframes = $("keyframes");
  keyframes.innerHTML = "";
  for (const track of result.tracks) {
    for (const ep of track.episodes) {
      if (!ep.key_frame_url) continue;
      const fig = document.createElement("figure");
      fig.innerHTML = `<img src="${ep.key_frame_url}" alt="${ep.emotion}"><figcaption>#${track.track} ${ep.emotion} at ${ep.key_frame_time.toFixed(1)} s</figcaption>`;
      fig.addEventListener("click", () => { player.currentTime = ep.key_frame_time; });
      keyframes.appendChild(fig);
    }
  }
  const links = result.links;
  $("downloads").innerHTML = [["annotated video (MP4)", links.annotated_video], ["per-frame table (CSV)", links.frames_csv],
    ["per-frame table (Parquet)", links.frames_parquet], ["tracks (JSON)", links.tracks_json]]
    .map(([label, url]) => `<a href="${url}" download>${label}</a>`).join("");
  $("video").hidden = false;
}

function drawTimeline(canvas, series, duration) {
  const width = canvas.clientWidth || 900, height = 170;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  const x = (t) => (t / Math.max(duration, 1e-6)) * width;
  const y = (p) => height - 20 - p * (height - 30);
  for (const e of EMOTIONS) {
    ctx.strokeStyle = COLORS[e]; ctx.lineWidth = 2; ctx.beginPath();
    series.time.forEach((t, i) => (i ? ctx.lineTo(x(t), y(series[e][i])) : ctx.moveTo(x(t), y(series[e][i]))));
    ctx.stroke();
  }
  series.time.forEach((t, i) => {  // a band of the winning emotion along the bottom
    const next = i + 1 < series.time.length ? series.time[i + 1] : t + 0.04;
    ctx.fillStyle = COLORS[series.emotion[i]];
    ctx.fillRect(x(t), height - 12, Math.max(1, x(next) - x(t)), 12);
  });
}

function handle(file) {
  if (!file) return;
  $("photo").hidden = true; $("video").hidden = true;
  const isVideo = file.type.startsWith("video/") || /\.(mp4|mov|avi|mkv|webm|m4v|mpe?g)$/i.test(file.name);
  (isVideo ? analyseVideo(file) : analysePhoto(file)).catch((err) => setStatus(`Error: ${err}`, true));
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); handle(e.dataTransfer.files[0]); });
$("file-input").addEventListener("change", (e) => handle(e.target.files[0]));
