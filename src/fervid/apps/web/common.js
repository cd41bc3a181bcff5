// What the web page and the live page share: the classes, their colours (fervid.inference.annotate's), helpers.
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const COLORS = {angry: "#dc2828", disgust: "#3c8c3c", fear: "#963c96", happy: "#fac800", sad: "#1e78c8",
                surprise: "#ff9600", neutral: "#aaaaaa"};
const $ = (id) => document.getElementById(id);

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
