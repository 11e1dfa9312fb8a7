/**
 * The web monitor's HTML shell, served at `/`. Its script (`/monitor.js`, server/monitoring/web/app/) connects back to
 * the broker over WebSocket, subscribes to `$SYS.>` and fills in the elements named by their ids here.
 */
import { VERSION } from '../../version.ts'

/** Escapes text for an HTML attribute or element. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE = `
:root { color-scheme: dark; --bg:#0f1420; --panel:#171e2e; --line:#263049; --text:#dde3ee; --dim:#8a94a6;
  --in:#4fc3f7; --out:#81c784; --warn:#ffb74d; --bad:#ef5350; }
* { box-sizing: border-box }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.4 system-ui, -apple-system, Segoe UI, sans-serif }
header { display:flex; gap:16px; align-items:baseline; flex-wrap:wrap; padding:14px 20px; border-bottom:1px solid var(--line) }
header h1 { font-size:18px; margin:0 } header .dim { color:var(--dim) }
.badge { padding:2px 8px; border-radius:10px; font-size:12px; background:var(--line) }
.badge.live { background:#1b5e20 } .badge.down { background:#8e2424 } .badge.ready { background:#1b5e20 }
.badge.draining, .badge.starting { background:#8a5a00 }
main { padding:16px 20px; display:grid; gap:14px; grid-template-columns: repeat(12, 1fr) }
.tiles { grid-column: 1 / -1; display:grid; gap:10px; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)) }
.tile { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:10px 12px }
.tile .v { font-size:22px; font-variant-numeric: tabular-nums; font-weight:600 } .tile .k { color:var(--dim); font-size:12px }
.panel { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:10px 12px; min-width:0 }
.panel h2 { font-size:13px; font-weight:600; margin:0 0 6px; color:var(--dim); text-transform:uppercase; letter-spacing:.04em }
.wide { grid-column: span 6 } .third { grid-column: span 4 }
@media (max-width: 1000px) { .wide, .third { grid-column: 1 / -1 } }
canvas { width:100%; height:190px; display:block }
table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums }
td, th { text-align:left; padding:3px 6px; border-bottom:1px solid var(--line); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; max-width:260px }
th { color:var(--dim); font-weight:500; font-size:12px } td.n, th.n { text-align:right }
.empty { color:var(--dim); font-style:italic; padding:6px 0 }
.topic { padding:4px 0 6px; border-bottom:1px solid var(--line) } .topic:last-child { border-bottom:0 }
.topic .head { display:flex; gap:10px; align-items:baseline } .topic .seq { margin-left:auto; font-variant-numeric: tabular-nums }
.fill { display:grid; grid-template-columns: 70px 1fr 170px; gap:8px; align-items:center; font-size:12px }
.fill .k { color:var(--dim) } .fill .n { text-align:right; font-variant-numeric: tabular-nums }
.track { height:8px; background:var(--line); border-radius:4px; overflow:hidden }
.level { height:100%; background:var(--in) } .level.warn { background:var(--warn) }
.group { font-size:12px; color:var(--dim) } .group b { color:var(--text); font-weight:500 } .group.warn { color:var(--warn) }
.dim { color:var(--dim) }
#noscript { margin:20px; color:var(--warn) }
.warn { color:var(--warn) } .bad { color:var(--bad) }
#sign-in { position:fixed; inset:0; display:grid; place-items:center; background:rgba(8,11,18,.86); z-index:10 }
#sign-in[hidden] { display:none }
#sign-in .box { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:18px 20px; width:min(380px, 92vw); display:grid; gap:8px }
#sign-in h2 { margin:0 0 4px; font-size:15px } #sign-in label { display:grid; gap:2px; font-size:12px; color:var(--dim) }
#sign-in input { font:inherit; padding:6px 8px; background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:4px }
#sign-in button, #sign-out { font:inherit; padding:6px 10px; background:var(--line); color:var(--text); border:0; border-radius:4px; cursor:pointer }
#sign-in-error { color:var(--warn); min-height:1.2em; font-size:12px }
`

const BODY = `
<header>
  <h1>subwire monitor</h1>
  <span id="server-name" class="dim">…</span>
  <span id="server-version" class="dim"></span>
  <span id="server-url" class="dim"></span>
  <span id="server-state" class="badge">…</span>
  <span class="dim">up <span id="server-uptime">–</span></span>
  <span style="flex:1"></span>
  <span class="dim">page ↔ broker:</span> <span id="link-status" class="badge">connecting</span>
  <button id="sign-out" type="button" hidden>sign out</button>
</header>
<form id="sign-in" hidden autocomplete="off"><div class="box">
  <h2>This broker asks for a credential</h2>
  <div class="dim">A token (or a user and password) whose permissions include <code>monitor</code>. It is kept for this tab only.</div>
  <label>token <input id="sign-in-token" type="password" autocomplete="off"></label>
  <div class="dim">or</div>
  <label>user <input id="sign-in-user" type="text" autocomplete="username"></label>
  <label>password <input id="sign-in-password" type="password" autocomplete="current-password"></label>
  <div id="sign-in-error"></div>
  <button id="sign-in-submit" type="submit">show the monitor</button>
</div></form>
<p id="noscript">Loading the monitor's script (<a href="monitor.js">monitor.js</a>)… If this stays, the script did not load:
open that link to see why. The JSON behind this page is at <a href="stats">stats</a>, metrics at <a href="metrics">metrics</a>.</p>
<main>
  <section class="tiles">
    <div class="tile"><div class="v" id="v-published">–</div><div class="k">messages in / s</div></div>
    <div class="tile"><div class="v" id="v-delivered">–</div><div class="k">deliveries / s</div></div>
    <div class="tile"><div class="v" id="v-bytes-in">–</div><div class="k">bytes in / s</div></div>
    <div class="tile"><div class="v" id="v-bytes-out">–</div><div class="k">bytes out / s</div></div>
    <div class="tile"><div class="v" id="v-connections">–</div><div class="k">connections</div></div>
    <div class="tile"><div class="v" id="v-subscriptions">–</div><div class="k">subscriptions</div></div>
    <div class="tile"><div class="v" id="v-pending">–</div><div class="k">pending bytes</div></div>
    <div class="tile"><div class="v" id="v-slow">–</div><div class="k">slow consumers (total)</div></div>
    <div class="tile"><div class="v" id="v-unmatched">–</div><div class="k">unmatched publishes</div></div>
    <div class="tile"><div class="v" id="v-lag">–</div><div class="k">event-loop lag p99</div></div>
    <div class="tile"><div class="v" id="v-rss">–</div><div class="k">memory (RSS)</div></div>
  </section>
  <section class="panel wide"><h2>Throughput (messages / s)</h2><canvas id="chart-msgs"></canvas></section>
  <section class="panel wide"><h2>Connections and subscriptions</h2><canvas id="chart-conns"></canvas></section>
  <section class="panel wide"><h2>Bandwidth (bytes / s)</h2><canvas id="chart-bytes"></canvas></section>
  <section class="panel wide"><h2>Topics</h2><div id="topics"></div></section>
  <section class="panel wide"><h2>Cluster</h2><div id="cluster"></div></section>
  <section class="panel third"><h2>Most-subscribed subjects</h2><div id="top-subjects"></div></section>
  <section class="panel third"><h2>Slow consumers (latest)</h2><div id="slow-consumers"></div></section>
  <section class="panel third"><h2>Connection events</h2><div id="conn-events"></div></section>
</main>
`

/**
 * The page; `wsPath` is where the broker accepts WebSocket upgrades (the page connects back to it), and
 * `authRequired` tells the script to ask for a credential before it loads anything.
 */
export function monitorPageHtml(wsPath: string, authRequired = false): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="subwire-ws-path" content="${escapeHtml(wsPath)}">
<meta name="subwire-auth" content="${authRequired ? 'required' : 'none'}">
<link rel="icon" href="data:,"><title>subwire monitor</title><style>${STYLE}</style></head>
<body data-version="${escapeHtml(VERSION)}">${BODY}<script type="module" src="monitor.js"></script></body></html>
`
}
