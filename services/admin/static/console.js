// Hookline console: the one script. Pages read fine without it; with it a
// running run's log follows the agent as it prints.
"use strict";

function followLog(pre) {
  const state = document.getElementById("log-state");
  const add = (item) => {
    if (item.run) {
      const status = document.getElementById("run-status");
      if (status) {
        status.textContent = item.run.status;
        status.className = "pill " + ({ succeeded: "ok", failed: "bad", timed_out: "bad", expired: "bad" }[item.run.status] || "off");
      }
      const waiting = { queued: "waits for its agent to be enabled", awaiting_approval: "waits for approval" }[item.run.status];
      if (state) state.textContent = waiting ? "not following: the run " + waiting + " (reload after acting)" : "the run ended: " + item.run.status;
      if (waiting) return;
      // What a finished run no longer offers.
      for (const id of ["cancel", "approve", "reject"]) {
        const form = document.getElementById(id);
        if (form) form.remove();
      }
      return;
    }
    const span = document.createElement("span");
    span.className = "line " + item.stream;
    span.title = item.at;
    span.textContent = item.line;
    pre.appendChild(span);
    pre.appendChild(document.createTextNode("\n"));
    pre.scrollTop = pre.scrollHeight;
  };
  // The page shows the lines it was rendered with; the stream starts from
  // the first line, so those are skipped.
  let skip = pre.querySelectorAll("span.line").length;
  fetch(pre.dataset.follow, { credentials: "same-origin" }).then(async (response) => {
    if (!response.ok || !response.body) return;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!text) continue;
        const item = JSON.parse(text);
        if (!item.run && skip > 0) { skip -= 1; continue; }
        add(item);
      }
    }
  }).catch(() => { if (state) state.textContent = "not following (reload to see new lines)"; });
}

document.addEventListener("DOMContentLoaded", () => {
  const pre = document.querySelector("pre.log[data-follow]");
  if (pre) followLog(pre);
});
