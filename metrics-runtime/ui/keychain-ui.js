// The live page of keychain-metrics: reads /api/v1/snapshot every REFRESH_MS and
// computes rates, quantiles and the heatmap here, from successive snapshots, so the
// server does nothing between requests. Data only ever reaches the page as text
// (textContent), never as markup.
'use strict';
(() => {
  const SNAPSHOT = '/api/v1/snapshot';
  const REFRESH_MS = 1500;
  const TIMEOUT_MS = 5000;
  const RATE_MS = 10000; // calls/s: over the last 10 s
  const WINDOW_MS = 60000; // errors, quantiles, sparklines, exemplars: the last minute
  const KEEP_MS = 95000; // the heatmap's width, and what is kept
  const HEAT_ROWS = 28; // 4 per decade, 10 µs to 100 s
  const HEAT_LOW = -5;

  const $ = (id) => document.getElementById(id);
  let history = []; // {t, ops: Map(key -> {op, backend, calls, errors, counts, native, exemplars}), bounds}
  let selected = null;
  let downSince = null;
  let lastOk = null;

  // ---- numbers for people ----
  // Three significant digits at most, without trailing zeros after the point.
  const trim = (x) => {
    const a = Math.abs(x);
    const text = a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
    return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
  };
  function count(n) {
    if (!Number.isFinite(n)) return '–';
    const a = Math.abs(n);
    if (a < 1000) return String(Math.round(n * 100) / 100);
    for (const [d, s] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
      if (a >= d) return trim(n / d) + s;
    }
    return String(n);
  }
  const rate = (r) => (r === null ? '–' : count(r) + '/s');
  function seconds(s) {
    if (s === null || !Number.isFinite(s)) return '–';
    if (s === 0) return '0';
    if (s < 1e-3) return trim(s * 1e6) + ' µs';
    if (s < 1) return trim(s * 1e3) + ' ms';
    if (s < 120) return trim(s) + ' s';
    return trim(s / 60) + ' min';
  }
  function bytes(b) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i += 1; }
    return trim(b) + ' ' + units[i];
  }
  const percent = (p) => (p === null ? '–' : p === 0 ? '0 %' : trim(p) + ' %');
  function valueOf(name, v) {
    if (typeof v !== 'number') return String(v);
    if (/_bytes$/.test(name)) return bytes(v);
    if (/_time_seconds$/.test(name)) return new Date(v * 1000).toLocaleString();
    if (/_seconds(_total)?$/.test(name)) return seconds(v);
    return count(v);
  }
  const clock = (ms) => new Date(ms).toLocaleTimeString();

  // ---- reading a snapshot ----
  const byContract = (snap, suffix) => snap.families.find((f) => f.contract === suffix);
  const key = (operation, backend) => operation + '\u0000' + backend;

  function digest(snap) {
    const ops = new Map();
    const get = (l) => {
      const k = key(l.operation, l.backend);
      if (!ops.has(k)) ops.set(k, { op: l.operation, backend: l.backend, calls: 0, errors: 0, counts: null, native: null, exemplars: [] });
      return ops.get(k);
    };
    for (const s of byContract(snap, 'operations_total')?.series ?? []) {
      const o = get(s.labels);
      o.calls += s.value;
      if (s.labels.status === 'error') o.errors += s.value;
    }
    const durations = byContract(snap, 'operation_duration_seconds');
    for (const s of durations?.series ?? []) {
      const o = get(s.labels);
      o.counts = s.counts;
      o.native = s.native ?? null;
      o.exemplars = s.exemplars ?? [];
    }
    return { t: snap.time_ms, ops, bounds: durations?.bounds ?? [] };
  }

  // The entry closest to `ms` before the newest, or null.
  function before(ms) {
    const now = history[history.length - 1];
    let best = null;
    for (const h of history) {
      if (h === now) break;
      if (h.t <= now.t - ms || best === null) best = h;
    }
    return best;
  }

  // ---- quantiles ----
  function deltas(now, then) {
    return now.map((n, i) => Math.max(0, n - (then ? then[i] ?? 0 : 0)));
  }
  function classicQuantile(q, counts, bounds) {
    const total = counts.reduce((a, b) => a + b, 0);
    if (total === 0) return null;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < counts.length; i += 1) {
      if (seen + counts[i] >= rank && counts[i] > 0) {
        if (i >= bounds.length) return bounds[bounds.length - 1] ?? null; // in +Inf
        const lo = i === 0 ? 0 : bounds[i - 1];
        return lo + (bounds[i] - lo) * ((rank - seen) / counts[i]);
      }
      seen += counts[i];
    }
    return bounds[bounds.length - 1] ?? null;
  }
  // Native buckets as a Map(index -> count) at `schema`.
  function atSchema(native, schema) {
    const shift = native.schema - schema;
    const out = new Map();
    for (const [i, n] of native.buckets) {
      const j = shift > 0 ? Math.floor((i - 1) / 2 ** shift) + 1 : i;
      out.set(j, (out.get(j) ?? 0) + n);
    }
    return out;
  }
  function nativeDelta(now, then) {
    if (!now) return null;
    const schema = then ? Math.min(now.schema, then.schema) : now.schema;
    const a = atSchema(now, schema);
    const b = then ? atSchema(then, schema) : new Map();
    const buckets = [...a].map(([i, n]) => [i, Math.max(0, n - (b.get(i) ?? 0))]).filter(([, n]) => n > 0);
    buckets.sort((x, y) => x[0] - y[0]);
    const zero = Math.max(0, now.zero_count - (then ? then.zero_count : 0));
    return { schema, zero, threshold: now.zero_threshold, buckets };
  }
  const nativeBounds = (schema, i) => [2 ** ((i - 1) * 2 ** -schema), 2 ** (i * 2 ** -schema)];
  function nativeQuantile(q, d) {
    const total = d.zero + d.buckets.reduce((a, [, n]) => a + n, 0);
    if (total === 0) return null;
    const rank = q * total;
    if (rank <= d.zero) return d.threshold * (rank / Math.max(d.zero, 1));
    let seen = d.zero;
    for (const [i, n] of d.buckets) {
      if (seen + n >= rank) {
        const [lo, hi] = nativeBounds(d.schema, i);
        return lo * (hi / lo) ** ((rank - seen) / n); // exponential within a bucket
      }
      seen += n;
    }
    const last = d.buckets[d.buckets.length - 1];
    return last ? nativeBounds(d.schema, last[0])[1] : null;
  }
  function quantiles(now, then, bounds) {
    if (!now.counts) return [null, null, null];
    const native = nativeDelta(now.native, then?.native);
    if (native) return [0.5, 0.95, 0.99].map((q) => nativeQuantile(q, native));
    const counts = deltas(now.counts, then?.counts);
    return [0.5, 0.95, 0.99].map((q) => classicQuantile(q, counts, bounds));
  }

  // ---- DOM ----
  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function fill(table, rows, empty) {
    const body = table.tBodies[0];
    const columns = table.tHead.rows[0].cells.length;
    const out = rows.length ? rows : [[cell(empty, 'empty')]];
    if (!rows.length) out[0][0].colSpan = columns;
    body.replaceChildren(...out.map((cells) => {
      const tr = document.createElement('tr');
      tr.append(...cells);
      return tr;
    }));
    return body;
  }
  const num = (text, raw) => {
    const td = cell(text, 'num');
    if (raw !== undefined) td.dataset.value = String(raw);
    return td;
  };
  function sparkline(points) {
    const ns = 'http://www.w3.org/2000/svg'; // a name, not an address fetched
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 100 24');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    const line = document.createElementNS(ns, 'polyline');
    const max = Math.max(...points.map((p) => p[1]), 1e-9);
    line.setAttribute('points', points.map(([x, y]) => `${(x * 100).toFixed(1)},${(22 - (y / max) * 20).toFixed(1)}`).join(' '));
    svg.append(line);
    const td = document.createElement('td');
    td.append(svg);
    return td;
  }

  // The counter rate per second between two entries' values.
  function perSecond(now, then, value) {
    if (!then || now.t <= then.t) return null;
    const a = value(now);
    const b = value(then) ?? 0;
    if (a === undefined || a === null) return null;
    return Math.max(0, a >= b ? a - b : a) / ((now.t - then.t) / 1000);
  }

  function renderOps(now) {
    const recent = before(RATE_MS);
    const minute = before(WINDOW_MS);
    const rows = [...now.ops.values()].sort((a, b) => a.op.localeCompare(b.op) || a.backend.localeCompare(b.backend));
    if (selected === null || !now.ops.has(selected)) {
      const busiest = rows.reduce((a, b) => (a === null || b.calls > a.calls ? b : a), null);
      selected = busiest ? key(busiest.op, busiest.backend) : null;
    }
    // The sparklines span the last minute, or what of it the page has seen.
    const spanStart = Math.max(now.t - WINDOW_MS, history[0].t);
    const span = Math.max(now.t - spanStart, 1);
    const body = fill($('ops'), rows.map((o) => {
      const k = key(o.op, o.backend);
      const then = minute?.ops.get(k);
      const calls = o.calls - (then?.calls ?? 0);
      const errors = o.errors - (then?.errors ?? 0);
      const [p50, p95, p99] = quantiles(o, then, now.bounds);
      const points = [];
      for (let i = 1; i < history.length; i += 1) {
        const [a, b] = [history[i - 1], history[i]];
        if (b.t < spanStart) continue;
        const r = perSecond(b, a, (h) => h.ops.get(k)?.calls);
        points.push([(b.t - spanStart) / span, r ?? 0]);
      }
      const pick = document.createElement('button');
      pick.type = 'button';
      pick.className = 'pick';
      pick.textContent = o.op;
      pick.addEventListener('click', () => { selected = k; render(); });
      const name = document.createElement('td');
      name.append(pick);
      const errorRate = calls > 0 ? (100 * errors) / calls : null;
      return [
        name, cell(o.backend), num(count(o.calls), o.calls),
        num(rate(perSecond(now, recent, (h) => h.ops.get(k)?.calls))),
        num(percent(errorRate), errors), num(seconds(p50)), num(seconds(p95)), num(seconds(p99)),
        sparkline(points.length ? points : [[0, 0], [1, 0]]),
      ].map((td, i) => (i === 4 && errorRate > 0 ? Object.assign(td, { className: 'num bad' }) : td));
    }), 'No operation recorded yet.');
    [...body.rows].forEach((tr, i) => {
      if (rows[i]) tr.setAttribute('aria-selected', String(key(rows[i].op, rows[i].backend) === selected));
    });
    $('ops').dataset.time = String(now.t);
  }

  // ---- the heatmap ----
  const rowOf = (s) => Math.floor((Math.log10(s) - HEAT_LOW) * 4);
  // Spreads `n` observations in (lo, hi] over the rows it covers, by log width.
  function spread(column, n, lo, hi) {
    if (n <= 0) return;
    const top = Math.min(Math.max(rowOf(hi), 0), HEAT_ROWS - 1);
    const bottom = lo > 0 ? Math.min(Math.max(rowOf(lo), 0), top) : top;
    for (let r = bottom; r <= top; r += 1) column[r] += n / (top - bottom + 1);
  }
  function heatColumn(now, then, bounds) {
    const column = new Array(HEAT_ROWS).fill(0);
    const native = nativeDelta(now.native, then?.native);
    if (native) {
      spread(column, native.zero, 0, Math.max(native.threshold, 10 ** HEAT_LOW));
      for (const [i, n] of native.buckets) spread(column, n, ...nativeBounds(native.schema, i));
      return [column, true];
    }
    deltas(now.counts, then?.counts).forEach((n, i) => {
      const hi = i < bounds.length ? bounds[i] : 10 ** (HEAT_LOW + HEAT_ROWS / 4);
      spread(column, n, i === 0 ? 0 : bounds[i - 1], hi);
    });
    return [column, false];
  }
  function renderHeatmap() {
    const canvas = $('heatmap');
    const now = history[history.length - 1];
    const op = now?.ops.get(selected);
    $('selected').textContent = op ? `${op.op} on ${op.backend}` : 'no operation yet';
    const ratio = window.devicePixelRatio || 1;
    const [w, h] = [canvas.clientWidth, canvas.clientHeight];
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    const style = getComputedStyle(document.documentElement);
    const heat = style.getPropertyValue('--heat').trim();
    g.clearRect(0, 0, w, h);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = style.getPropertyValue('--muted').trim();
    const left = 48;
    const bottom = 16;
    const rowH = (h - bottom) / HEAT_ROWS;
    for (let d = 0; d <= HEAT_ROWS / 4; d += 1) {
      const y = h - bottom - d * 4 * rowH;
      g.fillText(seconds(10 ** (HEAT_LOW + d)), 2, Math.max(10, Math.min(h - bottom, y + 4)));
    }
    g.fillText(`−${KEEP_MS / 1000 | 0} s`, left, h - 3);
    g.fillText('now', w - 24, h - 3);
    if (!op || !op.counts) {
      $('heat-note').textContent = 'Waiting for calls.';
      return;
    }
    const columns = [];
    let native = false;
    for (let i = 1; i < history.length; i += 1) {
      const [a, b] = [history[i - 1].ops.get(selected), history[i].ops.get(selected)];
      if (!b?.counts) continue;
      const [column, fromNative] = heatColumn(b, a, now.bounds);
      native ||= fromNative;
      columns.push([history[i - 1].t, history[i].t, column]);
    }
    const max = Math.max(1e-9, ...columns.flatMap(([, , c]) => c));
    const x = (t) => left + ((t - (now.t - KEEP_MS)) / KEEP_MS) * (w - left);
    let painted = 0;
    for (const [t0, t1, column] of columns) {
      column.forEach((n, r) => {
        if (n <= 0) return;
        g.fillStyle = `rgba(${heat}, ${(0.15 + 0.85 * Math.log1p(n) / Math.log1p(max)).toFixed(3)})`;
        const x0 = Math.max(left, x(t0));
        g.fillRect(x0, h - bottom - (r + 1) * rowH, Math.max(1, x(t1) - x0 - 0.5), rowH - 0.5);
        painted += 1;
      });
    }
    canvas.dataset.cells = String(painted);
    $('heat-note').textContent = columns.length
      ? `From ${native ? 'native' : 'classic'} buckets; each column is one refresh, darker for more calls.`
      : 'A second refresh draws the first column.';
  }

  // ---- the other panels ----
  const series = (snap, suffix) => byContract(snap, suffix)?.series ?? [];
  function counterRows(snap, suffix, labels) {
    const recent = before(RATE_MS);
    const old = recent && new Map(series(recent.snap, suffix).map((s) => [JSON.stringify(s.labels), s.value]));
    const dt = recent ? (snap.time_ms - recent.t) / 1000 : 0;
    return series(snap, suffix)
      .filter((s) => s.value > 0)
      .sort((a, b) => b.value - a.value)
      .map((s) => {
        const before_ = old?.get(JSON.stringify(s.labels));
        const r = dt > 0 && before_ !== undefined ? Math.max(0, s.value - before_) / dt : null;
        return [...labels.map((l) => cell(s.labels[l] ?? '')), num(count(s.value), s.value), num(rate(r))];
      });
  }
  function renderSlow(snap) {
    if (!snap.exemplars) {
      fill($('slow'), [], 'Exemplars are off: metrics.exemplars: true keeps the trace ids of traced calls.');
      return;
    }
    const seen = new Map();
    for (const h of history) {
      for (const o of h.ops.values()) {
        for (const e of o.exemplars) {
          if (e.time_ms >= snap.time_ms - WINDOW_MS) seen.set(e.trace_id + e.span_id, { ...e, op: o.op, backend: o.backend });
        }
      }
    }
    const slowest = [...seen.values()].sort((a, b) => b.value - a.value).slice(0, 8);
    fill($('slow'), slowest.map((e) => [
      num(seconds(e.value)), cell(e.op), cell(e.backend), cell(e.trace_id, 'id'), cell(e.span_id, 'id'),
      num(`${Math.max(0, Math.round((snap.time_ms - e.time_ms) / 1000))} s ago`),
    ]), 'No traced call in the last minute.');
  }
  function renderBackends(snap) {
    const rows = new Map();
    const at = (b) => rows.get(b) ?? rows.set(b, {}).get(b);
    for (const [suffix, field] of [['backend_healthy', 'healthy'], ['keys_total', 'keys'], ['certs_total', 'certs']]) {
      for (const s of series(snap, suffix)) at(s.labels.backend)[field] = s.value;
    }
    fill($('backends'), [...rows].sort().map(([b, r]) => [
      cell(b),
      r.healthy === undefined ? cell('–') : r.healthy ? cell('healthy', 'good') : cell('unhealthy', 'bad'),
      num(r.keys === undefined ? '–' : count(r.keys)), num(r.certs === undefined ? '–' : count(r.certs)),
    ]), 'No backend reported yet.');
  }
  function renderConnections(snap) {
    const rows = new Map();
    const at = (p) => rows.get(p) ?? rows.set(p, {}).get(p);
    for (const [suffix, field] of [['active_connections', 'active'], ['tcp_connections', 'open'], ['tcp_connections_accepted_total', 'accepted']]) {
      for (const s of series(snap, suffix)) at(s.labels.protocol)[field] = s.value;
    }
    fill($('conns'), [...rows].map(([p, r]) => [
      cell(p), num(count(r.active ?? 0)), num(r.open === undefined ? '–' : count(r.open)),
      num(r.accepted === undefined ? '–' : count(r.accepted)),
    ]), 'No connection recorded.');
  }
  const labelText = (labels) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(', ');
  function sampleValue(f, s) {
    if (f.type === 'histogram' || f.type === 'summary') {
      return s.count ? `${count(s.count)} × mean ${valueOf(f.name, s.sum / s.count)}` : '0';
    }
    return valueOf(f.name, s.value);
  }
  function renderRegistry(snap) {
    const processLike = /(^|_)(process|tokio|memory|threads)_|_threads$/;
    const proc = [];
    const other = [];
    for (const f of snap.families) {
      if (f.source === 'contract') continue;
      for (const s of f.series) {
        const target = f.source === 'registry' && processLike.test(f.name) ? proc : other;
        target.push([f, s]);
      }
    }
    fill($('process'), proc.map(([f, s]) => [
      cell(f.name + (Object.keys(s.labels).length ? ` {${labelText(s.labels)}}` : '')), num(sampleValue(f, s)),
    ]), 'The resource collector is not running.');
    const shown = other.slice(0, 200).map(([f, s]) => [cell(f.name), cell(labelText(s.labels)), num(sampleValue(f, s))]);
    if (other.length > 200) shown.push([cell(`… and ${other.length - 200} more in the snapshot`, 'empty')]);
    fill($('other'), shown, 'None.');
  }

  function render() {
    const now = history[history.length - 1];
    if (!now) return;
    const snap = now.snap;
    renderOps(now);
    renderHeatmap();
    renderSlow(snap);
    fill($('errors'), counterRows(snap, 'errors_total', ['operation', 'backend', 'error_type']), 'No errors recorded.');
    fill($('http'), counterRows(snap, 'http_requests_total', ['method', 'status_code']), 'No HTTP request recorded.');
    fill($('grpc'), counterRows(snap, 'grpc_requests_total', ['method', 'status_code']), 'No gRPC call recorded.');
    renderConnections(snap);
    renderBackends(snap);
    renderRegistry(snap);
  }

  function status(text, down) {
    const el = $('status');
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle('down', down);
    document.body.classList.toggle('down', down);
  }

  async function refresh() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(SNAPSHOT, { cache: 'no-store', credentials: 'same-origin', signal: abort.signal });
      if (!response.ok) throw new Error(response.status === 401 ? 'not authorised (401)' : `HTTP ${response.status}`);
      const snap = await response.json();
      const entry = digest(snap);
      entry.snap = snap;
      // A restarted instance (a counter went back) starts the history again.
      const last = history[history.length - 1];
      if (last && [...entry.ops].some(([k, o]) => (last.ops.get(k)?.calls ?? 0) > o.calls)) history = [];
      // Only the newest keeps its whole snapshot; older ones the contract's families.
      const previous = history[history.length - 1];
      if (previous) previous.snap = { families: previous.snap.families.filter((f) => f.contract) };
      history.push(entry);
      history = history.filter((h) => h.t >= entry.t - KEEP_MS);
      downSince = null;
      lastOk = snap.time_ms;
      render();
      // The live region changes with the state only, so a screen reader is not told
      // the time every refresh.
      status('Live', false);
      const omitted = snap.omitted_series ? ` · ${count(snap.omitted_series)} series left out` : '';
      $('updated').textContent = `updated ${clock(snap.time_ms)}${omitted}`;
    } catch (e) {
      downSince ??= Date.now();
      const why = e.name === 'AbortError' ? 'no answer' : e.message;
      const shown = lastOk ? ` Figures are from ${clock(lastOk)}.` : '';
      status(`The endpoint does not answer (${why}) since ${clock(downSince)}; retrying.${shown}`, true);
    } finally {
      clearTimeout(timer);
      setTimeout(refresh, REFRESH_MS);
    }
  }

  window.addEventListener('resize', () => renderHeatmap());
  refresh();
})();
