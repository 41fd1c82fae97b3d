"use strict";
/* The page: upload with a progress bar, this browser's jobs (cancel, delete, compare), and the
   Live tab. Every request that changes something sends the page's CSRF token. */
const $ = (id) => document.getElementById(id);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const hasLive = document.body.dataset.live === "yes";
const maxBytes = Number(document.body.dataset.maxBytes);
let followed = null;   // the job whose progress the bar shows
let shown = null;      // the job in the before | after view
let zoom = () => {};

async function call(method, url) {
  try {
    const response = await fetch(url, {method, headers: {"X-CSRF-Token": csrf}});
    return {ok: response.ok, body: await response.json().catch(() => ({}))};
  } catch (e) {
    return {ok: false, body: {error: "vcam-sr web does not answer; check that it is still running"}};
  }
}

const seconds = (s) => (s < 90 ? s.toFixed(s < 10 ? 1 : 0) + " s" : Math.round(s / 60) + " min");
const mb = (bytes) => Math.round(bytes / 2 ** 20);

/* -- the bar and the sentence above it ---------------------------------------------------- */
function setBar(value, look = "") {
  const bar = $("bar");
  bar.className = "bar " + look;
  const back = value < Number(bar.getAttribute("aria-valuenow"));  // a reset jumps, progress glides
  bar.firstElementChild.style.transition = back ? "none" : "";
  bar.firstElementChild.style.width = (100 * value).toFixed(1) + "%";
  bar.setAttribute("aria-valuenow", value.toFixed(3));
}

function refuse(sentence) {
  followed = null;
  setBar(0, "failed");
  $("phase").textContent = "Upload refused.";
  $("error").textContent = sentence;
}

function upload(file) {
  $("error").textContent = "";
  followed = null;
  setBar(0);
  if (file.size > maxBytes) {
    return refuse(`${file.name} is ${mb(file.size)} MB, over this page's limit of ${mb(maxBytes)} MB; ` +
                  "upload a smaller file or start vcam-sr web with a higher --max-mb");
  }
  const form = new FormData();
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/jobs");
  xhr.setRequestHeader("X-CSRF-Token", csrf);
  $("phase").textContent = "Uploading " + file.name + "…";
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) setBar(e.loaded / e.total); };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: said below */ }
    if (xhr.status !== 201) return refuse(body.error || `the upload was refused (HTTP ${xhr.status})`);
    followed = body.id;
    setBar(0);
    $("phase").textContent = file.name + ": queued";
    jobs.refresh();
  };
  xhr.onerror = () => refuse("the upload was cut off; check that vcam-sr web is still running");
  xhr.send(form);
}

/* -- this browser's jobs ------------------------------------------------------------------- */
function follow(job) {
  if (job.state === "failed") {
    setBar(0, "failed");
    $("phase").textContent = job.name + ": failed";
    $("error").textContent = job.error;
    followed = null;
  } else if (job.state === "done") {
    setBar(1, "done");
    $("phase").textContent = `${job.name}: done in ${seconds(job.took || 0)}`;
    if (job.warning) $("error").textContent = `${job.name} ${job.warning}.`;
    followed = null;
    openViewer(job);
  } else {
    setBar(job.progress);
    $("phase").textContent = job.state === "queued" ? job.name + ": waiting for the jobs before it"
      : `${job.name}: upscaling, ${Math.round(100 * job.progress)}%` +
        (job.eta != null ? `, about ${seconds(job.eta)} left` : "");
  }
}

function row(job) {
  const state = job.state === "running" ? `running, ${Math.round(100 * job.progress)}%`
    : job.state === "failed" ? "failed: " + job.error
    : job.state === "done" && job.warning ? "done, but the input " + job.warning : job.state;
  const time = job.took != null ? "took " + seconds(job.took) : job.eta != null ? `about ${seconds(job.eta)} left`
    : job.state === "queued" ? "waiting" : "";
  const actions = el("td");
  if (job.state === "done") {
    actions.append(el("button", {textContent: "Compare", onclick: () => openViewer(job)}),
                   el("a", {textContent: "Download", href: `/api/jobs/${job.id}/result`, download: job.download}));
  }
  const busy = job.state === "queued" || job.state === "running";
  actions.append(el("button", {textContent: busy ? "Cancel" : "Delete", className: busy ? "cancel" : "delete",
                               onclick: () => remove(job)}));
  const size = job.output_size ? job.output_size.join("×") : "";
  return el("tr", {id: "job-" + job.id, className: job.id === shown ? "shown" : ""}, [
    el("td", {textContent: job.name}), el("td", {textContent: state, className: "state"}),
    el("td", {textContent: job.model || "—"}), el("td", {textContent: size}), el("td", {textContent: time}), actions]);
}

