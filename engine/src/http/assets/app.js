// The Celeriac dashboard: polls the JSON API, follows /api/events (server-sent events) and
// draws the throughput chart and a workflow's DAG. No framework, no CDN, no inline code.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const FILL = {
  PENDING: "#eceff1", RECEIVED: "#bbdefb", STARTED: "#90caf9", RETRY: "#ffe0b2",
  SUCCESS: "#c8e6c9", FAILURE: "#ffcdd2", REVOKED: "#d7ccc8",
};
const live = { finished: 0, succeeded: 0, failed: 0, perSecond: new Map() };
let token = "";
let shownWorkflow = "";
let refreshTimer = null;

function $(id) { return document.getElementById(id); }

function authHeaders() {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401) {
    $("token-form").classList.remove("hidden");
    throw new Error("this server needs a token");
  }
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error ? body.error.message : response.statusText);
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function ago(ms) {
  if (!ms) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return seconds + " s ago";
}

async function refreshWorkers() {
  const { workers } = await api("/api/workers");
  const body = $("workers").querySelector("tbody");
  body.replaceChildren();
  let online = 0;
  for (const worker of workers) {
    if (worker.online) online += 1;
    const row = document.createElement("tr");
    row.className = "worker";
    cell(row, worker.hostname, "id");
    cell(row, worker.online ? "online" : "offline", worker.online ? "state-SUCCESS" : "state-FAILURE");
    cell(row, (worker.queues || []).join(", "));
    cell(row, worker.active);
    cell(row, worker.processed);
    cell(row, ago(worker.last_heartbeat || worker.last_seen));
    body.appendChild(row);
  }
  $("workers-empty").classList.toggle("hidden", workers.length > 0);
  $("workers-online").textContent = String(online);
}

async function refreshQueues() {
  const { queues } = await api("/api/queues");
  const body = $("queues").querySelector("tbody");
  body.replaceChildren();
  for (const queue of queues) {
    const row = document.createElement("tr");
    cell(row, queue.queue);
    cell(row, queue.topic, "id");
    cell(row, queue.partitions.length);
    cell(row, queue.lag);
    body.appendChild(row);
  }
}

async function refreshTasks() {
  const params = new URLSearchParams({ limit: "200" });
  if ($("filter-state").value) params.set("state", $("filter-state").value);
  if ($("filter-name").value.trim()) params.set("name", $("filter-name").value.trim());
  if ($("filter-id").value.trim()) params.set("q", $("filter-id").value.trim().toLowerCase());
  const { tasks } = await api("/api/tasks?" + params.toString());
  const body = $("tasks").querySelector("tbody");
  body.replaceChildren();
  for (const task of tasks) {
    const row = document.createElement("tr");
    row.className = "task";
    row.dataset.id = task.id;
    cell(row, task.id, "id");
    cell(row, task.task);
    cell(row, task.state, "state state-" + task.state);
    cell(row, task.worker);
    cell(row, task.retries);
    cell(row, task.runtime_ms === null || task.runtime_ms === undefined ? "" : task.runtime_ms + " ms");
    const workflow = cell(row, "");
    if (task.root_id && task.root_id !== task.id) {
      const link = document.createElement("a");
      link.className = "workflow-link";
      link.textContent = task.root_id.slice(0, 8) + "…";
      link.addEventListener("click", () => showWorkflow(task.root_id));
      workflow.appendChild(link);
    }
    body.appendChild(row);
  }
  $("tasks-empty").classList.toggle("hidden", tasks.length > 0);
}

function scheduleTasks() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshTasks().catch(report);
  }, 250);
}

function report(error) {
  $("connection").textContent = error.message;
  $("connection").classList.add("off");
}

function onTaskEvent(event) {
  if (event.state === "SUCCESS" || event.state === "FAILURE") {
    live.finished += 1;
    if (event.state === "SUCCESS") live.succeeded += 1; else live.failed += 1;
    const second = Math.floor(Date.now() / 1000);
    live.perSecond.set(second, (live.perSecond.get(second) || 0) + 1);
    $("finished-count").textContent = String(live.finished);
    $("succeeded-count").textContent = String(live.succeeded);
    $("failed-count").textContent = String(live.failed);
  }
  scheduleTasks();
  if (shownWorkflow && event.root_id === shownWorkflow) showWorkflow(shownWorkflow);
}

function follow() {
  const query = token ? "?access_token=" + encodeURIComponent(token) : "";
  const source = new EventSource("/api/events" + query);
  source.addEventListener("ready", () => {
    $("connection").textContent = "live";
    $("connection").classList.remove("off");
  });
  source.addEventListener("task", (message) => onTaskEvent(JSON.parse(message.data)));
  source.addEventListener("worker", () => refreshWorkers().catch(report));
  source.onerror = () => {
    $("connection").textContent = "reconnecting…";
    $("connection").classList.add("off");
  };
}

