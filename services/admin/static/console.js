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

// One transcript entry as the page renders it (see entry.html).
function entryElement(entry) {
  const li = document.createElement("li");
  const text = (tag, content) => {
    const el = document.createElement(tag);
    el.textContent = content;
    return el;
  };
  const pretty = (value) => (value === undefined || value === null) ? "" : (typeof value === "string" ? value : JSON.stringify(value, null, 2));
  const folded = (summary, parts) => {
    const details = document.createElement("details");
    const head = document.createElement("summary");
    summary.forEach((part) => head.appendChild(part));
    details.appendChild(head);
    parts.forEach((part) => details.appendChild(part));
    return details;
  };
  const diff = (body) => {
    const pre = document.createElement("pre");
    pre.className = "diff";
    for (const line of body.split("\n")) {
      const span = text("span", line);
      span.className = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
      pre.appendChild(span);
      pre.appendChild(document.createTextNode("\n"));
    }
    return pre;
  };
  switch (entry.kind) {
    case "tool_call": {
      li.className = "entry tool";
      li.dataset.id = entry.id;
      const head = entry.title && entry.title !== entry.name ? entry.name + ": " + entry.title : entry.name;
      const name = text("span", head);
      name.className = "mono";
      const status = text("span", entry.status);
      status.className = "pill " + entry.status;
      const parts = [];
      if (pretty(entry.input)) parts.push(text("h4", "Input"), text("pre", pretty(entry.input)));
      if (pretty(entry.output)) parts.push(text("h4", "Output"), text("pre", pretty(entry.output)));
      li.appendChild(folded([name, document.createTextNode(" "), status], parts));
      break;
    }
    case "file_edit": {
      li.className = "entry edit";
      const path = text("span", entry.path);
      path.className = "mono";
      li.appendChild(folded([document.createTextNode("edited "), path], [diff(entry.diff || "")]));
      break;
    }
    case "prompt":
      li.className = "entry prompt";
      li.appendChild(folded([document.createTextNode("Prompt")], [text("pre", entry.text)]));
      break;
    case "plan":
      li.className = "entry plan";
      li.appendChild(text("p", (entry.steps || []).map((s) => "[" + s.status + "] " + s.content).join("\n")));
      break;
    case "usage":
      li.className = "entry usage";
      li.appendChild(text("p", pretty(entry.usage)));
      break;
    default:
      li.className = "entry " + (entry.kind === "thought" ? "thought" : "message");
      li.appendChild(text("p", entry.text || ""));
  }
  return li;
}

// The session of a running run, entry by entry, over server-sent events.
// The stream starts from the first entry: those the page was rendered
// with are skipped; a tool call's later states replace its element.
function followSession(list) {
  const state = document.getElementById("session-state");
  // Tool calls are matched by id; the other entries by count.
  let skip = list.querySelectorAll("li.entry:not([data-id])").length;
  const source = new EventSource(list.dataset.follow);
  source.addEventListener("entry", (message) => {
    const entry = JSON.parse(message.data);
    const element = entryElement(entry);
    const earlier = entry.kind === "tool_call" ? list.querySelector('li[data-id="' + CSS.escape(entry.id) + '"]') : null;
    if (earlier) {
      const open = earlier.querySelector("details") && earlier.querySelector("details").open;
      if (open) element.querySelector("details").open = true;
      earlier.replaceWith(element);
      return;
    }
    if (skip > 0) { skip -= 1; return; }
    const empty = document.getElementById("session-empty");
    if (empty) empty.remove();
    list.appendChild(element);
  });
  source.addEventListener("end", (message) => {
    source.close();
    const run = JSON.parse(message.data);
    if (state) state.textContent = "the run ended: " + run.status;
    // Its diff, commits and cost are kept as it ends: show them.
    if (!["queued", "awaiting_approval"].includes(run.status)) setTimeout(() => location.reload(), 1000);
  });
  source.onerror = () => {
    source.close();
    if (state && !state.textContent.startsWith("the run ended")) state.textContent = "not following (reload to see new entries)";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const pre = document.querySelector("pre.log[data-follow]");
  if (pre) followLog(pre);
  const session = document.querySelector("ol.session[data-follow]");
  if (session) followSession(session);
});
