// What the web page and the live page share: helpers. EMOTIONS, COLORS, DASHES and VIDEO_SUFFIXES come from
// fervid itself, in /constants.js (loaded first).
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

function setStatus(text, isError = false) {
  if ($("status").textContent === text && $("status").classList.contains("error") === isError) return;  // said
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}
