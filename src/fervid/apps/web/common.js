// What the web page and the live page share: helpers. EMOTIONS, COLORS, DASHES, VIDEO_SUFFIXES and UNCERTAIN_MARK
// come from fervid itself, in /constants.js (loaded first).
const $ = (id) => document.getElementById(id);
// for files the browser gives no video type: by the name's suffix, as fervid video decides
const isVideoName = (name) => VIDEO_SUFFIXES.some((suffix) => name.toLowerCase().endsWith(suffix));

function luminance(hex) {  // WCAG 2's relative luminance of "#rrggbb"
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

const contrast = (a, b) => (Math.max(luminance(a), luminance(b)) + 0.05) / (Math.min(luminance(a), luminance(b)) + 0.05);

// black or white text, whichever reads better on the emotion's colour (as fervid's annotate.ink_bgr)
const ink = (hex) => (contrast(hex, "#000000") >= contrast(hex, "#ffffff") ? "#000" : "#fff");

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The status line (a polite live region): `html`, where given, is `text` with its face labels as faceLabelHtml
// makes them, so that a screen reader says "uncertain" where the line shows "?" (it read the mark as nothing, or as
// "question mark")
function setStatus(text, isError = false, html = escapeHtml(text)) {
  const status = $("status");
  if (status.dataset.said === html && status.classList.contains("error") === isError) return;  // said
  status.innerHTML = html;
  status.dataset.said = html;
  status.className = isError ? "error" : "";
}

// A probability or share (0 to 1) as a whole percentage, rounded as the command line, the annotated images and
// videos and the tables' readers round it: Python's "{:.0%}" (the value times 100 in doubles, an exact half to the
// even whole number: 0.125 is "12%", 0.375 "38%"). toFixed(0) and Math.round take a half up, so the page said
// "13%" where `fervid image` said "12%" for the same face.
function percentText(fraction) {
  const hundredths = fraction * 100;
  let whole = Math.round(hundredths);  // the nearest; a half up
  if (whole - hundredths === 0.5 && whole % 2 !== 0) whole -= 1;  // an exact half: to the even one instead
  return `${whole}%`;
}

// A face's label as fervid's images, videos, key frames and command line word it (annotate.face_label): "happy 87%",
// "neutral 49%?" for an uncertain face; confidence null: the emotion alone ("neutral?")
function faceLabel(emotion, confidence, uncertain) {
  const said = confidence === null ? emotion : `${emotion} ${percentText(confidence)}`;
  return uncertain ? said + UNCERTAIN_MARK : said;
}

// faceLabel's label as HTML, for the pages' lists (a photo's faces, the live faces, key-frame captions): the mark
// shown once, and said once as the word "uncertain" by a screen reader (which reads "?" as nothing or as "question
// mark"); the lists showed "neutral 49%? (uncertain)", saying it twice.
function faceLabelHtml(emotion, confidence, uncertain) {
  const said = escapeHtml(faceLabel(emotion, confidence, false));
  return uncertain ? `${said}<span role="img" aria-label="uncertain">${escapeHtml(UNCERTAIN_MARK)}</span>` : said;
}

// faceLabel's label in words, for an aria-label (a canvas's, which a screen reader cannot read the drawn labels of):
// "neutral 49%, uncertain" where the picture shows "neutral 49%?"
function faceLabelSpoken(emotion, confidence, uncertain) {
  const said = faceLabel(emotion, confidence, false);
  return uncertain ? `${said}, uncertain` : said;
}

// This browser's recent video jobs and saved live sessions (localStorage: every tab's), newest first, listed on the
// main page as "Your recent videos and live sessions" while the server keeps them: a closed tab's results were out
// of reach. An entry: {job_id, name, started (ms), status_url, result_url, live (a saved live session), expires (ms
// by this browser's clock: when the server deletes it, as its last answer said; the entry goes then at the latest,
// the server reached or not)}.
const RECENT_KEY = "fervid-recent-videos";
const RECENT_MAX = 10;

function readRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((entry) => entry && /^[0-9a-f]{32}$/.test(entry.job_id)) : [];
  } catch {  // storage refused (a private window's settings) or not JSON: no list
    return [];
  }
}

function writeRecent(list) {
  try { localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX))); } catch { /* refused: no list */ }
}

function remember(job, live = false) {
  writeRecent([{job_id: job.job_id, name: job.name, started: Date.now(), status_url: job.status_url,
                result_url: job.result_url, live}, ...readRecent().filter((entry) => entry.job_id !== job.job_id)]);
}

function noteExpiry(expiries) {  // {job_id: ms by this browser's clock}, into the entries another tab may have changed
  writeRecent(readRecent().map((entry) => (entry.job_id in expiries ? {...entry, expires: expiries[entry.job_id]} : entry)));
}

function forget(jobIds) {
  writeRecent(readRecent().filter((entry) => !jobIds.includes(entry.job_id)));
}

// A video track's most common emotion, and how much of it the model was unsure of, as `fervid video` prints it
// (cli._dominant_text): "mostly neutral (50%), uncertain in 35% of frames"; "most often" where it held half the
// time or less. A job's tracks JSON written by an earlier fervid has no uncertain_share: the first part alone.
function dominantText(track) {
  const share = track.emotion_share[track.dominant_emotion];
  const said = `${share > 0.5 ? "mostly" : "most often"} ${track.dominant_emotion} (${percentText(share)})`;
  return track.uncertain_share == null ? said
    : `${said}, uncertain in ${percentText(track.uncertain_share)} of frames`;
}

// The model's threshold for "?" (the server's /constants.js), wherever a page explains the mark
if (typeof document !== "undefined") {
  for (const span of document.querySelectorAll(".uncertain-below")) span.textContent = percentText(UNCERTAIN_BELOW);
}

// a video job's state as the status line says it (GET /v1/jobs/{id}). A job the server queued again after a restart
// runs from the start: its progress fell back (0.075, then 0.029) with nothing said, read as the page going wrong
function progressText(state) {
  const again = state.restarts > 0 ? ` (started again after ${state.restarts === 1 ? "a server restart" :
                                                               `${state.restarts} server restarts`})` : "";
  if (state.status === "queued") {
    return (state.waiting_for > 0 ? `waiting for ${state.waiting_for} other video${state.waiting_for === 1 ? "" : "s"} ` +
                                    "to finish first" : "waiting to start") + again;
  }
  if (state.status === "running") return (state.progress > 0 ? percentText(state.progress) : "starting") + again;
  return state.status;
}