const jobs = {
  timer: null,
  first: true,
  async refresh() {
    clearTimeout(this.timer);
    const {ok, body} = await call("GET", "/api/jobs");
    const list = ok ? body.jobs : [];
    if (ok) this.render(list);
    const busy = list.some((j) => j.state === "queued" || j.state === "running");
    this.timer = setTimeout(() => this.refresh(), busy ? 500 : 4000);
  },
  render(list) {
    if (this.first && !followed) {  // after a reload: follow the newest unfinished job again
      const unfinished = list.filter((j) => j.state === "queued" || j.state === "running").pop();
      followed = unfinished ? unfinished.id : null;
    }
    this.first = false;
    $("no-jobs").hidden = list.length > 0;
    $("jobs").hidden = list.length === 0;
    $("jobs").tBodies[0].replaceChildren(...list.slice().reverse().map(row));
    const current = list.find((j) => j.id === followed);
    if (current) follow(current);
    if (shown && !list.some((j) => j.id === shown)) closeViewer();
  },
};

async function remove(job) {
  const {ok, body} = await call("DELETE", "/api/jobs/" + job.id);
  if (!ok) { $("error").textContent = body.error; return; }
  if (job.id === followed) {
    followed = null;
    setBar(0);
    $("phase").textContent = job.name + (job.state === "done" ? ": deleted" : ": cancelled");
  }
  if (job.id === shown) closeViewer();
  jobs.refresh();
}

function openViewer(job) {
  if (shown === job.id) return;
  shown = job.id;
  $("viewer").hidden = false;
  $("viewer-title").textContent = `${job.name}: ${job.size.join("×")} → ${job.output_size.join("×")}, ` +
    `${job.model || "?"}, took ${seconds(job.took || 0)}`;
  Object.assign($("download"), {href: `/api/jobs/${job.id}/result`, download: job.download});
  const view = job.kind === "image" ? imageCompare : videoCompare;
  zoom = view($("compare"), job, () => $("actual-size").checked);
  for (const tr of $("jobs").tBodies[0].rows) tr.classList.toggle("shown", tr.id === "job-" + job.id);
}

function closeViewer() {
  shown = null;
  $("viewer").hidden = true;
  $("compare").replaceChildren();
}

/* -- Live ---------------------------------------------------------------------------------- */
const live = {
  timer: null,
  stopped: false,
  enter() {
    if (!hasLive) return;
    this.status();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.status(), 1000);
    if (!this.stopped) this.connect();
  },
  leave() {
    clearInterval(this.timer);
    if (hasLive) this.disconnect();
  },
  connect() {
    $("live-placeholder").textContent = "Starting the camera…";
    $("live-img").src = "/live.mjpg?csrf=" + encodeURIComponent(csrf) + "&t=" + Date.now();
  },
  disconnect(sentence) {
    $("live-img").removeAttribute("src");
    $("live-img").hidden = true;
    $("live-placeholder").hidden = false;
    if (sentence) $("live-placeholder").textContent = sentence;
  },
  async status() {
    const s = (await call("GET", "/api/live")).body;
    let text = "Live: " + s.state;
    if (s.state === "running") {
      text += `, ${s.fps} fps, model ${s.model}, ${s.frames} frames` + (s.dropped ? `, ${s.dropped} dropped` : "");
    } else if (s.state === "error") {
      text = "Live failed: " + s.error;
    } else if (this.stopped) {
      text = "Live: stopped. Press Start to run the camera again.";
    }
    if ($("live-img").hidden && s.max_viewers && s.viewers >= s.max_viewers && !this.stopped) {
      text = `${s.viewers} Live views are open already, the most this page serves; close another Live tab.`;
    }
    $("live-state").textContent = text;
  },
};

/* -- wiring -------------------------------------------------------------------------------- */
function show(tab) {
  $("upload").hidden = tab !== "upload";
  $("live").hidden = tab !== "live";
  $("tab-upload").classList.toggle("on", tab === "upload");
  $("tab-live").classList.toggle("on", tab === "live");
  tab === "live" ? live.enter() : live.leave();
}

$("tab-upload").onclick = () => show("upload");
$("tab-live").onclick = () => show("live");
$("file").onchange = (e) => e.target.files[0] && upload(e.target.files[0]);
$("actual-size").onchange = () => zoom($("actual-size").checked);
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
};
if (hasLive) {
  const img = $("live-img");
  img.hidden = true;
  img.onload = () => { img.hidden = false; $("live-placeholder").hidden = true; };
  img.onerror = () => { if (img.getAttribute("src")) live.disconnect("The live view was refused or ended."); };
  $("live-start").onclick = async () => { live.stopped = false; live.connect(); await call("POST", "/api/live/start"); live.status(); };
  $("live-stop").onclick = async () => {
    live.stopped = true;
    live.disconnect("Stopped. Press Start to run the camera again.");
    await call("POST", "/api/live/stop");
    live.status();
  };
  $("live-actual").onchange = () => {
    $("live-box").classList.toggle("actual", $("live-actual").checked);
    img.style.width = $("live-actual").checked && img.naturalWidth ? actualWidth(img.naturalWidth) : "";
  };
}
show("upload");
jobs.refresh();
