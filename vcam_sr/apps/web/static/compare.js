"use strict";
/* The before | after views of a finished job: an image with the split slider on the picture,
   or two players that play, pause and seek together. Each returns zoom(on): with on, the
   pixels are shown 1:1 in a scrollable box (for video, two boxes that scroll together). */

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/* CSS pixels for `natural` device pixels: 1:1 on any screen scale */
function actualWidth(natural) {
  return natural / (window.devicePixelRatio || 1) + "px";
}

function imageCompare(box, job, actual) {
  const base = "/api/jobs/" + job.id;
  const after = el("img", {className: "after", src: base + "/result", alt: "after (vcam-sr)"});
  const before = el("img", {className: "before", src: base + "/before", alt: "before (bicubic 2x)"});
  const beforeLabel = el("span", {className: "label left", textContent: "before (bicubic 2x)"});
  before.onerror = () => {  // no bicubic file on the server: the input, scaled smoothly here
    before.onerror = null;
    before.src = base + "/input";
    beforeLabel.textContent = "before (scaled 2x by the browser)";
  };
  const split = el("input", {type: "range", min: 0, max: 100, value: 50, id: "split"});
  split.setAttribute("aria-label", "split between before and after");
  const frame = el("div", {className: "compare", id: "slider"}, [
    after, before, el("div", {className: "divider"}), beforeLabel,
    el("span", {className: "label right", textContent: "after (vcam-sr)"}), split]);
  split.oninput = () => frame.style.setProperty("--split", split.value + "%");
  const scroll = el("div", {className: "scroll"}, [frame]);
  const zoom = (on) => {
    scroll.classList.toggle("actual", on);
    frame.style.width = on && after.naturalWidth ? actualWidth(after.naturalWidth) : "";
  };
  after.onload = () => zoom(actual());
  box.replaceChildren(scroll);
  return zoom;
}

function clockText(seconds) {
  const s = Math.floor(seconds || 0);
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function videoCompare(box, job, actual) {
  const base = "/api/jobs/" + job.id;
  const player = (src, id, label) => {
    const video = el("video", {src, id, muted: true, preload: "auto", playsInline: true});
    const scroll = el("div", {className: "scroll"}, [video]);
    return {video, scroll, figure: el("figure", {}, [scroll, el("figcaption", {textContent: label})])};
  };
  const before = player(base + "/input", "v-before", "before (the input, scaled 2x by the browser)");
  const after = player(base + "/result", "v-after", "after (vcam-sr)");
  const a = after.video, b = before.video;
  a.muted = false;  // the sound comes from the result
  const play = el("button", {id: "play", textContent: "Play"});
  const seek = el("input", {type: "range", id: "seek", min: 0, max: 1000, value: 0});
  seek.setAttribute("aria-label", "position in both videos");
  const clock = el("span", {id: "clock", textContent: "0:00"});

  // `after` leads; `before` follows its play, pause and position
  play.onclick = () => (a.paused ? a.play().catch(() => {}) : a.pause());
  a.onplay = () => { play.textContent = "Pause"; b.currentTime = a.currentTime; b.play().catch(() => {}); };
  a.onpause = () => { play.textContent = "Play"; b.pause(); b.currentTime = a.currentTime; };
  a.onseeking = () => { b.currentTime = a.currentTime; };
  a.ontimeupdate = () => {
    if (Math.abs(b.currentTime - a.currentTime) > 0.1) b.currentTime = a.currentTime;
    if (a.duration) seek.value = Math.round(1000 * a.currentTime / a.duration);
    clock.textContent = clockText(a.currentTime) + " / " + clockText(a.duration);
  };
  seek.oninput = () => { if (a.duration) a.currentTime = seek.value / 1000 * a.duration; };

  // in the 100% mode the two crops scroll together
  const follow = (from, to) => () => {
    if (to.scrollLeft !== from.scrollLeft) to.scrollLeft = from.scrollLeft;
    if (to.scrollTop !== from.scrollTop) to.scrollTop = from.scrollTop;
  };
  after.scroll.onscroll = follow(after.scroll, before.scroll);
  before.scroll.onscroll = follow(before.scroll, after.scroll);
  const zoom = (on) => {
    for (const p of [before, after]) p.scroll.classList.toggle("actual", on);
    const width = on && a.videoWidth ? actualWidth(a.videoWidth) : "";
    a.style.width = b.style.width = width;  // before at the after's size: a smooth 2x
  };
  a.onloadedmetadata = () => zoom(actual());
  box.replaceChildren(el("div", {className: "players", id: "players"}, [before.figure, after.figure]),
                      el("div", {className: "transport"}, [play, seek, clock]));
  return zoom;
}
