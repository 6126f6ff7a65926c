// SPDX-License-Identifier: Apache-2.0
// ember's web UI: Spark's UI pages drawn in the browser from the REST API (/api/v1, Spark's JSON).
//
// The server sends index.html for every page path, Spark's: /jobs/, /jobs/job/?id=N, /stages/,
// /stages/stage/?id=N&attempt=M, /storage/, /storage/rdd/?id=N, /environment/, /executors/. In the
// History Server the same pages live under /history/<appId>/, and / (or /history/) lists the
// applications. This script reads the path, fetches what the page needs and draws it; while the
// application runs it fetches and redraws every 2 s, and stops once the application completed.
//
// Text from the API (names come from user code) only ever enters the DOM as text nodes or
// attribute values: nothing here assigns innerHTML.
'use strict';

(() => {
  const API = '/api/v1';
  const REFRESH_MS = 2000;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // -- DOM helpers -----------------------------------------------------------------------------

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'style' && typeof v === 'object') Object.assign(e.style, v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function appendKids(e, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === undefined || k === null || k === false) continue;
      e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  /** An HTML element: h('a', {href: '/jobs/'}, 'Jobs'). Strings become text nodes. */
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    return appendKids(e, kids);
  }

  /** An SVG element, as h(). */
  function sv(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    return appendKids(e, kids);
  }

  // -- formatting (as Spark's UIUtils) ---------------------------------------------------------

  /** Milliseconds since the epoch from the API's "2024-05-01T12:00:00.123GMT"; NaN if absent. */
  function parseDate(s) {
    if (s === undefined || s === null || s === '') return NaN;
    if (typeof s === 'number') return s;
    return Date.parse(String(s).replace(/GMT$/, 'Z'));
  }

  const pad2 = (n) => String(n).padStart(2, '0');

  function fmtDate(ms) {
    if (!Number.isFinite(ms)) return '';
    const d = new Date(ms);
    return `${d.getFullYear()}/${pad2(d.getMonth() + 1)}/${pad2(d.getDate())} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function fmtClock(ms) {
    const d = new Date(ms);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function fmtDuration(ms) {
    if (!Number.isFinite(ms) || ms < 0) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    if (s < 3600) return `${(s / 60).toFixed(1)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  function fmtBytes(n) {
    if (!Number.isFinite(n)) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n;
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v.toFixed(1)} ${units[i]}`;
  }

  /** Bytes, blank when zero (Spark leaves empty input/output/shuffle cells blank). */
  const bytesOrBlank = (n) => (n ? fmtBytes(n) : '');

  function bytesRecords(bytes, records) {
    if (!bytes && !records) return '';
    return `${fmtBytes(bytes || 0)} / ${records || 0}`;
  }

  const num = (v) => (Number.isFinite(v) ? v : 0);

  /** "javaVersion" -> "Java Version". */
  const humanize = (k) => k.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());

  // -- fetching --------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(url, status, text) {
      super(`${url}: HTTP ${status}${text ? ` (${text.trim().slice(0, 200)})` : ''}`);
      this.status = status;
    }
  }

  async function getJson(url) {
    const r = await fetch(url, {cache: 'no-store', headers: {Accept: 'application/json'}});
    if (!r.ok) throw new HttpError(url, r.status, await r.text().catch(() => ''));
    return r.json();
  }

  /** GET /api/v1/applications/<appId>/<path>. */
  const api = (path) =>
    getJson(`${API}/applications/${encodeURIComponent(state.appId)}${path ? `/${path}` : ''}`);

  /** The promise's value, or `fallback` if it fails (optional data: executors, stage graph...). */
  const optional = (p, fallback = null) => p.catch(() => fallback);

  // -- routing ---------------------------------------------------------------------------------

  const PAGES = {
    '/jobs': 'jobs', '/jobs/job': 'job', '/stages': 'stages', '/stages/stage': 'stage',
    '/storage': 'storage', '/storage/rdd': 'rdd', '/environment': 'environment', '/executors': 'executors',
  };
  const TABS = [['jobs', 'Jobs'], ['stages', 'Stages'], ['storage', 'Storage'],
    ['environment', 'Environment'], ['executors', 'Executors']];
  const TAB_OF = {job: 'jobs', stage: 'stages', rdd: 'storage'};

  /** {page, appId, base}: base prefixes every page link ('' live, '/history/<id>' in the History Server). */
  function parseRoute(pathname) {
    let path = pathname;
    let appId = null;
    let base = '';
    const m = /^\/history\/([^/]+)(\/.*)?$/.exec(path);
    if (m) {
      appId = decodeURIComponent(m[1]);
      base = `/history/${m[1]}`;
      path = m[2] || '/';
    } else if (path === '/' || path === '/history' || path === '/history/' || path === '/index.html') {
      return {page: 'apps', appId: null, base: ''};
    }
    const key = path.replace(/\/+$/, '') || '/jobs';
    return {page: PAGES[key] || 'jobs', appId, base};
  }

  const link = (page, params) =>
    `${state.route.base}/${page}/${params ? `?${new URLSearchParams(params)}` : ''}`;
  const query = () => new URLSearchParams(location.search);
  const intParam = (name, dflt) => {
    const v = parseInt(query().get(name), 10);
    return Number.isFinite(v) ? v : dflt;
  };

  // -- state and the refresh loop --------------------------------------------------------------

  const state = {
    route: null,
    appId: null,
    app: null, // ApplicationInfo
    timer: 0,
    generation: 0,
    sort: {}, // table id -> {col, desc}
    collapsed: {}, // section id -> bool
    open: new Set(), // ids of <details> the user opened
  };

  const attempt0 = () => (state.app && state.app.attempts && state.app.attempts[0]) || {};
  const appCompleted = () => !!attempt0().completed;
  /** The time "now" for durations: the app's end once it completed. */
  function now() {
    const end = parseDate(attempt0().endTime);
    return appCompleted() && Number.isFinite(end) && end > 0 ? end : Date.now();
  }

  /** Fetches and redraws the page; schedules the next refresh while the application runs. */
  async function refresh() {
    clearTimeout(state.timer);
    const gen = ++state.generation;
    let again = true;
    try {
      let view;
      if (state.route.page === 'apps') {
        view = await pageApps();
        again = false;
      } else {
        if (!state.appId) {
          const apps = await getJson(`${API}/applications`);
          if (!apps.length) throw new Error('the driver reports no application yet');
          state.appId = apps[0].id;
        }
        state.app = await api('');
        view = await PAGE_FNS[state.route.page]();
        again = !appCompleted();
      }
      if (gen !== state.generation) return; // a newer refresh started meanwhile
      document.title = view.title;
      document.getElementById('content').replaceChildren(view.node);
      restoreOpen();
      showBanner(null);
      drawNav();
    } catch (e) {
      if (gen !== state.generation) return;
      drawNav();
      if (e instanceof HttpError && e.status === 404) {
        document.getElementById('content').replaceChildren(h('p', {class: 'note error'}, `Not found: ${e.message}`));
        again = false;
      } else {
        showBanner(`Cannot load this page: ${e.message}. ${again ? 'Retrying…' : ''}`);
      }
    }
    if (again) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  function showBanner(text) {
    const b = document.getElementById('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  function drawNav() {
    const r = state.route;
    const brand = document.getElementById('brand');
    brand.setAttribute('href', r.page === 'apps' || r.base ? '/' : '/jobs/');
    const tabs = document.getElementById('tabs');
    const name = document.getElementById('app-name');
    const st = document.getElementById('app-state');
    if (r.page === 'apps') {
      tabs.replaceChildren();
      name.textContent = 'History Server';
      name.className = '';
      st.textContent = '';
      return;
    }
    const current = TAB_OF[r.page] || r.page;
    tabs.replaceChildren(...TABS.map(([page, title]) =>
      h('a', {href: link(page), class: page === current ? 'active' : null}, title)));
    name.textContent = state.app ? state.app.name : '';
    name.className = 'app';
    name.title = state.app ? `${state.app.name} (${state.app.id})` : '';
    st.className = appCompleted() ? 'completed' : 'live';
    st.textContent = appCompleted() ? 'completed' : 'running';
    st.title = appCompleted() ? 'The application completed: this page no longer refreshes'
      : `Refreshes every ${REFRESH_MS / 1000} s`;
  }

  /** Re-opens the <details> the user had opened before a redraw. */
  function restoreOpen() {
    for (const d of document.querySelectorAll('details[data-key]')) {
      if (state.open.has(d.dataset.key)) d.open = true;
    }
  }

  function details(key, summary, ...body) {
    const d = h('details', {'data-key': key}, h('summary', null, summary), ...body);
    d.addEventListener('toggle', () => (d.open ? state.open.add(key) : state.open.delete(key)));
    return d;
  }

  // -- building blocks: sections, tables, progress bars ----------------------------------------

  /** A collapsible titled block (Spark's "▾ Active Jobs (2)"); remembers its state across redraws. */
  function section(id, title, body, collapsedByDefault = false) {
    const collapsed = id in state.collapsed ? state.collapsed[id] : collapsedByDefault;
    const wrap = h('section', {class: `section${collapsed ? ' collapsed' : ''}`, id},
      h('h4', {class: 'section-head'}, h('span', {class: 'arrow'}), title),
      h('div', {class: 'section-body'}, body));
    wrap.firstChild.addEventListener('click', () => {
      state.collapsed[id] = wrap.classList.toggle('collapsed');
    });
    return wrap;
  }

  const compare = (a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  };

  /**
   * A bordered table. cols: [{title, cell: row -> node|string, key?: row -> sort value, cls?, tip?}].
   * Clicking a header with a key sorts by it (kept across redraws). opts.sort = default
   * {col, desc}; opts.rowAttrs(row) gives the <tr>'s attributes; opts.onSort overrides sorting
   * (server-side sorting of the task table).
   */
  function table(id, allCols, rows, opts = {}) {
    const cols = allCols.filter((c) => c.show !== false);
    const sort = state.sort[id] || opts.sort || null;
    let sorted = rows;
    if (!opts.onSort && sort && cols[sort.col] && cols[sort.col].key) {
      const key = cols[sort.col].key;
      sorted = rows.map((r, i) => [key(r), i, r])
        .sort((a, b) => (sort.desc ? -1 : 1) * compare(a[0], b[0]) || a[1] - b[1])
        .map((x) => x[2]);
    }
    const head = cols.map((c, i) => {
      const sortable = !!(c.key || c.sortBy);
      const active = sort && sort.col === i;
      const th = h('th', {class: [c.cls, sortable ? 'sortable' : null].filter(Boolean).join(' ') || null, title: c.tip,
        style: c.w ? {width: `${c.w}px`} : null},
        c.title, active ? h('span', {class: 'sort-arrow'}, sort.desc ? ' ▾' : ' ▴') : null);
      if (sortable) {
        th.addEventListener('click', () => {
          const next = {col: i, desc: active ? !sort.desc : !!c.descFirst};
          if (opts.onSort) opts.onSort(c, next);
          else {
            state.sort[id] = next;
            refresh();
          }
        });
      }
      return th;
    });
    const body = sorted.map((r) => h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null,
      cols.map((c) => h('td', {class: c.cls}, c.cell(r)))));
    if (!sorted.length) body.push(h('tr', null, h('td', {colspan: cols.length, class: 'empty'}, opts.empty || 'None')));
    return h('div', {class: 'table-wrap'}, h('table', {id, class: 'table'},
      h('thead', null, h('tr', null, head)), h('tbody', null, body)));
  }

  /** Spark's progress bar: succeeded (green) and running (blue) parts of `total`, with the counts. */
  function progress(done, running, total, failed = 0, killed = 0, skipped = 0) {
    const pct = (x) => `${total > 0 ? Math.min(100, (100 * x) / total) : 0}%`;
    let label = `${done}/${total}`;
    if (running) label += ` (${running} running)`;
    if (failed) label += ` (${failed} failed)`;
    if (killed) label += ` (${killed} killed)`;
    if (skipped) label += ` (${skipped} skipped)`;
    return h('div', {class: 'progress', title: label},
      h('div', {class: 'bar done', style: {width: pct(done)}}),
      h('div', {class: 'bar running', style: {width: pct(running)}}),
      h('span', {class: 'progress-label'}, label));
  }

  /** A right-aligned number column: sorted by f(row), shown as fmt(f(row)); `extra` adds fields. */
  const numCol = (title, f, fmt = String, extra = {}) =>
    ({title, key: (r) => num(f(r)), cell: (r) => fmt(num(f(r))), cls: 'num', ...extra});
  /** A "size / records" column, sorted by size. */
  const sizeCol = (title, bytes, records, extra = {}) =>
    ({title, key: (r) => num(bytes(r)), cell: (r) => bytesRecords(bytes(r), records(r)), cls: 'num', ...extra});
  /** A date column from the API's date strings. */
  const dateCol = (title, f, extra = {}) =>
    ({title, key: (r) => parseDate(f(r)) || 0, cell: (r) => fmtDate(parseDate(f(r))), cls: 'nowrap', ...extra});
  /** A count column whose non-zero values stand out (Spark's active and failed task counts). */
  const hotCol = (title, f, hot) =>
    ({title, key: (r) => num(f(r)), cls: 'num', cell: (r) => h('span', {class: f(r) ? hot : null}, String(num(f(r))))});
  const progressOf = (s) => progress(num(s.numCompleteTasks), num(s.numActiveTasks), num(s.numTasks),
    num(s.numFailedTasks), num(s.numKilledTasks));

  /** A definition list of summary facts ([label, value] pairs; pairs with a null value are left out). */
  function summaryList(pairs) {
    return h('ul', {class: 'summary'}, pairs.filter((p) => p && p[1] !== null && p[1] !== undefined && p[1] !== '')
      .map(([k, v]) => h('li', null, h('strong', null, `${k}: `), v)));
  }

  function statusBadge(status) {
    return h('span', {class: `status status-${String(status || 'unknown').toLowerCase().replace(/\s+/g, '-')}`}, status || '');
  }

  /** Duration from a submission date to a completion date (or now while running). */
  function span(start, end) {
    const s = parseDate(start);
    if (!Number.isFinite(s)) return NaN;
    const e = parseDate(end);
    return (Number.isFinite(e) ? e : now()) - s;
  }

  /** A message with the first line visible and the rest behind "+details". */
  function messageCell(key, msg) {
    if (!msg) return '';
    const nl = msg.indexOf('\n');
    if (nl < 0 && msg.length <= 120) return h('span', {class: 'message'}, msg);
    const line = nl < 0 ? msg : msg.slice(0, nl);
    const first = line.length > 100 ? `${line.slice(0, 100)}…` : line;
    return details(key, first, h('pre', {class: 'stack'}, msg));
  }

  const jobLink = (j, text) => h('a', {href: link('jobs/job', {id: j})}, text);
  const stageLink = (s, text) => h('a', {href: link('stages/stage', {id: s.stageId, attempt: s.attemptId})}, text);

  // -- Jobs ------------------------------------------------------------------------------------

  async function pageJobs() {
    const [jobs, execs] = await Promise.all([api('jobs'), optional(api('allexecutors'), [])]);
    const groups = {active: [], completed: [], failed: []};
    for (const j of jobs) {
      if (j.status === 'SUCCEEDED') groups.completed.push(j);
      else if (j.status === 'FAILED') groups.failed.push(j);
      else groups.active.push(j);
    }
    const a = attempt0();
    const start = parseDate(a.startTime);
    const node = h('div', null,
      h('h3', null, `${state.app.name}: Jobs`),
      summaryList([
        ['User', a.sparkUser],
        ['Started', fmtDate(start)],
        ['Total Uptime', fmtDuration(now() - start)],
        ['Active Jobs', h('a', {href: '#active'}, String(groups.active.length))],
        ['Completed Jobs', h('a', {href: '#completed'}, String(groups.completed.length))],
        ['Failed Jobs', groups.failed.length ? h('a', {href: '#failed'}, String(groups.failed.length)) : '0'],
      ]),
      section('timeline', 'Event Timeline', timeline(jobs, execs, start)),
      ['active', 'completed', 'failed'].map((g) => groups[g].length
        ? section(g, `${humanize(g)} Jobs (${groups[g].length})`, jobTable(`job-table-${g}`, groups[g]))
        : null),
      jobs.length ? null : h('p', {class: 'note'}, 'No jobs yet.'));
    return {title: `${state.app.name} - Jobs`, node};
  }

  function jobTable(id, jobs) {
    const totalStages = (j) => (j.stageIds || []).length - num(j.numSkippedStages);
    return table(id, [
      {title: 'Job Id', key: (j) => j.jobId, cell: (j) => jobLink(j.jobId, String(j.jobId)), cls: 'num', w: 80},
      {title: 'Description', key: (j) => j.description || j.name, cell: (j) => [
        jobLink(j.jobId, j.description || j.name),
        j.jobGroup ? h('span', {class: 'muted'}, ` (group ${j.jobGroup})`) : null,
        j.description && j.name ? h('div', {class: 'muted small'}, j.name) : null]},
      dateCol('Submitted', (j) => j.submissionTime, {w: 160}),
      {title: 'Duration', key: (j) => span(j.submissionTime, j.completionTime) || 0, w: 90,
        cell: (j) => fmtDuration(span(j.submissionTime, j.completionTime))},
      {title: 'Stages: Succeeded/Total', key: (j) => num(j.numCompletedStages), w: 170,
        cell: (j) => `${num(j.numCompletedStages)}/${totalStages(j)}` +
          (j.numFailedStages ? ` (${j.numFailedStages} failed)` : '') +
          (j.numSkippedStages ? ` (${j.numSkippedStages} skipped)` : '')},
      {title: 'Tasks (for all stages): Succeeded/Total', key: (j) => num(j.numCompletedTasks),
        cell: (j) => progress(num(j.numCompletedTasks), num(j.numActiveTasks), num(j.numTasks) - num(j.numSkippedTasks),
          num(j.numFailedTasks), num(j.numKilledTasks), num(j.numSkippedTasks)), cls: 'progress-cell', w: 260},
    ], jobs, {sort: {col: 0, desc: true}, rowAttrs: (j) => ({'data-job-id': j.jobId, class: `job-${j.status.toLowerCase()}`})});
  }

  /** Greedy packing of [x0, x1] intervals into rows; sets item.row, returns the number of rows. */
  function packRows(items, gap) {
    const ends = [];
    for (const it of items) {
      let r = ends.findIndex((e) => e + gap <= it.x0);
      if (r < 0) r = ends.push(-Infinity) - 1;
      ends[r] = it.x1;
      it.row = r;
    }
    return ends.length;
  }

  /** Axis ticks: a round step giving at most one tick per `minPx` pixels. */
  function ticks(t0, t1, plotW, minPx) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
    const want = ((t1 - t0) / plotW) * minPx;
    const step = (steps.find((s) => s * 1000 >= want) || 86400) * 1000;
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return out;
  }

  const textWidth = (s, px) => s.length * px * 0.58;

  /**
   * The event timeline (SVG): executors added/removed, and jobs as bars coloured by status. Like
   * Spark's (spark.ui.timeline.jobs.maximum, .executors.maximum) it shows the latest 500 jobs and
   * 250 executor events.
   */
  function timeline(allJobs, execs, appStart) {
    const jobs = [...allJobs].sort((a, b) => b.jobId - a.jobId).slice(0, 500);
    const width = Math.max(600, (document.getElementById('content').clientWidth || 1000) - 4);
    const events = [];
    for (const e of execs) {
      const who = e.id === 'driver' ? 'Driver' : `Executor ${e.id}`;
      const add = parseDate(e.addTime);
      const rm = parseDate(e.removeTime);
      if (Number.isFinite(add)) {
        events.push({t: add, kind: 'added', label: `${who} added`, tip: `${who} added at ${fmtDate(add)} (${e.hostPort || ''})`});
      }
      if (Number.isFinite(rm)) {
        events.push({t: rm, kind: 'removed', label: `${who} removed`,
          tip: `${who} removed at ${fmtDate(rm)}${e.removeReason ? `: ${e.removeReason}` : ''}`});
      }
    }
    const bars = jobs.filter((j) => Number.isFinite(parseDate(j.submissionTime))).map((j) => ({
      job: j, t0: parseDate(j.submissionTime),
      t1: Number.isFinite(parseDate(j.completionTime)) ? parseDate(j.completionTime) : now(),
    }));
    const times = [...events.map((e) => e.t), ...bars.map((b) => b.t0), ...bars.map((b) => b.t1), now()];
    if (Number.isFinite(appStart)) times.push(appStart);
    let t0 = Math.min(...times);
    let t1 = Math.max(...times);
    const padT = Math.max(500, (t1 - t0) * 0.03);
    t0 -= padT;
    t1 += padT;

    const LEFT = 86;
    const RIGHT = 10;
    const plotW = width - LEFT - RIGHT;
    const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * plotW;
    const FONT = 11;

    events.sort((a, b) => a.t - b.t);
    events.splice(0, Math.max(0, events.length - 250));
    for (const ev of events) {
      const w = textWidth(ev.label, FONT) + 10;
      ev.x = x(ev.t);
      ev.flip = ev.x + w > width - RIGHT;
      [ev.x0, ev.x1] = ev.flip ? [ev.x - w, ev.x + 4] : [ev.x - 4, ev.x + w];
    }
    const evRows = Math.max(1, packRows(events, 4));
    bars.sort((a, b) => a.t0 - b.t0);
    for (const b of bars) {
      b.x0 = x(b.t0);
      b.x1 = Math.max(b.x0 + 3, x(b.t1));
    }
    const jobRows = Math.max(1, packRows(bars, 2));

    const EV_ROW = 17;
    const JOB_ROW = 22;
    const laneEv = {y: 0, h: evRows * EV_ROW + 12};
    const laneJob = {y: laneEv.h, h: jobRows * JOB_ROW + 12};
    const axisY = laneJob.y + laneJob.h;
    const height = axisY + 22;

    const svg = sv('svg', {id: 'timeline-svg', class: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`});
    for (const [lane, title] of [[laneEv, 'Executors'], [laneJob, 'Jobs']]) {
      svg.append(sv('rect', {class: 'lane', x: 0, y: lane.y, width, height: lane.h}),
        sv('text', {class: 'lane-title', x: 8, y: lane.y + lane.h / 2 + 4}, title));
    }
    svg.append(sv('line', {class: 'lane-sep', x1: LEFT, x2: LEFT, y1: 0, y2: axisY}));
    for (const t of ticks(t0, t1, plotW, 90)) {
      const tx = x(t);
      if (tx < LEFT || tx + 26 > width) continue;
      svg.append(sv('line', {class: 'grid', x1: tx, x2: tx, y1: 0, y2: axisY}),
        sv('text', {class: 'tick', x: tx, y: axisY + 15, 'text-anchor': 'middle'}, fmtClock(t)));
    }
    if (!appCompleted()) {
      const nx = x(now());
      svg.append(sv('line', {class: 'now', x1: nx, x2: nx, y1: 0, y2: axisY}, sv('title', null, 'now')));
    }
    for (const ev of events) {
      const cy = laneEv.y + 6 + ev.row * EV_ROW + EV_ROW / 2;
      svg.append(sv('g', {class: `tl-exec ${ev.kind}`},
        sv('title', null, ev.tip),
        sv('line', {x1: ev.x, x2: ev.x, y1: laneEv.y + 2, y2: cy}),
        sv('circle', {cx: ev.x, cy, r: 4}),
        sv('text', {x: ev.flip ? ev.x - 7 : ev.x + 7, y: cy + 4, 'text-anchor': ev.flip ? 'end' : 'start'}, ev.label)));
    }
    for (const b of bars) {
      const j = b.job;
      const y = laneJob.y + 6 + b.row * JOB_ROW;
      const label = `Job ${j.jobId}`;
      const w = b.x1 - b.x0;
      const tip = `Job ${j.jobId}: ${j.description || j.name} (${j.status.toLowerCase()}), ` +
        `submitted ${fmtDate(b.t0)}, ${fmtDuration(b.t1 - b.t0)}`;
      const href = link('jobs/job', {id: j.jobId});
      svg.append(sv('a', {href, class: `tl-job ${j.status.toLowerCase()}`, 'data-job-id': j.jobId},
        sv('title', null, tip),
        sv('rect', {x: b.x0, y, width: w, height: JOB_ROW - 4, rx: 3}),
        textWidth(label, FONT) + 6 <= w ? sv('text', {x: b.x0 + 4, y: y + 13}, label) : null));
    }
    return h('div', {class: 'timeline-wrap'}, svg,
      h('div', {class: 'legend'},
        ['added', 'removed'].map((k) => h('span', {class: `key exec-${k}`}, `executor ${k}`)),
        ['succeeded', 'running', 'failed'].map((k) => h('span', {class: `key job-${k}`}, `job ${k}`))));
  }

  // -- Job detail: status, stage DAG, stage tables ---------------------------------------------

  async function pageJob() {
    const id = intParam('id', 0);
    const [job, stages, graph] = await Promise.all([
      api(`jobs/${id}`), api('stages'), optional(api(`jobs/${id}/stageGraph`))]);
    const ids = new Set(job.stageIds || []);
    const mine = stages.filter((s) => ids.has(s.stageId));
    const byStatus = groupStages(mine);
    const node = h('div', null,
      h('h3', null, `Details for Job ${job.jobId}`),
      summaryList([
        ['Status', statusBadge(job.status)],
        ['Description', job.description || job.name],
        ['Submitted', fmtDate(parseDate(job.submissionTime))],
        ['Duration', fmtDuration(span(job.submissionTime, job.completionTime))],
        ['Job Group', job.jobGroup],
        ...STAGE_GROUPS.map(([g, title]) => [`${title} Stages`, byStatus[g].length ? String(byStatus[g].length) : null]),
        ['Tasks', progress(num(job.numCompletedTasks), num(job.numActiveTasks), num(job.numTasks) - num(job.numSkippedTasks),
          num(job.numFailedTasks), num(job.numKilledTasks), num(job.numSkippedTasks))],
      ]),
      section('dag', 'DAG Visualization', dagSvg(graph, job, stages)),
      stageSections(byStatus));
    return {title: `${state.app.name} - Job ${job.jobId}`, node};
  }

  /**
   * The job's stages as boxes, parent -> child arrows, left to right by depth, coloured by status.
   * From the stageGraph extension; without it, the job's stages from /stages with no arrows.
   */
  function dagSvg(graph, job, allStages) {
    let nodes = graph && Array.isArray(graph.stages) ? graph.stages : null;
    let note = null;
    if (!nodes) {
      const latest = new Map();
      for (const s of allStages) {
        if (!(job.stageIds || []).includes(s.stageId)) continue;
        if (!latest.has(s.stageId) || latest.get(s.stageId).attemptId < s.attemptId) latest.set(s.stageId, s);
      }
      nodes = (job.stageIds || []).map((sid) => latest.get(sid) ||
        {stageId: sid, attemptId: 0, name: '', numTasks: 0, status: 'PENDING'});
      nodes.forEach((n) => { n.parentIds = []; });
      note = 'Stage parents are not available from this server: stages are shown without their edges.';
    }
    const byId = new Map(nodes.map((n) => [n.stageId, n]));
    const depth = new Map();
    const depthOf = (n, seen = new Set()) => {
      if (depth.has(n.stageId)) return depth.get(n.stageId);
      seen.add(n.stageId);
      let d = 0;
      for (const p of n.parentIds || []) {
        if (byId.has(p) && !seen.has(p)) d = Math.max(d, depthOf(byId.get(p), seen) + 1);
      }
      depth.set(n.stageId, d);
      return d;
    };
    const cols = [];
    for (const n of [...nodes].sort((a, b) => a.stageId - b.stageId)) (cols[depthOf(n)] ||= []).push(n);
    // Order each column by the mean row of its parents, to keep arrows short and uncrossed.
    const rowOf = new Map();
    cols.forEach((col, c) => {
      if (c > 0) {
        const key = (n) => {
          const rows = (n.parentIds || []).filter((p) => rowOf.has(p)).map((p) => rowOf.get(p));
          return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Infinity;
        };
        col.sort((a, b) => key(a) - key(b) || a.stageId - b.stageId);
      }
      col.forEach((n, r) => rowOf.set(n.stageId, r));
    });

    const BW = 200;
    const BH = 64;
    const GX = 56;
    const GY = 16;
    const P = 12;
    const maxRows = Math.max(1, ...cols.map((c) => c.length));
    const height = 2 * P + maxRows * BH + (maxRows - 1) * GY;
    const width = 2 * P + cols.length * BW + Math.max(0, cols.length - 1) * GX;
    const pos = new Map();
    cols.forEach((col, c) => {
      const colH = col.length * BH + (col.length - 1) * GY;
      col.forEach((n, r) => pos.set(n.stageId, {x: P + c * (BW + GX), y: P + (height - 2 * P - colH) / 2 + r * (BH + GY)}));
    });

    const svg = sv('svg', {id: 'dag-svg', class: 'dag', width, height, viewBox: `0 0 ${width} ${height}`},
      sv('defs', null, sv('marker', {id: 'dag-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
        markerHeight: 7, orient: 'auto-start-reverse'}, sv('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head'}))));
    for (const n of nodes) {
      const to = pos.get(n.stageId);
      for (const p of n.parentIds || []) {
        const from = pos.get(p);
        if (!from) continue;
        const x1 = from.x + BW;
        const y1 = from.y + BH / 2;
        const x2 = to.x - 2;
        const y2 = to.y + BH / 2;
        svg.append(sv('path', {class: 'dag-edge', 'data-from': p, 'data-to': n.stageId, 'marker-end': 'url(#dag-arrow)',
          d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`}));
      }
    }
    for (const n of nodes) {
      const {x, y} = pos.get(n.stageId);
      const status = String(n.status || 'PENDING');
      const name = n.name || '';
      const short = name.length > 31 ? `${name.slice(0, 30)}…` : name;
      const title = `Stage ${n.stageId}${n.attemptId ? ` (attempt ${n.attemptId})` : ''}`;
      const g = sv('g', {class: `dag-stage status-${status.toLowerCase()}`, 'data-stage-id': n.stageId},
        sv('title', null, `${title}: ${name}\n${n.numTasks} tasks, ${status.toLowerCase()}`),
        sv('rect', {x, y, width: BW, height: BH, rx: 5}),
        sv('text', {class: 'dag-title', x: x + 10, y: y + 18}, title),
        sv('text', {class: 'dag-name', x: x + 10, y: y + 35}, short),
        sv('text', {class: 'dag-meta', x: x + 10, y: y + 53}, `${n.numTasks} tasks · ${status.toLowerCase()}`));
      const linkable = ['ACTIVE', 'COMPLETE', 'FAILED'].includes(status);
      svg.append(linkable ? sv('a', {href: link('stages/stage', {id: n.stageId, attempt: n.attemptId || 0})}, g) : g);
    }
    return h('div', {class: 'dag-wrap'}, svg, note ? h('p', {class: 'note'}, note) : null);
  }

  // -- Stages ----------------------------------------------------------------------------------

  const STAGE_GROUPS = [['active', 'Active', 'ACTIVE'], ['pending', 'Pending', 'PENDING'],
    ['completed', 'Completed', 'COMPLETE'], ['skipped', 'Skipped', 'SKIPPED'], ['failed', 'Failed', 'FAILED']];

  function groupStages(stages) {
    const out = Object.fromEntries(STAGE_GROUPS.map(([g]) => [g, []]));
    for (const s of stages) {
      const g = STAGE_GROUPS.find((x) => x[2] === s.status);
      out[g ? g[0] : 'active'].push(s);
    }
    return out;
  }

  function stageSections(byStatus) {
    return STAGE_GROUPS.map(([g, title]) => (byStatus[g].length
      ? section(`stages-${g}`, `${title} Stages (${byStatus[g].length})`, stageTable(`stage-table-${g}`, byStatus[g], g))
      : null));
  }

  async function pageStages() {
    const stages = await api('stages');
    const byStatus = groupStages(stages);
    const node = h('div', null,
      h('h3', null, 'Stages for All Jobs'),
      summaryList(STAGE_GROUPS.map(([g, title]) => [`${title} Stages`,
        byStatus[g].length ? h('a', {href: `#stages-${g}`}, String(byStatus[g].length)) : null])),
      stageSections(byStatus),
      stages.length ? null : h('p', {class: 'note'}, 'No stages yet.'));
    return {title: `${state.app.name} - Stages`, node};
  }

  function stageTable(id, stages, group) {
    const cols = [
      numCol('Stage Id', (s) => s.stageId, String, {w: 90}),
      numCol('Attempt', (s) => s.attemptId, String, {w: 70}),
      {title: 'Description', key: (s) => s.description || s.name, cell: (s) => [
        group === 'pending' || group === 'skipped' ? (s.description || s.name) : stageLink(s, s.description || s.name),
        s.details ? details(`stage-${s.stageId}-${s.attemptId}`, 'details', h('pre', {class: 'stack'}, s.details)) : null]},
      dateCol('Submitted', (s) => s.submissionTime, {w: 150}),
      {title: 'Duration', key: (s) => span(s.submissionTime, s.completionTime) || 0, w: 80,
        cell: (s) => fmtDuration(span(s.submissionTime, s.completionTime))},
      {title: 'Tasks: Succeeded/Total', key: (s) => num(s.numCompleteTasks), cls: 'progress-cell', w: 200,
        cell: progressOf},
      numCol('Input', (s) => s.inputBytes, bytesOrBlank, {w: 80}),
      numCol('Output', (s) => s.outputBytes, bytesOrBlank, {w: 80}),
      numCol('Shuffle Read', (s) => s.shuffleReadBytes, bytesOrBlank, {w: 100, tip: 'Bytes read from shuffles, local and remote'}),
      numCol('Shuffle Write', (s) => s.shuffleWriteBytes, bytesOrBlank, {w: 100, tip: 'Bytes written for later stages'}),
    ];
    if (group === 'failed') {
      cols.push({title: 'Failure Reason', w: 280,
        cell: (s) => messageCell(`stage-failure-${s.stageId}-${s.attemptId}`, s.failureReason)});
    }
    return table(id, cols, stages, {sort: {col: 0, desc: true},
      rowAttrs: (s) => ({'data-stage-id': s.stageId, 'data-attempt-id': s.attemptId})});
  }

  // -- Stage detail: summary, metric quantiles, per-executor summary, task table ---------------

  const QUANTILES = '0.0,0.25,0.5,0.75,1.0';

  async function pageStage() {
    const id = intParam('id', 0);
    const att = intParam('attempt', 0);
    const q = query();
    const paging = {
      offset: Math.max(0, parseInt(q.get('task.offset'), 10) || 0),
      length: Math.max(1, parseInt(q.get('task.length'), 10) || 100),
      sortBy: q.get('task.sort') || 'ID',
    };
    const path = `stages/${id}/${att}`;
    const [st, dist, tasks, execs] = await Promise.all([
      api(path),
      optional(api(`${path}/taskSummary?quantiles=${QUANTILES}`)),
      api(`${path}/taskList?offset=${paging.offset}&length=${paging.length}&sortBy=${encodeURIComponent(paging.sortBy)}`),
      optional(api('allexecutors'), []),
    ]);
    const locality = {};
    for (const t of Object.values(st.tasks || {})) locality[t.taskLocality] = (locality[t.taskLocality] || 0) + 1;
    const spill = num(st.memoryBytesSpilled) || num(st.diskBytesSpilled);
    const node = h('div', null,
      h('h3', null, `Details for Stage ${st.stageId} (Attempt ${st.attemptId})`),
      summaryList([
        ['Status', statusBadge(st.status)],
        ['Description', st.description || st.name],
        ['Submitted', fmtDate(parseDate(st.submissionTime))],
        ['Duration', fmtDuration(span(st.submissionTime, st.completionTime))],
        ['Tasks', progressOf(st)],
        ['Total Time Across All Tasks', fmtDuration(num(st.executorRunTime))],
        ['Locality Level Summary', Object.keys(locality).length
          ? Object.entries(locality).map(([k, v]) => `${k}: ${v}`).join('; ') : null],
        ['Input Size / Records', bytesRecords(st.inputBytes, st.inputRecords) || null],
        ['Output Size / Records', bytesRecords(st.outputBytes, st.outputRecords) || null],
        ['Shuffle Read Size / Records', bytesRecords(st.shuffleReadBytes, st.shuffleReadRecords) || null],
        ['Shuffle Write Size / Records', bytesRecords(st.shuffleWriteBytes, st.shuffleWriteRecords) || null],
        ['Spill (Memory)', spill ? fmtBytes(num(st.memoryBytesSpilled)) : null],
        ['Spill (Disk)', spill ? fmtBytes(num(st.diskBytesSpilled)) : null],
        ['Failure Reason', st.failureReason ? messageCell(`stage-fail-${st.stageId}`, st.failureReason) : null],
      ]),
      st.details ? details('stage-callsite', 'Call site', h('pre', {class: 'stack'}, st.details)) : null,
      section('metrics', `Summary Metrics for ${num(st.numCompleteTasks)} Completed Tasks`,
        dist ? metricsTable(dist) : h('p', {class: 'note'}, 'No task has reported metrics yet.')),
      st.executorSummary
        ? section('executor-summary', 'Aggregated Metrics by Executor', stageExecutorTable(st.executorSummary, execs)) : null,
      section('tasks', `Tasks (${taskCount(st)})`, taskTable(st, tasks, paging)));
    return {title: `${state.app.name} - Stage ${st.stageId}`, node};
  }

  const taskCount = (st) => (st.tasks ? Object.keys(st.tasks).length
    : num(st.numCompleteTasks) + num(st.numActiveTasks) + num(st.numFailedTasks) + num(st.numKilledTasks));

  /** Spark's "Summary Metrics" table from TaskMetricDistributions. */
  function metricsTable(d) {
    const qs = d.quantiles || [0, 0.25, 0.5, 0.75, 1];
    const qName = (q) => (q === 0 ? 'Min' : q === 1 ? 'Max' : q === 0.5 ? 'Median' : `${Math.round(q * 100)}th percentile`);
    const ms = (v) => fmtDuration(v);
    const sr = d.shuffleReadMetrics || {};
    const sw = d.shuffleWriteMetrics || {};
    const im = d.inputMetrics || {};
    const om = d.outputMetrics || {};
    const any = (arr) => Array.isArray(arr) && arr.some((v) => v > 0);
    const rows = [
      ['Duration', d.duration, ms, 'Time from the task\'s launch to its end'],
      ['Executor Run Time', d.executorRunTime, ms, 'Time the executor spent running the task'],
      ['Scheduler Delay', d.schedulerDelay, ms, 'Time waiting to be scheduled, and sending the task and its result'],
      ['Task Deserialization Time', d.executorDeserializeTime, ms, 'Time to decode the task on the executor'],
      ['Result Serialization Time', d.resultSerializationTime, ms, null],
      ['Getting Result Time', d.gettingResultTime, ms, 'Time the driver spent fetching the task\'s result'],
      ['Peak Execution Memory', d.peakExecutionMemory, fmtBytes, null],
      ['Result Size', d.resultSize, fmtBytes, null],
    ].filter((r) => Array.isArray(r[1]));
    const pair = (title, b, r, tip) => (any(b) ? [[title, b, (v, i) => bytesRecords(v, r ? r[i] : 0) || '0.0 B / 0', tip]] : []);
    rows.push(...pair('Input Size / Records', im.bytesRead, im.recordsRead));
    rows.push(...pair('Output Size / Records', om.bytesWritten, om.recordsWritten));
    rows.push(...pair('Shuffle Read Size / Records', sr.readBytes, sr.readRecords, 'Local and remote shuffle reads'));
    if (any(sr.readBytes)) {
      if (Array.isArray(sr.fetchWaitTime)) {
        rows.push(['Shuffle Read Fetch Wait Time', sr.fetchWaitTime, ms, 'Time blocked waiting for remote shuffle blocks']);
      }
      if (Array.isArray(sr.remoteBytesRead)) rows.push(['Shuffle Remote Reads', sr.remoteBytesRead, fmtBytes, null]);
    }
    rows.push(...pair('Shuffle Write Size / Records', sw.writeBytes, sw.writeRecords));
    if (any(sw.writeBytes) && Array.isArray(sw.writeTime)) {
      rows.push(['Shuffle Write Time', sw.writeTime, (v) => fmtDuration(v / 1e6), 'Time spent writing shuffle files']);
    }
    if (any(d.memoryBytesSpilled)) rows.push(['Spill (Memory)', d.memoryBytesSpilled, fmtBytes, null]);
    if (any(d.diskBytesSpilled)) rows.push(['Spill (Disk)', d.diskBytesSpilled, fmtBytes, null]);
    return table('metrics-table', [
      {title: 'Metric', cell: (r) => (r[3] ? h('span', {title: r[3], class: 'has-tip'}, r[0]) : r[0])},
      ...qs.map((q, i) => ({title: qName(q), cls: 'num', cell: (r) => r[2](r[1][i], i)})),
    ], rows);
  }

  function stageExecutorTable(summary, execs) {
    const addr = new Map(execs.map((e) => [e.id, e.hostPort]));
    const rows = Object.entries(summary).map(([id, s]) => ({id, ...s}));
    const spill = rows.some((r) => r.memoryBytesSpilled || r.diskBytesSpilled);
    const has = (f) => rows.some((r) => num(r[f]) > 0);
    return table('stage-executor-table', [
      {title: 'Executor ID', key: (r) => r.id, cell: (r) => r.id},
      {title: 'Address', key: (r) => addr.get(r.id) || '', cell: (r) => addr.get(r.id) || ''},
      numCol('Task Time', (r) => r.taskTime, fmtDuration),
      numCol('Total Tasks', (r) => num(r.succeededTasks) + num(r.failedTasks) + num(r.killedTasks)),
      numCol('Failed Tasks', (r) => r.failedTasks),
      numCol('Killed Tasks', (r) => r.killedTasks),
      numCol('Succeeded Tasks', (r) => r.succeededTasks),
      sizeCol('Input Size / Records', (r) => r.inputBytes, (r) => r.inputRecords, {show: has('inputBytes')}),
      sizeCol('Output Size / Records', (r) => r.outputBytes, (r) => r.outputRecords, {show: has('outputBytes')}),
      sizeCol('Shuffle Read Size / Records', (r) => r.shuffleRead, (r) => r.shuffleReadRecords, {show: has('shuffleRead')}),
      sizeCol('Shuffle Write Size / Records', (r) => r.shuffleWrite, (r) => r.shuffleWriteRecords, {show: has('shuffleWrite')}),
      ...(spill ? [
        numCol('Spill (Memory)', (r) => r.memoryBytesSpilled, fmtBytes),
        numCol('Spill (Disk)', (r) => r.diskBytesSpilled, fmtBytes),
      ] : []),
    ], rows, {sort: {col: 0, desc: false}, rowAttrs: (r) => ({'data-executor-id': r.id})});
  }

  /** Moves the task table to other paging/sorting (kept in the URL: task.offset, task.length, task.sort). */
  function setPaging(p) {
    const q = query();
    q.set('task.offset', p.offset);
    q.set('task.length', p.length);
    q.set('task.sort', p.sortBy);
    history.replaceState(null, '', `${location.pathname}?${q}`);
    refresh();
  }

  function taskTable(st, tasks, paging) {
    const total = taskCount(st);
    const readBytes = (t) => {
      const r = (t.taskMetrics || {}).shuffleReadMetrics || {};
      return num(r.localBytesRead) + num(r.remoteBytesRead);
    };
    const readRecords = (t) => num(((t.taskMetrics || {}).shuffleReadMetrics || {}).recordsRead);
    const write = (t) => (t.taskMetrics || {}).shuffleWriteMetrics || {};
    const duration = (t) => {
      if (Number.isFinite(t.duration)) return t.duration;
      return t.status === 'RUNNING' ? now() - parseDate(t.launchTime) : NaN;
    };
    const sortCol = {ID: [0, false], '-ID': [0, true], DURATION: [8, false], '-DURATION': [8, true]}[paging.sortBy] || [0, false];
    const cols = [
      {title: 'Task ID', cell: (t) => String(t.taskId), cls: 'num', sortBy: 'ID'},
      {title: 'Index', cell: (t) => String(t.index), cls: 'num'},
      {title: 'Attempt', cell: (t) => String(t.attempt), cls: 'num'},
      {title: 'Status',
        cell: (t) => [statusBadge(t.status), t.speculative ? h('span', {class: 'muted'}, ' (speculative)') : null]},
      {title: 'Locality Level', cell: (t) => t.taskLocality || ''},
      {title: 'Executor ID', cell: (t) => String(t.executorId)},
      {title: 'Host', cell: (t) => t.host || ''},
      {title: 'Launch Time', cell: (t) => fmtDate(parseDate(t.launchTime)), cls: 'nowrap'},
      {title: 'Duration', cell: (t) => fmtDuration(duration(t)), cls: 'num', sortBy: 'DURATION', descFirst: true},
      {title: 'Scheduler Delay', cell: (t) => fmtDuration(t.schedulerDelay), cls: 'num'},
      {title: 'Shuffle Read Size / Records', cell: (t) => bytesRecords(readBytes(t), readRecords(t)), cls: 'num',
        show: num(st.shuffleReadBytes) > 0 || tasks.some((t) => readBytes(t) > 0)},
      {title: 'Shuffle Write Size / Records', cell: (t) => bytesRecords(write(t).bytesWritten, write(t).recordsWritten), cls: 'num',
        show: num(st.shuffleWriteBytes) > 0 || tasks.some((t) => num(write(t).bytesWritten) > 0)},
      {title: 'Errors', cell: (t) => messageCell(`task-error-${t.taskId}`, t.errorMessage)},
    ];
    const page = Math.floor(paging.offset / paging.length) + 1;
    const pages = Math.max(1, Math.ceil(total / paging.length));
    const go = (offset) => setPaging({...paging, offset: Math.max(0, offset)});
    const sizeSel = h('select', {id: 'task-page-size', 'aria-label': 'Tasks per page'},
      [20, 100, 500, 1000].map((n) => h('option', {value: n, selected: n === paging.length}, String(n))));
    sizeSel.addEventListener('change', () => setPaging({...paging, offset: 0, length: parseInt(sizeSel.value, 10)}));
    const pager = h('div', {class: 'pager'},
      h('button', {type: 'button', id: 'task-prev', disabled: paging.offset === 0,
        onclick: () => go(paging.offset - paging.length)}, '‹ Prev'),
      h('span', null, ` Page ${page} of ${pages} `,
        tasks.length ? h('span', {class: 'muted'},
          `(tasks ${paging.offset + 1}–${paging.offset + tasks.length} of ${total}) `) : null),
      h('button', {type: 'button', id: 'task-next', disabled: tasks.length < paging.length,
        onclick: () => go(paging.offset + paging.length)}, 'Next ›'),
      h('label', null, ' Show ', sizeSel, ' per page'));
    return h('div', null, pager, table('task-table', cols, tasks, {
      sort: {col: sortCol[0], desc: sortCol[1]},
      onSort: (c, next) => setPaging({...paging, offset: 0, sortBy: (next.desc ? '-' : '') + c.sortBy}),
      rowAttrs: (t) => ({'data-task-id': t.taskId, 'data-status': t.status}),
      empty: 'No tasks on this page.',
    }));
  }

  // -- Storage ---------------------------------------------------------------------------------

  async function pageStorage() {
    const rdds = await api('storage/rdd');
    const node = h('div', null, h('h3', null, 'Storage'),
      rdds.length ? section('rdds', `RDDs (${rdds.length})`, table('storage-table', [
        numCol('ID', (r) => r.id),
        {title: 'RDD Name', key: (r) => r.name,
          cell: (r) => h('a', {href: link('storage/rdd', {id: r.id})}, r.name || `RDD ${r.id}`)},
        {title: 'Storage Level', key: (r) => r.storageLevel, cell: (r) => r.storageLevel || ''},
        numCol('Cached Partitions', (r) => r.numCachedPartitions),
        {title: 'Fraction Cached', key: (r) => num(r.numCachedPartitions) / Math.max(1, num(r.numPartitions)),
          cell: (r) => `${Math.round((100 * num(r.numCachedPartitions)) / Math.max(1, num(r.numPartitions)))}%`, cls: 'num'},
        numCol('Size in Memory', (r) => r.memoryUsed, fmtBytes),
        numCol('Size on Disk', (r) => r.diskUsed, fmtBytes),
      ], rdds, {rowAttrs: (r) => ({'data-rdd-id': r.id})})) : h('p', {class: 'note'}, 'No cached RDDs.'));
    return {title: `${state.app.name} - Storage`, node};
  }

  async function pageRdd() {
    const id = intParam('id', 0);
    const r = await api(`storage/rdd/${id}`);
    const dist = r.dataDistribution || [];
    const parts = r.partitions || [];
    const node = h('div', null,
      h('h3', null, `RDD Storage Info for ${r.name || `RDD ${r.id}`}`),
      summaryList([
        ['Storage Level', r.storageLevel],
        ['Cached Partitions', String(num(r.numCachedPartitions))],
        ['Total Partitions', String(num(r.numPartitions))],
        ['Memory Size', fmtBytes(num(r.memoryUsed))],
        ['Disk Size', fmtBytes(num(r.diskUsed))],
      ]),
      section('rdd-distribution', `Data Distribution on ${dist.length} Executors`, table('rdd-distribution-table', [
        {title: 'Host', key: (d) => d.address, cell: (d) => d.address || ''},
        {title: 'Memory Usage', key: (d) => num(d.memoryUsed),
          cell: (d) => `${fmtBytes(num(d.memoryUsed))} (${fmtBytes(num(d.memoryRemaining))} Remaining)`, cls: 'num'},
        numCol('Disk Usage', (d) => d.diskUsed, fmtBytes),
      ], dist)),
      section('rdd-partitions', `${parts.length} Partitions`, table('rdd-partition-table', [
        {title: 'Block Name', key: (p) => p.blockName, cell: (p) => p.blockName},
        {title: 'Storage Level', key: (p) => p.storageLevel, cell: (p) => p.storageLevel || ''},
        numCol('Size in Memory', (p) => p.memoryUsed, fmtBytes),
        numCol('Size on Disk', (p) => p.diskUsed, fmtBytes),
        {title: 'Executors', key: (p) => (p.executors || []).join(' '), cell: (p) => (p.executors || []).join(', ')},
      ], parts, {sort: {col: 0, desc: false}})));
    return {title: `${state.app.name} - RDD ${r.id}`, node};
  }

  // -- Environment -----------------------------------------------------------------------------

  async function pageEnvironment() {
    const env = await api('environment');
    const kvTable = (id, pairs) => table(id, [
      {title: 'Name', key: (p) => p[0], cell: (p) => p[0]},
      {title: 'Value', key: (p) => p[1], cell: (p) => h('span', {class: 'value'}, p[1])},
    ], pairs, {sort: {col: 0, desc: false}});
    const pairsOf = (x) => (Array.isArray(x) ? x.map((p) => (Array.isArray(p) ? [String(p[0]), String(p[1])] : [String(p), '']))
      : Object.entries(x || {}).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]));
    const runtime = Object.entries(env.runtime || {}).map(([k, v]) => [humanize(k), String(v)]);
    const blocks = [
      ['env-runtime', 'Runtime Information', 'env-table-runtime', runtime, false],
      ['env-spark', 'Spark Properties', 'env-table-spark', pairsOf(env.sparkProperties), false],
      ['env-hadoop', 'Hadoop Properties', 'env-table-hadoop', pairsOf(env.hadoopProperties), true],
      ['env-system', 'System Properties', 'env-table-system', pairsOf(env.systemProperties), false],
      ['env-metrics', 'Metrics Properties', 'env-table-metrics', pairsOf(env.metricsProperties), true],
      ['env-classpath', 'Classpath Entries', 'env-table-classpath', pairsOf(env.classpathEntries), true],
    ];
    const node = h('div', null, h('h3', null, 'Environment'),
      blocks.filter((b) => b[3].length || b[0] === 'env-runtime' || b[0] === 'env-spark')
        .map(([sid, title, tid, pairs, collapsed]) =>
          section(sid, `${title} (${pairs.length})`, kvTable(tid, pairs), collapsed)));
    return {title: `${state.app.name} - Environment`, node};
  }

  // -- Executors -------------------------------------------------------------------------------

  async function pageExecutors() {
    const execs = await api('allexecutors');
    const active = execs.filter((e) => e.isActive);
    const dead = execs.filter((e) => !e.isActive);
    const fields = ['rddBlocks', 'memoryUsed', 'maxMemory', 'diskUsed', 'totalCores', 'activeTasks', 'failedTasks',
      'completedTasks', 'totalTasks', 'totalDuration', 'totalInputBytes', 'totalShuffleRead', 'totalShuffleWrite'];
    const totals = (label, list) => Object.fromEntries([['label', label], ['count', list.length],
      ...fields.map((f) => [f, list.reduce((a, e) => a + num(e[f]), 0)])]);
    const common = [
      numCol('RDD Blocks', (e) => e.rddBlocks),
      {title: 'Storage Memory', key: (e) => num(e.memoryUsed), cls: 'num', tip: 'Memory used / total available for storage',
        cell: (e) => `${fmtBytes(num(e.memoryUsed))} / ${fmtBytes(num(e.maxMemory))}`},
      numCol('Disk Used', (e) => e.diskUsed, fmtBytes),
      numCol('Cores', (e) => e.totalCores),
      hotCol('Active Tasks', (e) => e.activeTasks, 'hot-active'),
      hotCol('Failed Tasks', (e) => e.failedTasks, 'hot-failed'),
      numCol('Complete Tasks', (e) => e.completedTasks),
      numCol('Total Tasks', (e) => e.totalTasks),
      numCol('Task Time', (e) => e.totalDuration, fmtDuration),
      numCol('Input', (e) => e.totalInputBytes, fmtBytes),
      numCol('Shuffle Read', (e) => e.totalShuffleRead, fmtBytes),
      numCol('Shuffle Write', (e) => e.totalShuffleWrite, fmtBytes),
    ];
    const peak = (e) => (e.peakMemoryMetrics || {}).ProcessTreeJVMRSSMemory;
    const extra = [];
    if (execs.some((e) => Number.isFinite(peak(e)))) {
      extra.push(numCol('Peak Memory (RSS)', peak, (v) => (v ? fmtBytes(v) : ''), {tip: 'Peak resident set size of the process'}));
    }
    if (dead.length) extra.push({title: 'Remove Reason', w: 220, key: (e) => e.removeReason || '', cell: (e) => e.removeReason || ''});
    const node = h('div', null, h('h3', null, 'Executors'),
      section('exec-summary', 'Summary', table('executor-summary-table',
        [{title: '', cell: (t) => `${t.label}(${t.count})`}, ...common],
        [totals('Active', active), totals('Dead', dead), totals('Total', execs)])),
      section('executors', `Executors (${execs.length})`, table('executor-table', [
        {title: 'Executor ID', key: (e) => (e.id === 'driver' ? -1 : num(parseInt(e.id, 10))), cell: (e) => e.id},
        {title: 'Address', key: (e) => e.hostPort || '', cell: (e) => e.hostPort || ''},
        {title: 'Status', key: (e) => (e.isActive ? 0 : 1),
          cell: (e) => statusBadge(e.isActive ? (e.isExcluded ? 'Excluded' : 'Active') : 'Dead')},
        ...common, ...extra,
      ], execs, {sort: {col: 0, desc: false},
        rowAttrs: (e) => ({'data-executor-id': e.id, class: e.isActive ? null : 'dead'})})));
    return {title: `${state.app.name} - Executors`, node};
  }

  // -- History Server: the application list ----------------------------------------------------

  async function pageApps() {
    const apps = await getJson(`${API}/applications`);
    const att = (a) => (a.attempts && a.attempts[0]) || {};
    const dur = (a) => {
      const t = att(a);
      if (t.completed && Number.isFinite(t.duration) && t.duration > 0) return t.duration;
      return (t.completed ? parseDate(t.endTime) : Date.now()) - parseDate(t.startTime);
    };
    const node = h('div', null, h('h3', null, 'Applications'),
      apps.length ? table('app-table', [
        {title: 'App ID', key: (a) => a.id, cell: (a) => h('a', {href: `/history/${encodeURIComponent(a.id)}/jobs/`}, a.id)},
        {title: 'App Name', key: (a) => a.name, cell: (a) => a.name},
        dateCol('Started', (a) => att(a).startTime),
        {title: 'Completed', key: (a) => (att(a).completed ? parseDate(att(a).endTime) : Infinity),
          cell: (a) => (att(a).completed ? fmtDate(parseDate(att(a).endTime)) : h('span', {class: 'muted'}, 'in progress'))},
        {title: 'Duration', key: (a) => dur(a) || 0, cell: (a) => fmtDuration(dur(a))},
        {title: 'Spark User', key: (a) => att(a).sparkUser || '', cell: (a) => att(a).sparkUser || ''},
        dateCol('Last Updated', (a) => att(a).lastUpdated),
      ], apps, {sort: {col: 2, desc: true}, rowAttrs: (a) => ({'data-app-id': a.id})})
        : h('p', {class: 'note'}, 'No applications found.'));
    return {title: 'ember History Server', node};
  }

  const PAGE_FNS = {
    jobs: pageJobs, job: pageJob, stages: pageStages, stage: pageStage, storage: pageStorage, rdd: pageRdd,
    environment: pageEnvironment, executors: pageExecutors,
  };

  // -- start -----------------------------------------------------------------------------------

  function start() {
    state.route = parseRoute(location.pathname);
    state.appId = state.route.appId;
    drawNav();
    refresh();
    // The timeline fits the window's width: redraw on resize (debounced) while nothing else would.
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { if (state.route.page === 'jobs') refresh(); }, 300);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();

  // For tests and the console: the pure helpers.
  window.emberUi = {parseDate, fmtDuration, fmtBytes, parseRoute, refresh};
})();