function drawThroughput() {
  const canvas = $("throughput");
  const context = canvas.getContext("2d");
  const now = Math.floor(Date.now() / 1000);
  const counts = [];
  for (let s = now - 59; s <= now; s += 1) counts.push(live.perSecond.get(s) || 0);
  for (const key of live.perSecond.keys()) if (key < now - 120) live.perSecond.delete(key);
  const peak = Math.max(1, ...counts);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#667";
  context.font = "11px sans-serif";
  context.fillText(peak + "/s", 4, 12);
  const width = canvas.width / counts.length;
  context.fillStyle = "#4caf50";
  counts.forEach((count, i) => {
    const height = (count / peak) * (canvas.height - 20);
    context.fillRect(i * width + 1, canvas.height - height, width - 2, height);
  });
}

function layers(steps, edges) {
  const depth = steps.map(() => 0);
  const incoming = steps.map(() => 0);
  const children = steps.map(() => []);
  for (const edge of edges) {
    if (edge.from < steps.length && edge.to < steps.length) {
      children[edge.from].push(edge.to);
      incoming[edge.to] += 1;
    }
  }
  const ready = steps.map((_, i) => i).filter((i) => incoming[i] === 0);
  while (ready.length) {
    const node = ready.shift();
    for (const child of children[node]) {
      depth[child] = Math.max(depth[child], depth[node] + 1);
      incoming[child] -= 1;
      if (incoming[child] === 0) ready.push(child);
    }
  }
  return depth;
}

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (parent) parent.appendChild(element);
  return element;
}

function drawDag(workflow) {
  const root = $("workflow-dag");
  root.replaceChildren();
  const depth = layers(workflow.steps, workflow.edges);
  const rows = new Map();
  const place = workflow.steps.map((step, i) => {
    const row = rows.get(depth[i]) || 0;
    rows.set(depth[i], row + 1);
    return { x: 20 + depth[i] * 200, y: 20 + row * 60 };
  });
  const width = 40 + (Math.max(0, ...depth) + 1) * 200;
  const height = 40 + Math.max(1, ...rows.values()) * 60;
  root.setAttribute("width", width);
  root.setAttribute("height", height);
  for (const edge of workflow.edges) {
    const a = place[edge.from];
    const b = place[edge.to];
    if (!a || !b) continue;
    const d = `M${a.x + 170},${a.y + 22} C${a.x + 185},${a.y + 22} ${b.x - 15},${b.y + 22} ${b.x},${b.y + 22}`;
    svg("path", { d, class: "edge" }, root);
  }
  workflow.steps.forEach((step, i) => {
    const group = svg("g", { class: "node", "data-state": step.state, "data-step": step.step_id }, root);
    svg("rect", { x: place[i].x, y: place[i].y, width: 170, height: 44, rx: 6, fill: FILL[step.state] || "#fff" }, group);
    const name = svg("text", { x: place[i].x + 8, y: place[i].y + 17 }, group);
    name.textContent = (step.task || step.kind.toLowerCase()).slice(0, 22);
    const status = svg("text", { x: place[i].x + 8, y: place[i].y + 34 }, group);
    status.textContent = step.state + " · " + step.step_id;
    const title = svg("title", {}, group);
    title.textContent = step.task_id;
  });
  $("workflow-status").textContent = `workflow ${workflow.id}: ${workflow.state}, ${workflow.steps.length} steps`;
}

async function showWorkflow(id) {
  shownWorkflow = id;
  $("workflow-id").value = id;
  try {
    drawDag(await api("/api/workflows/" + encodeURIComponent(id)));
  } catch (error) {
    $("workflow-status").textContent = error.message;
  }
}

function start() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("token");
  if (fromHash) localStorage.setItem("celeriac-token", fromHash);
  token = fromHash || localStorage.getItem("celeriac-token") || "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem("celeriac-token", $("token").value);
    location.reload();
  });
  for (const id of ["filter-state", "filter-name", "filter-id"]) {
    $(id).addEventListener("input", scheduleTasks);
  }
  $("task-filters").addEventListener("submit", (event) => event.preventDefault());
  $("workflow-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showWorkflow($("workflow-id").value.trim());
  });
  follow();
  if (hash.get("workflow")) showWorkflow(hash.get("workflow"));
  const tick = () => {
    refreshWorkers().catch(report);
    refreshTasks().catch(report);
  };
  tick();
  refreshQueues().catch(report);
  setInterval(tick, 2000);
  setInterval(() => refreshQueues().catch(report), 5000);
  setInterval(drawThroughput, 1000);
  drawThroughput();
}

document.addEventListener("DOMContentLoaded", start);
