// What the web page and the live page share: helpers. EMOTIONS, COLORS and VIDEO_SUFFIXES come from fervid
// itself, in /constants.js (loaded first).
const $ = (id) => document.getElementById(id);
// for files the browser gives no video type: by the name's suffix, as fervid video decides
const isVideoName = (name) => VIDEO_SUFFIXES.some((suffix) => name.toLowerCase().endsWith(suffix));

function ink(hex) {  // black or white text, whichever reads better on the emotion's colour (WCAG contrast)
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.2 ? "#fff" : "#000";
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}
