/**
 * The viewer page's script (served as `/viewer.js`), dependency-free: it reads
 * OME-Zarr metadata (v3 `zarr.json`, v2 `.zattrs`/`.zarray`) and chunks from
 * `plate/…`, decodes chunks in the page (raw; gzip and zlib through the
 * browser's `DecompressionStream`; zstd and blosc chunks — no decoder is
 * bundled, to keep the page small — come decoded from the server's
 * `/decoded/` endpoint), and draws with canvas 2D.
 * Inflated output is bounded by the chunk's declared size.
 *
 * Level choice: the coarsest level whose pixel is no larger than a screen
 * pixel (`floor(log2(1/zoom))`); only chunks intersecting the visible region
 * are fetched. The script avoids template literals so it can live in a
 * `String.raw` here.
 *
 * @module
 */

/** The script served as `/viewer.js`. */
export const VIEWER_JS: string = String.raw`"use strict";
(function () {
var $ = function (s) { return document.querySelector(s); };
var statusEl = $("#status");
function status(t) { statusEl.textContent = t; }
function jpath(a, b) { return a === "" ? b : a + "/" + b; }

// ------------------------------------------------------------ fetching
async function getBytes(path) {
  var r = await fetch("plate/" + path);
  if (r.status === 404) return null;
  if (!r.ok) throw new Error("GET " + path + ": HTTP " + r.status);
  return new Uint8Array(await r.arrayBuffer());
}
async function getJson(path) {
  var b = await getBytes(path);
  return b === null ? null : JSON.parse(new TextDecoder().decode(b));
}
async function groupAttrs(path) {
  var j = await getJson(jpath(path, "zarr.json"));
  if (j) { var a = j.attributes || {}; return { v: 3, ome: a.ome || a }; }
  var z = await getJson(jpath(path, ".zattrs"));
  if (z) return { v: 2, ome: z };
  return null;
}

var DTYPES = {
  uint8: [Uint8Array, 1], int8: [Int8Array, 1], uint16: [Uint16Array, 2], int16: [Int16Array, 2],
  uint32: [Uint32Array, 4], int32: [Int32Array, 4], float32: [Float32Array, 4],
  float64: [Float64Array, 8], int64: [BigInt64Array, 8], uint64: [BigUint64Array, 8]
};
var V2 = { u1: "uint8", i1: "int8", u2: "uint16", i2: "int16", u4: "uint32", i4: "int32",
  f4: "float32", f8: "float64", i8: "int64", u8: "uint64" };

async function inflate(bytes, format, limit) {
  var ds = new DecompressionStream(format);
  var reader = new Blob([bytes]).stream().pipeThrough(ds).getReader();
  var parts = [], n = 0;
  for (;;) {
    var x = await reader.read();
    if (x.done) break;
    n += x.value.length;
    if (n > limit) { reader.cancel(); throw new Error("chunk inflates past its declared size"); }
    parts.push(x.value);
  }
  var out = new Uint8Array(n), o = 0;
  parts.forEach(function (p) { out.set(p, o); o += p.length; });
  return out;
}

async function arrayMeta(path) {
  var j = await getJson(jpath(path, "zarr.json"));
  var m;
  if (j) {
    var codecs = j.codecs || [];
    var endian = "little", steps = [];
    codecs.forEach(function (c) {
      if (c.name === "bytes") endian = (c.configuration || {}).endian || "little";
      else if (c.name === "gzip" || c.name === "numcodecs.gzip") steps.push("gzip");
      else if (c.name === "numcodecs.zlib" || c.name === "zlib") steps.push("deflate");
      else if (c.name === "crc32c") steps.push("crc32c");
      else steps.push("unsupported:" + c.name);
    });
    var enc = j.chunk_key_encoding || { name: "default" };
    var sep = (enc.configuration || {}).separator || (enc.name === "v2" ? "." : "/");
    m = { shape: j.shape, chunks: j.chunk_grid.configuration.chunk_shape, dtype: j.data_type,
      endian: endian, steps: steps.reverse(), fill: Number(j.fill_value) || 0,
      key: enc.name === "v2" ? function (c) { return c.join(sep); }
        : function (c) { return ["c"].concat(c).join(sep); } };
  } else {
    var z = await getJson(jpath(path, ".zarray"));
    if (!z) throw new Error("no array at " + path);
    var t = z.dtype.slice(1);
    var cid = z.compressor ? z.compressor.id : null;
    var st = cid === null ? [] : cid === "zlib" ? ["deflate"] : cid === "gzip" ? ["gzip"]
      : ["unsupported:" + cid];
    var s2 = z.dimension_separator || ".";
    m = { shape: z.shape, chunks: z.chunks, dtype: V2[t] || "unsupported:" + z.dtype,
      endian: z.dtype[0] === ">" ? "big" : "little", steps: st, fill: Number(z.fill_value) || 0,
      key: function (c) { return c.length ? c.join(s2) : "0"; } };
    if (z.order === "F") m.dtype = "unsupported: order F";
  }
  if (!DTYPES[m.dtype]) throw new Error("data type " + m.dtype + " is not supported here");
  var elems = m.chunks.reduce(function (a, b) { return a * b; }, 1);
  if (!(m.chunks.length === m.shape.length && elems * DTYPES[m.dtype][1] <= 256 * 1048576)) {
    throw new Error(path + ": chunk shape [" + m.chunks + "] is invalid or over 256 MiB");
  }
  m.path = path;
  return m;
}

var cache = new Map();
function chunk(meta, coords) {
  var url = jpath(meta.path, meta.key(coords));
  if (cache.has(url)) return cache.get(url);
  var p = loadChunk(meta, url, coords);
  cache.set(url, p);
  if (cache.size > 192) cache.delete(cache.keys().next().value); // bounded: oldest out
  return p;
}
async function loadChunk(meta, url, coords) {
  var info = DTYPES[meta.dtype], n = meta.chunks.reduce(function (a, b) { return a * b; }, 1);
  var want = n * info[1];
  var serverSide = meta.steps.some(function (s) { return s.indexOf("unsupported:") === 0; });
  if (serverSide) {
    // zstd/blosc: no decoder in the page; the server decodes (little-endian elements).
    var r = await fetch("decoded/" + meta.path + "?c=" + coords.join("."));
    if (!r.ok) throw new Error("decoded " + meta.path + ": HTTP " + r.status);
    var d = new Uint8Array(await r.arrayBuffer());
    if (d.length !== want) throw new Error(url + ": decoded " + d.length + " bytes, want " + want);
    return new info[0](d.buffer);
  }
  var b = await getBytes(url);
  if (b === null) return null;
  for (var i = 0; i < meta.steps.length; i++) {
    var s = meta.steps[i];
    if (s === "crc32c") b = b.subarray(0, b.length - 4);
    else b = await inflate(b, s, want);
  }
  if (b.length !== want) throw new Error(url + ": chunk has " + b.length + " bytes, want " + want);
  var copy = new Uint8Array(b);
  if (meta.endian === "big" && info[1] > 1) {
    for (var k = 0; k < copy.length; k += info[1]) copy.subarray(k, k + info[1]).reverse();
  }
  return new info[0](copy.buffer);
}

// Reads [y0,y1) x [x0,x1) of the plane at leading index "lead" into a Float64Array.
async function region(meta, lead, y0, y1, x0, x1) {
  var nd = meta.shape.length, cy = meta.chunks[nd - 2], cx = meta.chunks[nd - 1];
  var w = x1 - x0, h = y1 - y0, out = new Float64Array(Math.max(0, w * h)).fill(meta.fill);
  var jobs = [];
  var lc = lead.map(function (v, i) { return Math.floor(v / meta.chunks[i]); });
  var lo = lead.map(function (v, i) { return v % meta.chunks[i]; });
  for (var by = Math.floor(y0 / cy); by * cy < y1; by++) {
    for (var bx = Math.floor(x0 / cx); bx * cx < x1; bx++) {
      jobs.push((function (by, bx) {
        return chunk(meta, lc.concat([by, bx])).then(function (d) {
          if (!d) return;
          var inner = 0;
          for (var i = 0; i < lo.length; i++) inner = inner * meta.chunks[i] + lo[i];
          var base = inner * cy * cx;
          var ya = Math.max(y0, by * cy), yb = Math.min(y1, (by + 1) * cy);
          var xa = Math.max(x0, bx * cx), xb = Math.min(x1, (bx + 1) * cx);
          for (var y = ya; y < yb; y++) {
            var src = base + (y - by * cy) * cx - bx * cx, dst = (y - y0) * w - x0;
            for (var x = xa; x < xb; x++) out[dst + x] = Number(d[src + x]);
          }
        });
      })(by, bx));
    }
  }
  await Promise.all(jobs);
  return out;
}

// ------------------------------------------------------------ images
function hexRgb(h) { var n = parseInt(h, 16); return [(n >> 16) & 255, (n >> 8) & 255, n & 255]; }
var PALETTE = ["00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00"];

async function openImage(path) {
  var g = await groupAttrs(path);
  if (!g || !g.ome.multiscales) throw new Error("no multiscales at " + path);
  var ms = g.ome.multiscales[0];
  var axes = ms.axes.map(function (a) { return typeof a === "string" ? { name: a } : a; });
  var ci = axes.findIndex(function (a) { return a.type === "channel"; });
  var zi = axes.findIndex(function (a) { return a.name === "z"; });
  var img = { path: path, ms: ms, axes: axes, ci: ci, zi: zi, metas: [], omero: g.ome.omero };
  var m0 = await level(img, 0);
  var nc = ci >= 0 ? m0.shape[ci] : 1;
  var oc = (img.omero && img.omero.channels) || [];
  img.channels = [];
  for (var c = 0; c < nc; c++) {
    var o = oc[c] || {}, win = o.window || { min: 0, max: 65535, start: 0, end: 65535 };
    img.channels.push({ label: o.label || "Channel " + c, active: o.active !== false,
      color: o.color || (nc === 1 ? "FFFFFF" : PALETTE[c % 6]), start: win.start, end: win.end,
      min: win.min, max: win.max });
  }
  return img;
}
function level(img, l) {
  if (!img.metas[l]) img.metas[l] = arrayMeta(jpath(img.path, img.ms.datasets[l].path));
  return img.metas[l];
}
function leadOf(img, meta, c, z) {
  var lead = [];
  for (var i = 0; i < meta.shape.length - 2; i++) {
    lead.push(i === img.ci ? c : i === img.zi ? Math.min(z, meta.shape[i] - 1) : 0);
  }
  return lead;
}
function composite(img, planes, n) {
  var px = new Uint8ClampedArray(n * 4);
  for (var i = 0; i < n; i++) px[i * 4 + 3] = 255;
  img.channels.forEach(function (ch, c) {
    var d = planes[c];
    if (!ch.active || !d) return;
    var rgb = hexRgb(ch.color), span = Math.max(1e-9, ch.end - ch.start);
    for (var i = 0; i < n; i++) {
      var v = (d[i] - ch.start) / span;
      if (v <= 0) continue;
      if (v > 1) v = 1;
      px[i * 4] += v * rgb[0]; px[i * 4 + 1] += v * rgb[1]; px[i * 4 + 2] += v * rgb[2];
    }
  });
  return px;
}
async function renderRegion(img, l, z, y0, y1, x0, x1) {
  var meta = await level(img, l);
  var planes = await Promise.all(img.channels.map(function (ch, c) {
    return ch.active ? region(meta, leadOf(img, meta, c, z), y0, y1, x0, x1) : null;
  }));
  var w = x1 - x0, h = y1 - y0;
  var canvas = document.createElement("canvas");
  canvas.width = Math.max(1, w); canvas.height = Math.max(1, h);
  if (w > 0 && h > 0) {
    canvas.getContext("2d").putImageData(new ImageData(composite(img, planes, w * h), w, h), 0, 0);
  }
  return { canvas: canvas, planes: planes };
}

// ------------------------------------------------------------ plate grid
var plateRoot = null;
function rowIndex(name) {
  var n = 0;
  for (var i = 0; i < name.length; i++) n = n * 26 + (name.charCodeAt(i) - 64);
  return n - 1;
}
async function loadPlate() {
  var g = await groupAttrs("");
  if (!g) { status("no Zarr group at the plate root"); return; }
  var plate = g.ome.plate;
  if (!plate) {
    if (g.ome.multiscales) { plateRoot = {}; status("one image"); return openWell("", [""]); }
    status("the root is neither a plate nor an image"); return;
  }
  plateRoot = plate;
  $("#plate-name").textContent = plate.name || "";
  var grid = $("#grid");
  grid.style.gridTemplateColumns = "24px repeat(" + plate.columns.length + ", 96px)";
  grid.innerHTML = "";
  plate.columns.forEach(function (c, i) {
    var e = document.createElement("div"); e.className = "label"; e.textContent = c.name;
    e.style.gridRow = "1"; e.style.gridColumn = String(i + 2); grid.appendChild(e);
  });
  plate.rows.forEach(function (r, i) {
    var e = document.createElement("div"); e.className = "label"; e.textContent = r.name;
    e.style.gridRow = String(i + 2); e.style.gridColumn = "1"; grid.appendChild(e);
    plate.columns.forEach(function (_c, j) {
      var cell = document.createElement("div"); cell.className = "cell empty";
      cell.style.gridRow = String(i + 2); cell.style.gridColumn = String(j + 2);
      cell.id = "cell-" + i + "-" + j; grid.appendChild(cell);
    });
  });
  grid.style.gridTemplateRows = "20px";
  var todo = plate.wells.slice(), done = 0, failed = [];
  status(todo.length + " wells");
  async function worker() {
    while (todo.length) {
      var w = todo.shift();
      var cell = $("#cell-" + w.rowIndex + "-" + w.columnIndex);
      cell.className = "cell"; cell.dataset.well = w.path;
      var lab = document.createElement("span"); lab.textContent = w.path.replace("/", "");
      cell.replaceChildren(lab); // names come from stored metadata: text, never markup
      cell.onclick = (function (p) { return function () { openWell(p); }; })(w.path);
      try { await thumbnail(cell, w.path); } catch (e) { cell.title = String(e); failed.push(e); }
      done++;
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  status(done + " wells" + (failed.length ? "; " + failed.length + " failed: " + failed[0] : ""));
  document.body.dataset.plateReady = "1";
}
async function wellImages(path) {
  var g = await groupAttrs(path);
  var well = g && g.ome.well;
  return well ? well.images.map(function (i) { return jpath(path, i.path); }) : [];
}
async function thumbnail(cell, path) {
  var fields = await wellImages(path);
  if (!fields.length) return;
  var img = await openImage(fields[0]);
  var l = img.ms.datasets.length - 1, meta = await level(img, l);
  var nd = meta.shape.length;
  var r = await renderRegion(img, l, 0, 0, meta.shape[nd - 2], 0, meta.shape[nd - 1]);
  r.canvas.title = path;
  cell.appendChild(r.canvas);
}

// ------------------------------------------------------------ well / field view
var view = null;
var canvas = $("#view"), ctx = canvas.getContext("2d");
function show(which) {
  ["plate", "well", "live"].forEach(function (t) {
    $("#" + t + "-view").hidden = t !== which;
    $("#tab-" + t).className = t === which ? "on" : "";
  });
  if (which === "live") startLive();
}
async function openWell(path, fields) {
  fields = fields || await wellImages(path);
  $("#tab-well").disabled = false;
  $("#well-name").textContent = path ? "Well " + path.replace("/", "") : "Image";
  var box = $("#fields"); box.innerHTML = "";
  fields.forEach(function (f, i) {
    var b = document.createElement("button"); b.textContent = "field " + i;
    b.className = "field-btn"; b.dataset.field = String(i);
    b.onclick = function () { openField(f, i); };
    box.appendChild(b);
  });
  show("well");
  if (fields.length) await openField(fields[0], 0);
}
async function openField(path, i) {
  document.querySelectorAll(".field-btn").forEach(function (b) {
    b.classList.toggle("on", b.dataset.field === String(i));
  });
  var img = await openImage(path);
  var m0 = await level(img, 0), nd = m0.shape.length;
  view = { img: img, H: m0.shape[nd - 2], W: m0.shape[nd - 1], z: 0, gen: 0, last: null };
  var nz = img.zi >= 0 ? m0.shape[img.zi] : 1, zr = $("#z");
  $("#z-box").hidden = nz <= 1;
  zr.max = String(nz - 1); zr.value = "0"; $("#z-value").textContent = "0";
  zr.oninput = function () {
    view.z = Number(zr.value); $("#z-value").textContent = zr.value; draw();
  };
  fit();
  channelControls(img);
  await draw();
}
function fit() {
  view.zoom = Math.min(canvas.width / view.W, canvas.height / view.H);
  view.cx = view.W / 2; view.cy = view.H / 2;
}
function channelControls(img) {
  var box = $("#channels"); box.innerHTML = "";
  img.channels.forEach(function (ch, c) {
    var d = document.createElement("div"); d.className = "chan";
    d.innerHTML = "<label><input type=checkbox class=ch-toggle data-channel=" + c + "> " +
      "<input type=color class=ch-color> <span></span></label>" +
      "<input type=range class=ch-start title=start> <input type=range class=ch-end title=end>";
    var t = d.querySelector(".ch-toggle"); t.checked = ch.active;
    d.querySelector("span").textContent = ch.label;
    var col = d.querySelector(".ch-color"); col.value = "#" + ch.color.toLowerCase();
    var s = d.querySelector(".ch-start"), e = d.querySelector(".ch-end");
    [s, e].forEach(function (r) { r.min = String(ch.min); r.max = String(ch.max); r.step = "any"; });
    s.value = String(ch.start); e.value = String(ch.end);
    t.onchange = function () { ch.active = t.checked; draw(); };
    col.oninput = function () { ch.color = col.value.slice(1); draw(); };
    s.oninput = function () { ch.start = Number(s.value); draw(); };
    e.oninput = function () { ch.end = Number(e.value); draw(); };
    box.appendChild(d);
  });
}
function levelFor(zoom, n) {
  var l = Math.floor(Math.log2(1 / zoom) + 1e-9);
  return Math.max(0, Math.min(n - 1, l));
}
async function draw() {
  if (!view) return;
  var gen = ++view.gen, img = view.img;
  var l = levelFor(view.zoom, img.ms.datasets.length), meta = await level(img, l);
  var nd = meta.shape.length, Hl = meta.shape[nd - 2], Wl = meta.shape[nd - 1];
  var ds = view.W / Wl, dsy = view.H / Hl, cw = canvas.width, chh = canvas.height;
  var vx0 = view.cx - cw / 2 / view.zoom, vx1 = view.cx + cw / 2 / view.zoom;
  var vy0 = view.cy - chh / 2 / view.zoom, vy1 = view.cy + chh / 2 / view.zoom;
  var x0 = Math.max(0, Math.floor(vx0 / ds)), x1 = Math.min(Wl, Math.ceil(vx1 / ds));
  var y0 = Math.max(0, Math.floor(vy0 / dsy)), y1 = Math.min(Hl, Math.ceil(vy1 / dsy));
  var r = await renderRegion(img, l, view.z, y0, y1, x0, x1);
  if (gen !== view.gen) return;
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, cw, chh);
  if (x1 > x0 && y1 > y0) {
    ctx.drawImage(r.canvas, (x0 * ds - view.cx) * view.zoom + cw / 2,
      (y0 * dsy - view.cy) * view.zoom + chh / 2, (x1 - x0) * ds * view.zoom,
      (y1 - y0) * dsy * view.zoom);
  }
  view.last = { l: l, ds: ds, dsy: dsy, x0: x0, y0: y0, w: x1 - x0, h: y1 - y0, planes: r.planes };
  $("#level").textContent = "level " + l + " (" + Wl + "×" + Hl + "), zoom " +
    view.zoom.toFixed(3);
  canvas.dataset.level = String(l);
  document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);
}
canvas.addEventListener("mousemove", function (ev) {
  if (!view || !view.last) return;
  var rect = canvas.getBoundingClientRect();
  var mx = (ev.clientX - rect.left) * canvas.width / rect.width;
  var my = (ev.clientY - rect.top) * canvas.height / rect.height;
  if (drag) {
    view.cx = drag.cx - (mx - drag.x) / view.zoom; view.cy = drag.cy - (my - drag.y) / view.zoom;
    schedule(); return;
  }
  var x = view.cx + (mx - canvas.width / 2) / view.zoom;
  var y = view.cy + (my - canvas.height / 2) / view.zoom;
  var L = view.last, lx = Math.floor(x / L.ds) - L.x0, ly = Math.floor(y / L.dsy) - L.y0;
  if (lx < 0 || ly < 0 || lx >= L.w || ly >= L.h) { $("#pixel").textContent = ""; return; }
  var parts = view.img.channels.map(function (ch, c) {
    return L.planes[c] ? ch.label + " " + L.planes[c][ly * L.w + lx] : null;
  }).filter(Boolean);
  $("#pixel").textContent = "x " + Math.floor(x) + ", y " + Math.floor(y) +
    (view.img.zi >= 0 ? ", z " + view.z : "") + " (level " + L.l + "): " + parts.join(", ");
});
var drag = null, pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(function () { pending = false; draw(); });
}
canvas.addEventListener("mousedown", function (ev) {
  var rect = canvas.getBoundingClientRect();
  drag = { x: (ev.clientX - rect.left) * canvas.width / rect.width,
    y: (ev.clientY - rect.top) * canvas.height / rect.height, cx: view.cx, cy: view.cy };
});
window.addEventListener("mouseup", function () { drag = null; });
canvas.addEventListener("wheel", function (ev) {
  ev.preventDefault(); view.zoom *= ev.deltaY < 0 ? 1.25 : 0.8; schedule();
}, { passive: false });
$("#zoom-in").onclick = function () { view.zoom *= 2; draw(); };
$("#zoom-out").onclick = function () { view.zoom /= 2; draw(); };
$("#zoom-fit").onclick = function () { fit(); draw(); };
$("#back").onclick = function () { show("plate"); };
$("#tab-plate").onclick = function () { show("plate"); };
$("#tab-well").onclick = function () { show("well"); };
$("#tab-live").onclick = function () { show("live"); };

// ------------------------------------------------------------ live
var live = null;
window.__live = { received: 0, dropped: 0, planes: [] };
function startLive() {
  if (live) return;
  live = new EventSource("live/events");
  var cells = new Map(), grid = $("#live-grid"), st = $("#live-status");
  grid.style.gridTemplateColumns = "repeat(24, 72px)";
  live.addEventListener("hello", function () { document.body.dataset.live = "1"; });
  live.addEventListener("plane", function (ev) {
    var f = JSON.parse(ev.data), k = f.coords || {};
    window.__live.received++;
    window.__live.planes.push({ seq: f.seq, path: f.path, well: k.well, field: k.field });
    var key = k.well || "?";
    var cell = cells.get(key);
    if (!cell) {
      cell = document.createElement("div"); cell.className = "live-cell"; cell.dataset.well = key;
      var lbl = document.createElement("span"); lbl.textContent = key; cell.appendChild(lbl);
      if (k.row) cell.style.gridRow = String(rowIndex(k.row) + 1);
      if (k.column) cell.style.gridColumn = String(Number(k.column));
      grid.appendChild(cell); cells.set(key, cell);
    }
    var fk = String(k.field === undefined ? 0 : k.field);
    var tile = cell.querySelector("canvas[data-field='" + fk + "']");
    if (!tile) {
      // Fields sit at their position in a 2×2 layout of the well (fields 4+ wrap around).
      tile = document.createElement("canvas"); tile.dataset.field = fk;
      var fi = Number(fk) % 4;
      tile.style.left = (fi % 2) * 50 + "%"; tile.style.top = Math.floor(fi / 2) * 50 + "%";
      cell.appendChild(tile);
    }
    tile.dataset.count = String(Number(tile.dataset.count || 0) + 1);
    tile.title = f.path;
    if (f.preview) {
      var p = f.preview, bin = atob(p.data), n = p.width * p.height;
      var px = new Uint8ClampedArray(n * 4);
      for (var i = 0; i < n; i++) {
        var v = bin.charCodeAt(i);
        px[i * 4] = v; px[i * 4 + 1] = v; px[i * 4 + 2] = v; px[i * 4 + 3] = 255;
      }
      tile.width = p.width; tile.height = p.height;
      tile.getContext("2d").putImageData(new ImageData(px, p.width, p.height), 0, 0);
    }
    st.textContent = window.__live.received + " planes received; last " + f.path;
  });
}

if (location.hash === "#live") show("live");
loadPlate().catch(function (e) { status(String(e)); });
})();
`;
