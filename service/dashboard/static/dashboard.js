// sensorhub dashboard: polls GET /sensors (every page), keeps one card per
// sensor grouped by org · site and building / room, and updates it in place,
// so new sensors appear and offline ones turn red without a reload. Sparklines
// come from GET /v1/series, up to 100 sensors a request. Sensor data is only ever set as text
// (never as HTML). With API keys configured, the read key typed into the key
// form is kept in localStorage and sent as X-API-Key. A value that is not a
// finite number (null) shows as a dash, and a card that cannot be drawn shows
// its own error while the others carry on.
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var filterBox = document.getElementById("filter");
  var summary = document.getElementById("summary");
  var keyForm = document.getElementById("key-form");
  var keyInput = document.getElementById("api-key");
  var keyToggle = document.getElementById("key-toggle");
  var refreshMs = Number(grid.dataset.refreshMs) || 3000;
  var KEY_STORE = "sensorhub.apiKey";
  var SVG = "http://www.w3.org/2000/svg";
  var SPARK_HOURS = 6;
  var SPARK_BUCKET = "15m";
  var SERIES_EVERY_MS = 60000;
  var PAGE = 1000;
  var cards = {};   // sensor id -> {el, parts, sensor, group, seriesAt, seriesOf}
  var groups = {};  // group key -> {section, boxes: {room key -> cards container}}
  var timer = null;
  var keyAsked = false;  // the key form opened itself once for the current refusal

  // -- API key -------------------------------------------------------------

  function storedKey() {
    try { return window.localStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
  }

  function storeKey(value) {
    try {
      if (value) window.localStorage.setItem(KEY_STORE, value); else window.localStorage.removeItem(KEY_STORE);
    } catch (e) { /* private mode: the key lasts for this page only */ }
    sessionKey = value;
  }

  var sessionKey = storedKey();

  function apiHeaders() {
    var headers = {"Accept": "application/json"};
    if (sessionKey) headers["X-API-Key"] = sessionKey;
    return headers;
  }

  function showKeyForm(show) {
    keyForm.hidden = !show;
    keyToggle.hidden = false;
    if (show) keyInput.focus();
  }

  keyToggle.addEventListener("click", function () { showKeyForm(keyForm.hidden); });
  keyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    storeKey(keyInput.value.trim());
    keyInput.value = "";
    keyForm.hidden = true;
    keyAsked = false;
    Object.keys(cards).forEach(function (id) { cards[id].seriesAt = 0; });
    refreshNow();
  });
  document.getElementById("key-forget").addEventListener("click", function () {
    storeKey("");
    keyInput.value = "";
    refreshNow();
  });

  // -- formatting -----------------------------------------------------------

  function ago(iso, now) {
    if (!iso) return "never";
    var s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function isNumber(v) {
    return typeof v === "number" && isFinite(v);
  }

  function formatValue(v) {
    if (!isNumber(v)) return "—";
    var size = Math.abs(v);
    if (size >= 1e6) return v.toPrecision(3);
    return size >= 1000 ? v.toFixed(0) : v.toFixed(1);
  }

  function unitText(unit) {
    if (unit === "C" || unit === "F") return "°" + unit;
    return unit || "";
  }

  // -- grouping -------------------------------------------------------------

  function groupOf(s) {
    return {
      key: [s.org || "", s.site || ""].join("\u0000"),
      title: (s.org || "no org") + " · " + (s.site || "no site"),
      roomKey: [s.building || "", s.room || ""].join("\u0000"),
      roomTitle: s.room ? (s.building ? s.building + " / " : "") + s.room : (s.building ? s.building + " / no room" : "no room")
    };
  }

  function el(tag, cls, parent) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Keeps children sorted by their data-sort text (no-org/no-room last: "\uffff").
  function insertSorted(parent, node, sortKey) {
    node.dataset.sort = sortKey;
    var children = parent.children, before = null;
    for (var i = 0; i < children.length; i++) {
      if (children[i].dataset.sort !== undefined && children[i].dataset.sort > sortKey) { before = children[i]; break; }
    }
    parent.insertBefore(node, before);
  }

  function sortKeyOf(key) {
    return key.split("\u0000").map(function (part) { return part || "\uffff"; }).join("\u0000");
  }

  function cardsBox(g) {
    var group = groups[g.key];
    if (!group) {
      var section = el("section", "group");
      section.dataset.group = g.key;
      el("h2", null, section).textContent = g.title;
      insertSorted(grid, section, sortKeyOf(g.key));
      group = groups[g.key] = {section: section, rooms: el("div", "rooms", section), boxes: {}};
    }
    var box = group.boxes[g.roomKey];
    if (!box) {
      var room = el("div", "room");
      room.dataset.room = g.roomKey;
      el("h3", null, room).textContent = g.roomTitle;
      box = el("div", "cards", room);
      insertSorted(group.rooms, room, sortKeyOf(g.roomKey));
      group.boxes[g.roomKey] = box;
    }
    return box;
  }

  // -- cards ----------------------------------------------------------------

  function createCard(s) {
    var card = el("article", "card");
    card.dataset.sensor = s.id;
    var top = el("div", "top", card);
    var title = el("div", "title", top);
    var name = el("span", "name", title);
    var sub = el("span", "sub", title);
    var badge = el("span", "badge", top);
    badge.textContent = "too hot";
    badge.title = "This sensor's site has been above its threshold today";
    badge.hidden = true;
    var reading = el("div", "reading", card);
    var value = el("span", "value", reading);
    var unit = el("span", "unit", reading);
    var foot = el("div", "foot", card);
    var status = el("span", "status", foot);
    var heard = el("span", "heard", foot);
    var error = el("div", "error", card);
    error.hidden = true;
    var spark = document.createElementNS(SVG, "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", "0 0 100 30");
    spark.setAttribute("preserveAspectRatio", "none");
    spark.setAttribute("role", "img");
    spark.setAttribute("hidden", "");  // SVG elements have no .hidden property
    card.appendChild(spark);
    return {el: card, seriesAt: 0, seriesOf: null,
            parts: {name: name, sub: sub, badge: badge, value: value, unit: unit, status: status, heard: heard, spark: spark,
                    error: error}};
  }

  // Renders one sensor's card; if that fails (data this page does not
  // expect), the card shows an error of its own and the other cards carry on.
  function renderSafely(s, now) {
    try {
      render(s, now);
      var done = cards[s.id];
      done.el.classList.remove("broken");
      done.parts.error.hidden = true;
    } catch (e) {
      try { renderBroken(s, e); } catch (ignored) { /* not even an id: nothing to show it in */ }
    }
  }

  function renderBroken(s, e) {
    var id = String(s.id);
    var entry = cards[id];
    if (!entry) entry = cards[id] = createCard({id: id});
    if (!entry.group) {
      var g = {key: "", title: "no org · no site", roomKey: "", roomTitle: "no room"};
      try { g = groupOf(s); } catch (ignored) { /* the fallback group above */ }
      insertSorted(cardsBox(g), entry.el, id.toLowerCase() + "\u0000" + id);
      entry.group = g.key + "\u0001" + g.roomKey;
    }
    if (!entry.sensor) entry.sensor = {id: id};
    entry.el.classList.add("broken");
    entry.parts.name.textContent = id;
    entry.parts.error.textContent = "Cannot show this sensor: " + (e && e.message ? e.message : String(e));
    entry.parts.error.hidden = false;
  }

  function render(s, now) {
    var entry = cards[s.id];
    if (!entry) entry = cards[s.id] = createCard(s);
    var g = groupOf(s);
    if (entry.group !== g.key + "\u0001" + g.roomKey) {
      var box = cardsBox(g);
      insertSorted(box, entry.el, (s.name || s.id).toLowerCase() + "\u0000" + s.id);
      entry.group = g.key + "\u0001" + g.roomKey;
      pruneEmpty();
    }
    entry.sensor = s;
    var p = entry.parts;
    p.name.textContent = s.name || s.id;
    p.sub.textContent = s.name ? s.id : (s.kind || "");
    p.badge.hidden = !s.too_hot;
    entry.el.classList.toggle("offline", s.status === "offline");
    entry.el.classList.toggle("hot", !!s.too_hot);
    entry.el.dataset.status = s.status;
    p.status.textContent = s.status;
    if (s.last_reading) {
      p.value.textContent = formatValue(s.last_reading.value);
      p.unit.textContent = unitText(s.last_reading.unit);
      p.value.title = "reading of " + s.last_reading.at;
    } else {
      p.value.textContent = "–";
      p.unit.textContent = "";
      p.value.title = "no reading yet";
    }
    p.heard.textContent = "heard " + ago(s.last_heard, now);
    p.heard.title = s.last_heard || "";
    maybeSparkline(entry, now);
  }

  function pruneEmpty() {
    Object.keys(groups).forEach(function (key) {
      var group = groups[key];
      Object.keys(group.boxes).forEach(function (roomKey) {
        var box = group.boxes[roomKey];
        if (!box.children.length) { group.rooms.removeChild(box.parentNode); delete group.boxes[roomKey]; }
      });
      if (!Object.keys(group.boxes).length) { grid.removeChild(group.section); delete groups[key]; }
    });
  }

  // -- sparklines (GET /v1/series?sensors=a,b,...: {window, series: [{sensor, unit, points: [{t, avg, min, max, count}]}]}) --

  var SERIES_CHUNK = 100;  // sensors per request (the route's limit)
  var dueSparklines = [];  // cards whose sparkline is fetched after this refresh's render

  function maybeSparkline(entry, now) {
    var s = entry.sensor;
    if (!s.last_reading) return;
    var fresh = entry.seriesOf === s.last_reading.at;
    if (now - entry.seriesAt < (fresh ? SERIES_EVERY_MS : 15000)) return;
    entry.seriesAt = now;
    entry.seriesOf = s.last_reading.at;
    dueSparklines.push(entry);
  }

  // The due sparklines of a refresh in requests of up to SERIES_CHUNK sensors
  // each, instead of one request per sensor.
  function fetchSparklines(now) {
    var due = dueSparklines;
    dueSparklines = [];
    var query = "&bucket=" + SPARK_BUCKET + "&start=" + encodeURIComponent(new Date(now - SPARK_HOURS * 3600000).toISOString());
    for (var i = 0; i < due.length; i += SERIES_CHUNK) {
      fetchSparklineChunk(due.slice(i, i + SERIES_CHUNK), query);
    }
  }

  function fetchSparklineChunk(entries, query) {
    var ids = entries.map(function (entry) { return entry.sensor.id; });
    fetch("/v1/series?sensors=" + ids.map(encodeURIComponent).join(",") + query, {headers: apiHeaders()})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) {
        if (!doc) throw new Error("no series");
        var bySensor = {};
        doc.series.forEach(function (one) { bySensor[one.sensor] = one; });
        entries.forEach(function (entry) {
          var one = bySensor[entry.sensor.id];
          if (!one) return;
          try {
            drawSparkline(entry.parts.spark, {window: doc.window, unit: one.unit, points: one.points});
          } catch (e) {
            entry.parts.spark.setAttribute("hidden", "");  // one bad series hides its own sparkline only
          }
        });
      })
      .catch(function () { entries.forEach(function (entry) { entry.seriesAt = 0; }); });
  }

  function drawSparkline(svg, doc) {
    // Only points whose numbers are all finite (null is skipped).
    var points = (doc.points || []).filter(function (p) {
      return p && isNumber(p.avg) && isNumber(p.min) && isNumber(p.max) && isNumber(Date.parse(p.t));
    });
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!points.length) { svg.setAttribute("hidden", ""); return; }
    var start = Date.parse(doc.window.start), span = Date.parse(doc.window.end) - start || 1;
    var low = Math.min.apply(null, points.map(function (p) { return p.min; }));
    var high = Math.max.apply(null, points.map(function (p) { return p.max; }));
    // Halves: high - low overflows to Infinity for values near ±1.8e308.
    var range = high / 2 - low / 2 || 1;
    function x(p) { return ((Date.parse(p.t) - start) * 100 / span).toFixed(2); }
    function y(v) { return (27 - (v / 2 - low / 2) / range * 24).toFixed(2); }
    var band = document.createElementNS(SVG, "polygon");
    band.setAttribute("class", "band");
    band.setAttribute("points", points.map(function (p) { return x(p) + "," + y(p.max); })
      .concat(points.slice().reverse().map(function (p) { return x(p) + "," + y(p.min); })).join(" "));
    svg.appendChild(band);
    var line = document.createElementNS(SVG, points.length > 1 ? "polyline" : "circle");
    if (points.length > 1) {
      line.setAttribute("points", points.map(function (p) { return x(p) + "," + y(p.avg); }).join(" "));
    } else {
      line.setAttribute("cx", x(points[0]));
      line.setAttribute("cy", y(points[0].avg));
      line.setAttribute("r", "1.5");
    }
    svg.appendChild(line);
    var unit = unitText(doc.unit);
    var label = "last " + SPARK_HOURS + " h: " + formatValue(low) + "–" + formatValue(high) + (unit ? " " + unit : "");
    var title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.appendChild(title);
    svg.setAttribute("aria-label", label);
    svg.removeAttribute("hidden");
  }

  // -- filter and refresh ---------------------------------------------------

  function applyFilter() {
    var q = filterBox.value.trim().toLowerCase();
    Object.keys(cards).forEach(function (id) {
      var c = cards[id], s = c.sensor || {id: id};
      var text = [s.id, s.name, s.org, s.site, s.building, s.room, s.mac_address, s.kind, s.status,
                  s.too_hot ? "too hot" : ""].join(" ").toLowerCase();
      c.el.hidden = q !== "" && text.indexOf(q) < 0;
    });
    Object.keys(groups).forEach(function (key) {
      var group = groups[key], any = false;
      Object.keys(group.boxes).forEach(function (roomKey) {
        var box = group.boxes[roomKey];
        var visible = Array.prototype.some.call(box.children, function (c) { return !c.hidden; });
        box.parentNode.hidden = !visible;
        any = any || visible;
      });
      group.section.hidden = !any;
    });
  }

  function fetchPage(cursor) {
    return fetch("/sensors?limit=" + PAGE + "&cursor=" + cursor, {headers: apiHeaders()}).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        var error = new Error(sessionKey ? "this API key may not read sensors" : "a read API key is needed");
        error.needsKey = true;
        throw error;
      }
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function fetchAll() {
    var sensors = [];
    function next(cursor) {
      return fetchPage(cursor).then(function (doc) {
        sensors = sensors.concat(doc.sensors);
        if (doc.next_cursor !== null && doc.next_cursor !== undefined) return next(doc.next_cursor);
        doc.sensors = sensors;
        return doc;
      });
    }
    return next(0);
  }

  function refresh() {
    timer = null;
    fetchAll()
      .then(function (doc) {
        var now = Date.parse(doc.server_time) || Date.now();
        doc.sensors.forEach(function (s) { renderSafely(s, now); });
        fetchSparklines(now);
        var offline = doc.sensors.filter(function (s) { return s && s.status === "offline"; }).length;
        var hot = doc.sensors.filter(function (s) { return s && s.too_hot; }).length;
        summary.textContent = doc.total + " sensors · " + offline + " offline" + (hot ? " · " + hot + " too hot" : "") +
          " · updated " + new Date().toLocaleTimeString();
        summary.classList.remove("error");
        keyAsked = false;
        applyFilter();
      })
      .catch(function (e) {
        summary.textContent = e.needsKey ? "Enter an API key: " + e.message + "." :
          "Cannot reach sensorhub (" + e.message + "), retrying…";
        summary.classList.add("error");
        if (e.needsKey && !keyAsked) { keyAsked = true; showKeyForm(true); }
      })
      .then(function () { if (timer === null) timer = setTimeout(refresh, refreshMs); });
  }

  function refreshNow() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    refresh();
  }

  filterBox.addEventListener("input", applyFilter);
  if (grid.dataset.keysRequired === "true" && !sessionKey) showKeyForm(true);
  refresh();
})();
