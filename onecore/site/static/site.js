/* onecore static site: the session index (filter, sort, pages) and the session page.
   Data come from <script src> files (data/index.js, data/sessions/<k>.js), so the site works from
   file:// and from any web server. Everything from the repository is written with textContent. */
(function () {
  'use strict';
  var PER_PAGE = 50;
  var body = document.body;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fmtSize(n) {
    if (n === null || n === undefined) return '?';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'], s = n, i = 0;
    while (s >= 1000 && i < units.length - 1) { s /= 1000; i++; }
    return i === 0 ? s + ' B' : s.toFixed(1) + ' ' + units[i];
  }
  function dayStr(d) { return new Date(d * 86400000).toISOString().slice(0, 10); }
  function dayOf(text) { var t = Date.parse(text + 'T00:00:00Z'); return isNaN(t) ? null : Math.round(t / 86400000); }
  function pad3(n) { var s = String(n); while (s.length < 3) s = '0' + s; return s; }
  function sessionPath(lab, subject, date, number) {
    var tail = subject + '/' + date + '/' + pad3(number);
    return lab ? lab + '/Subjects/' + tail : tail;
  }
  /* FNV-1a over UTF-16 code units, as onecore.site.data.shard_of */
  function shardOf(eid, n) {
    var h = 0x811c9dc5;
    for (var i = 0; i < eid.length; i++) { h ^= eid.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return h % n;
  }
  function safeUrl(u) { return /^(https?|ftp|file):\/\//i.test(u || '') ? u : null; }
  function pyStr(s) { return "'" + String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"; }
  function shStr(s) { return "'" + String(s).replace(/'/g, "'\\''") + "'"; }

  // ---------------------------------------------------------------------------------- index page
  function indexPage() {
    var X = window.ONE_SITE_INDEX, count = document.getElementById('count');
    if (!X) { count.textContent = 'Cannot read data/index.js: rebuild the site with "one site".'; return; }
    var N = X.sessions, tbody = document.querySelector('#sessions tbody');
    var fLab = document.getElementById('f-lab'), fSubject = document.getElementById('f-subject');
    var fFrom = document.getElementById('f-from'), fTo = document.getElementById('f-to');
    var fType = document.getElementById('f-type');
    var state = { key: 'day', desc: true, page: 0, rows: null };
    var eidOf = function (i) {
      if (X.eid) return X.eid[i];
      var lab = X.lab[i] >= 0 ? X.labs[X.lab[i]] : null;
      return sessionPath(lab, X.subjects[X.subject[i]], dayStr(X.day[i]), X.number[i]);
    };
    function rank(names) {  // rank of each name in sorted order, for sorting by lab or subject
      var order = names.map(function (_, i) { return i; });
      order.sort(function (a, b) { return names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0; });
      var r = new Int32Array(names.length);
      order.forEach(function (id, pos) { r[id] = pos; });
      return { order: order, rank: r };
    }
    var labRank = rank(X.labs), subjRank = rank(X.subjects), typeRank = rank(X.types);
    labRank.order.forEach(function (id) { var o = el('option', X.labs[id]); o.value = id; fLab.appendChild(o); });
    typeRank.order.forEach(function (id) { var o = el('option', X.types[id]); o.value = id; fType.appendChild(o); });
    var dl = document.getElementById('subjects');
    subjRank.order.slice(0, 5000).forEach(function (id) { var o = el('option'); o.value = X.subjects[id]; dl.appendChild(o); });
    var subjectId = {};
    X.subjects.forEach(function (s, i) { subjectId[s] = i; });

    function apply() {
      var lab = fLab.value === '' ? null : +fLab.value;
      var text = fSubject.value.trim(), subjOk = null;
      if (text) {
        subjOk = new Uint8Array(X.subjects.length);
        if (Object.prototype.hasOwnProperty.call(subjectId, text)) subjOk[subjectId[text]] = 1;
        else {
          var low = text.toLowerCase();
          X.subjects.forEach(function (s, i) { if (s.toLowerCase().indexOf(low) >= 0) subjOk[i] = 1; });
        }
      }
      var from = fFrom.value ? dayOf(fFrom.value) : null, to = fTo.value ? dayOf(fTo.value) : null;
      var sigOk = null;
      if (fType.value !== '') {
        var t = +fType.value;
        sigOk = new Uint8Array(X.sigs.length);
        X.sigs.forEach(function (sig, i) { if (sig.indexOf(t) >= 0) sigOk[i] = 1; });
      }
      var out = new Int32Array(N), m = 0;
      for (var i = 0; i < N; i++) {
        if (lab !== null && X.lab[i] !== lab) continue;
        if (subjOk && !subjOk[X.subject[i]]) continue;
        if (from !== null && X.day[i] < from) continue;
        if (to !== null && X.day[i] > to) continue;
        if (sigOk && !sigOk[X.sig[i]]) continue;
        out[m++] = i;
      }
      state.rows = out.subarray(0, m);
      sort();
    }
    function sort() {
      var key = state.key, sign = state.desc ? -1 : 1, rows = state.rows;
      if (!(key === 'day' && state.desc)) {  // the index is already newest first
        var col = key === 'lab' ? X.lab.map(function (l) { return l >= 0 ? labRank.rank[l] : -1; })
          : key === 'subject' ? X.subject.map(function (s) { return subjRank.rank[s]; })
          : key === 'size' ? X.size.map(function (s) { return s === null ? -1 : s; }) : X[key];
        rows = Array.prototype.slice.call(rows);
        rows.sort(function (a, b) { return (col[a] - col[b]) * sign || a - b; });
      }
      state.sorted = rows;
      state.page = 0;
      document.querySelectorAll('#sessions th').forEach(function (th) {
        th.className = (th.className.replace(/\s*sorted-(asc|desc)/g, '') +
          (th.dataset.key === key ? ' sorted-' + (state.desc ? 'desc' : 'asc') : '')).trim();
      });
      render();
    }
    function render() {
      var rows = state.sorted, pages = Math.max(1, Math.ceil(rows.length / PER_PAGE));
      if (state.page >= pages) state.page = pages - 1;
      var start = state.page * PER_PAGE, frag = document.createDocumentFragment();
      for (var j = start; j < Math.min(rows.length, start + PER_PAGE); j++) {
        var i = rows[j], tr = el('tr');
        tr.appendChild(el('td', X.lab[i] >= 0 ? X.labs[X.lab[i]] : ''));
        var td = el('td'), a = el('a', X.subjects[X.subject[i]]);
        a.href = 'session.html#' + encodeURIComponent(eidOf(i));
        td.appendChild(a);
        tr.appendChild(td);
        tr.appendChild(el('td', dayStr(X.day[i])));
        tr.appendChild(el('td', pad3(X.number[i]), 'num'));
        tr.appendChild(el('td', X.n[i], 'num'));
        tr.appendChild(el('td', fmtSize(X.size[i]), 'num'));
        frag.appendChild(tr);
      }
      tbody.replaceChildren(frag);
      count.textContent = rows.length + ' of ' + N + ' sessions';
      document.getElementById('page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
      document.getElementById('prev').disabled = state.page === 0;
      document.getElementById('next').disabled = state.page >= pages - 1;
    }
    var timer = null;
    fSubject.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 120); });
    [fLab, fFrom, fTo, fType].forEach(function (f) { f.addEventListener('change', apply); });
    document.getElementById('filters').addEventListener('reset', function () { setTimeout(apply, 0); });
    document.getElementById('filters').addEventListener('submit', function (e) { e.preventDefault(); apply(); });
    document.getElementById('prev').addEventListener('click', function () { state.page--; render(); });
    document.getElementById('next').addEventListener('click', function () { state.page++; render(); });
    document.querySelectorAll('#sessions th').forEach(function (th) {
      th.addEventListener('click', function () {
        if (state.key === th.dataset.key) state.desc = !state.desc;
        else { state.key = th.dataset.key; state.desc = th.dataset.key === 'day'; }
        sort();
      });
    });
    apply();
    window.ONE_SITE_READY_MS = performance.now();
    body.dataset.ready = '1';
  }

  // -------------------------------------------------------------------------------- session page
  function sessionPage() {
    var status = document.getElementById('s-status');
    var eid = '';
    try { eid = decodeURIComponent(location.hash.slice(1)); } catch (e) { eid = ''; }
    if (!eid) { status.textContent = 'No session given: open a session from the index.'; return; }
    var n = parseInt(body.dataset.shards, 10) || 1, k = shardOf(eid, n);
    window.ONE_SITE_SHARD = function (num, shard) {
      if (num !== k) return;
      var s = null;
      for (var i = 0; i < shard.s.length; i++) if (shard.s[i].eid === eid) { s = shard.s[i]; break; }
      if (!s) { status.textContent = 'No session ' + eid + ' in this catalog.'; return; }
      showSession(s, shard);
      status.hidden = true;
      window.ONE_SITE_READY_MS = performance.now();
      body.dataset.ready = '1';
    };
    var script = document.createElement('script');
    script.src = 'data/sessions/' + k + '.js';
    script.onerror = function () { status.textContent = 'Cannot read data/sessions/' + k + '.js: rebuild the site.'; };
    document.body.appendChild(script);
    window.addEventListener('hashchange', function () { location.reload(); });
  }

  function showSession(s, shard) {
    var repo = body.dataset.repo;
    document.getElementById('session').hidden = false;
    document.getElementById('s-title').textContent = s.path;
    document.title = s.path + ' \u00b7 ' + document.title;
    var meta = document.getElementById('s-meta');
    function item(k, v) {
      if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) return;
      meta.appendChild(el('dt', k));
      meta.appendChild(el('dd', Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v));
    }
    item('Session id', s.eid); item('Lab', s.lab); item('Subject', s.subject); item('Date', s.date);
    item('Number', pad3(s.number)); item('Projects', s.projects); item('Task protocol', s.task_protocol);
    Object.keys(s.meta || {}).sort().forEach(function (key) { item(key, s.meta[key]); });

    var colls = {}, revs = {}, objects = [], seen = {};
    s.d.forEach(function (d) {
      var c = shard.colls[d[0]];
      colls[c] = (colls[c] || 0) + 1;
      if (d[1]) { revs[d[1]] = revs[d[1]] || { n: 0, def: 0 }; revs[d[1]].n++; if (d[4]) revs[d[1]].def++; }
      var obj = d[2].split('.')[0], key = c + '\u0000' + obj;
      if (d[4] && !seen[key]) { seen[key] = 1; objects.push([c, obj]); }
    });
    var ul = document.getElementById('s-collections');
    Object.keys(colls).sort().forEach(function (c) { ul.appendChild(el('li', (c || '(session folder)') + ' \u2014 ' + colls[c] + ' datasets')); });
    ul = document.getElementById('s-revisions');
    var names = Object.keys(revs).sort();
    if (!names.length) ul.appendChild(el('li', 'none (one version of each dataset)'));
    names.forEach(function (r) {
      var li = el('li', r + ' \u2014 ' + revs[r].n + ' datasets');
      if (revs[r].def) li.appendChild(el('span', 'default for ' + revs[r].def, 'badge'));
      ul.appendChild(li);
    });

    var py = ['from onecore import ONE', 'one = ONE(repo=' + pyStr(repo) + ')'];
    objects.slice(0, 20).forEach(function (o) {
      py.push('one.load_object(' + pyStr(s.eid) + ', ' + pyStr(o[1]) + (o[0] ? ', collection=' + pyStr(o[0]) : '') + ')');
    });
    if (objects.length > 20) py.push('# ... and ' + (objects.length - 20) + ' more objects: one.list_objects(' + pyStr(s.eid) + ')');
    document.getElementById('s-python').textContent = py.join('\n');
    document.getElementById('s-shell').textContent = 'one download ' + shStr(s.eid) + ' --repo ' + shStr(repo);

    var box = document.getElementById('s-plots');
    (s.plots || []).forEach(function (p) {
      if (!/^plots\/[\w\-\/.]+\.png$/.test(p[1])) return;
      var fig = el('figure'), img = el('img');
      img.src = p[1]; img.alt = p[0]; img.loading = 'lazy';
      fig.appendChild(img); fig.appendChild(el('figcaption', p[0]));
      box.appendChild(fig);
      document.getElementById('s-plots-box').hidden = false;
    });

    var tbody = document.querySelector('#datasets tbody'), frag = document.createDocumentFragment();
    s.d.forEach(function (d) {
      var tr = el('tr');
      tr.appendChild(el('td', shard.colls[d[0]]));
      var td = el('td', d[1]);
      if (d[4] && names.length) td.appendChild(el('span', 'default', 'badge'));
      tr.appendChild(td);
      tr.appendChild(el('td', d[2], 'name'));
      tr.appendChild(el('td', fmtSize(d[3]), 'num'));
      td = el('td');
      var url = d[5] >= 0 ? safeUrl(shard.dirs[d[5]] + '/' + d[6]) : null;
      if (url) {
        var a = el('a', 'download');
        a.href = url; a.rel = 'noopener noreferrer';
        td.appendChild(a);
      } else td.textContent = '\u2014';
      tr.appendChild(td);
      frag.appendChild(tr);
    });
    tbody.appendChild(frag);
  }

  function copyButtons() {
    document.querySelectorAll('button.copy').forEach(function (b) {
      b.addEventListener('click', function () {
        var pre = document.getElementById(b.dataset.for), text = pre.textContent;
        var done = function () { b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy'; }, 1500); };
        if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, function () {}); return; }
        var range = document.createRange(); range.selectNodeContents(pre);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        try { document.execCommand('copy'); done(); } catch (e) { /* the text stays selected */ }
      });
    });
  }

  if (body.dataset.page === 'index') indexPage();
  else if (body.dataset.page === 'session') { sessionPage(); copyButtons(); }
})();
