// Herald console: live counts over server-sent events. Each element with data-live follows its plan's
// stream and updates the counts and status shown inside it; the stream ends when the plan is final.
"use strict";

const MAX_STREAMS = 4; // browsers allow about six connections per host; keep some for pages

function apply(box, event) {
  for (const [name, value] of Object.entries(event.counts)) {
    for (const cell of box.querySelectorAll(`[data-count="${name}"]`)) cell.textContent = String(value);
  }
  for (const badge of box.querySelectorAll("[data-status]")) {
    badge.textContent = event.status;
    badge.className = `status ${event.status}`;
  }
  box.dataset.lastEvent = event.type;
  if (event.final) box.dataset.final = "true";
}

function follow(box) {
  const source = new EventSource(box.dataset.live);
  source.addEventListener("progress", (message) => {
    const event = JSON.parse(message.data);
    apply(box, event);
    if (event.final) source.close();
  });
  source.onerror = () => { if (box.dataset.final === "true") source.close(); };
}

document.addEventListener("DOMContentLoaded", () => {
  [...document.querySelectorAll("[data-live]")].slice(0, MAX_STREAMS).forEach(follow);
});
