/**
 * The viewer page's HTML and CSS (no external resources: it works offline).
 * The script is in `client.ts`, served as `/viewer.js`.
 *
 * @module
 */

/** The page served at `/`. */
export const PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hcs-store viewer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { color-scheme: dark; --bg: #16181c; --panel: #22252b; --fg: #e6e6e6; --mute: #8a8f98; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--fg); font: 13px/1.4 system-ui, sans-serif; }
  header { height: 40px; display: flex; align-items: center; gap: 12px; padding: 0 12px;
    background: var(--panel); border-bottom: 1px solid #000; }
  header h1 { font-size: 14px; margin: 0; font-weight: 600; }
  header nav button { background: none; color: var(--mute); border: 0; padding: 10px 8px;
    font: inherit; cursor: pointer; border-bottom: 2px solid transparent; }
  header nav button.on { color: var(--fg); border-bottom-color: #4aa3ff; }
  #status { margin-left: auto; color: var(--mute); }
  main { padding: 12px; }
  [hidden] { display: none !important; }
  .grid { display: grid; gap: 4px; grid-auto-rows: 96px; grid-template-columns: 24px; }
  .grid .label { color: var(--mute); display: flex; align-items: center; justify-content: center; }
  .grid .cell { width: 96px; height: 96px; background: #0c0d0f; border: 1px solid #2c3038;
    cursor: pointer; padding: 0; position: relative; }
  .grid .cell canvas { width: 100%; height: 100%; display: block; image-rendering: pixelated; }
  .grid .cell.empty { cursor: default; background: var(--bg); border-style: dashed; }
  .grid .cell span { position: absolute; left: 3px; top: 1px; font-size: 10px; color: #fff8;
    pointer-events: none; }
  #well-view { display: flex; gap: 12px; align-items: flex-start; }
  #side { width: 260px; display: flex; flex-direction: column; gap: 8px; }
  #side button, #side select { font: inherit; }
  .fields { display: flex; flex-wrap: wrap; gap: 4px; }
  .fields button.on { outline: 2px solid #4aa3ff; }
  .chan { background: var(--panel); padding: 6px; border-radius: 4px; }
  .chan label { display: flex; gap: 6px; align-items: center; }
  .chan input[type=range] { width: 100%; }
  #view { width: 512px; height: 512px; background: #000; cursor: grab; image-rendering: pixelated; }
  #pixel, #level { color: var(--mute); font-variant-numeric: tabular-nums; min-height: 1.4em; }
  .live-grid { grid-auto-rows: 72px; }
  .live-cell { width: 72px; height: 72px; background: #0c0d0f; border: 1px solid #2c3038;
    display: flex; flex-wrap: wrap; position: relative; }
  .live-cell canvas { position: absolute; width: 50%; height: 50%; image-rendering: pixelated; }
  .live-cell span { position: absolute; left: 2px; top: 0; font-size: 10px; color: #fff8;
    z-index: 1; }
</style>
</head>
<body>
<header>
  <h1>hcs-store viewer</h1>
  <nav>
    <button id="tab-plate" class="on">Plate</button>
    <button id="tab-well" disabled>Well</button>
    <button id="tab-live">Live</button>
  </nav>
  <span id="status">loading…</span>
</header>
<main>
  <section id="plate-view"><div id="plate-name"></div><div id="grid" class="grid"></div></section>
  <section id="well-view" hidden>
    <div id="side">
      <div id="well-name"></div>
      <div id="fields" class="fields"></div>
      <div>
        <button id="zoom-in" title="zoom in">+</button>
        <button id="zoom-out" title="zoom out">−</button>
        <button id="zoom-fit" title="fit">fit</button>
        <button id="back">back to plate</button>
      </div>
      <div id="level"></div>
      <label id="z-box" hidden>z <input type="range" id="z" min="0" max="0" step="1" value="0">
        <span id="z-value">0</span></label>
      <div id="pixel"></div>
      <div id="channels"></div>
    </div>
    <canvas id="view" width="512" height="512"></canvas>
  </section>
  <section id="live-view" hidden>
    <div id="live-status">waiting for planes…</div>
    <div id="live-grid" class="grid live-grid"></div>
  </section>
</main>
<script src="viewer.js"></script>
</body>
</html>
`;
