// sensorhub dashboard. Lists GET /sensors (every page, each drawn as it
// arrives) and keeps one card per sensor grouped by org · site and
// building / room; within a room, offline and too-hot cards come first. Live
// updates come from the changes feed: every second GET
// /sensors/changes?since=<cursor> answers the sensors heard or turned offline
// since the cursor (the server's clock, epoch ms; first the listing's time,
// then the answer's next_cursor), and only their cards are drawn again. When
// nothing changed the cursor stays, so an idle page asks the same URL: a
// conditional request (cache: "no-cache": the browser sends the ETag it
// holds) answered by a 304, headers only, and an answer whose ETag was drawn
// already is skipped. The whole listing comes again every minute (stale
// flags and ages turning with time, registry edits; cards no longer listed go),
// within 5 s when the feed's fleet count changes (a sensor registered or first
// heard of), and when the feed says complete: false (too many changes) or
// refuses the cursor. The API says what is true (status, never heard, stale,
// too hot, the site a sensor is of); this page only shows it. Values come
// converted by the API into the viewer's unit (the °C/°F switch, kept in
// localStorage). Sparklines come from GET /v1/series, up to 100 sensors a
// request, asked again after a new reading or when their window moves on.
// Sensor data is only ever set as text (never as HTML). With API keys
// configured, the read key typed into the key form is kept in sessionStorage
// (this browser session only) and sent as X-API-Key. Cards off screen are not
// laid out (content-visibility in dashboard.css). A card opens its sensor's
// page (sensor.js, #/sensors/<id>): click, or Enter on it (cards take the
// keyboard focus after the filter and the unit switch); back from it, the
// focus returns to that card. The overview stops polling while a sensor's
// page shows. A value that is not a finite number (null) shows as a dash,
// and a card that cannot be drawn shows its own error while the others
// carry on.
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var filterBox = document.getElementById("filter");
  var summary = document.getElementById("summary");
  var keyForm = document.getElementById("key-form");
  var keyInput = document.getElementById("api-key");
  var keyToggle = document.getElementById("key-toggle");
  var liveMs = Number(grid.dataset.liveMs) || 1000;   // the changes feed
  var fullMs = Number(grid.dataset.fullMs) || 60000;  // the whole listing
  var RETRY_MS = 3000;
  var AGES_EVERY_MS = 10000;
  var FEED_LIMIT = 5000;  // changes an answer may carry (the route's most); more: the whole listing
  var LIST_AGAIN_MS = 5000;
  var KEY_STORE = "sensorhub.apiKey";
  var UNIT_STORE = "sensorhub.unit";
  var unitSwitch = document.getElementById("unit-switch");
  var empty = document.getElementById("empty");
  var SVG = "http://www.w3.org/2000/svg";
  var SPARK_HOURS = 6;
  var SPARK_BUCKET = "15m";
  var SPARK_BUCKET_MS = 15 * 60000;
  var PAGE = 1000;
  var cards = {};   // sensor id -> {el, parts, sensor, group, seriesAt, seriesOf}
  var groups = {};  // group key -> {section, boxes: {room key -> cards container}}
  var timer = null;
  var fullDue = 0;         // when the whole listing is due next (Date.now())
  var feedCursor = null;   // since of the next GET /sensors/changes (null: list everything first)
  var feedTag = null;      // the ETag of the last changes answer drawn
  var fleet = null;        // the feed's fleet count: when it changes, the whole listing again
  var listedAt = 0, agesAt = 0;
  var skew = 0;            // the server's clock - this browser's
  var lastOpened = null;   // the card whose sensor page was opened last
  var generation = 0;      // a new unit or key: answers to requests asked before it are dropped
  // What the page has done (the browser tests and the bench read it).
  var live = {polls: 0, drawn: 0, lastDrawnAt: 0};
  var keyAsked = false;  // the key form opened itself once for the current refusal

  // -- API key -------------------------------------------------------------

  function storedKey() {
    // Earlier versions kept the key in localStorage, beyond the session: drop it.
    try { window.localStorage.removeItem(KEY_STORE); } catch (e) { /* storage disabled */ }
    try { return window.sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
  }

  function storeKey(value) {
    try {
      if (value) window.sessionStorage.setItem(KEY_STORE, value); else window.sessionStorage.removeItem(KEY_STORE);
    } catch (e) { /* storage disabled: the key lasts for this page only */ }
    sessionKey = value;
    document.dispatchEvent(new Event("sensorhub:key"));
  }

  var sessionKey = storedKey();

  // -- display unit (one per viewer; the API converts) ----------------------

  function storedUnit() {
    try { return window.localStorage.getItem(UNIT_STORE) === "F" ? "F" : "C"; } catch (e) { return "C"; }
  }

  var viewUnit = storedUnit();

  function showUnit() {
    Array.prototype.forEach.call(unitSwitch.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.unit === viewUnit));
    });
  }

  unitSwitch.addEventListener("click", function (event) {
    var unit = event.target && event.target.dataset ? event.target.dataset.unit : null;
    if (!unit || unit === viewUnit) return;
    viewUnit = unit;
    try { window.localStorage.setItem(UNIT_STORE, unit); } catch (e) { /* private mode: for this page only */ }
    showUnit();
    Object.keys(cards).forEach(function (id) { cards[id].seriesOf = null; cards[id].seriesAt = 0; });
    document.dispatchEvent(new Event("sensorhub:unit"));
    refreshNow();
  });
  showUnit();

  function apiHeaders() {
    var headers = {"Accept": "application/json"};
    if (sessionKey) headers["X-API-Key"] = sessionKey;
    return headers;
  }

  // What the sensor page (sensor.js) shares with the overview.
  window.sensorhub = {
    headers: function () { return apiHeaders(); },
    unit: function () { return viewUnit; },
    askKey: function () { showKeyForm(true); },
    formatValue: function (v) { return formatValue(v); },
    unitText: function (u) { return unitText(u); },
    live: live
  };

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
    Object.keys(cards).forEach(function (id) { cards[id].seriesOf = null; cards[id].seriesAt = 0; });
    refreshNow();
  });
  document.getElementById("key-forget").addEventListener("click", function () {
    storeKey("");
    keyInput.value = "";
    refreshNow();
  });

  // -- formatting -----------------------------------------------------------

  function age(iso, now) {
    var s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h";
    if (s < 86400 * 365) return Math.floor(s / 86400) + " d";
    return Math.floor(s / (86400 * 365)) + " y";
  }

  function ago(iso, now) {
    return iso ? age(iso, now) + " ago" : "never";
  }

  var STATUS_TEXT = {online: "online", offline: "offline", never_heard: "never heard"};

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
      site: s.site || null,
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
      var heading = el("h2", null, section);
      el("span", "site-name", heading).textContent = g.title;
      var hot = el("span", "badge", heading);
      hot.textContent = "too hot";
      hot.title = "This site has been above its threshold today";
      hot.hidden = true;
      insertSorted(grid, section, sortKeyOf(g.key));
      group = groups[g.key] = {section: section, hot: hot, site: g.site, rooms: el("div", "rooms", section), boxes: {}};
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
    // Opens the sensor's page: a link in all but tag (a card holds more than a link may).
    card.tabIndex = 0;
    card.setAttribute("role", "link");
    card.addEventListener("click", function () { openSensor(card.dataset.sensor); });
    card.addEventListener("keydown", function (event) {
      if (event.key === "Enter") openSensor(card.dataset.sensor);
    });
    var top = el("div", "top", card);
    var title = el("div", "title", top);
    var name = el("span", "name", title);
    var sub = el("span", "sub", title);
    var badge = el("span", "badge", top);
    badge.textContent = "too hot";
    badge.title = "A thermometer of a site above its threshold today";
    badge.hidden = true;
    var reading = el("div", "reading", card);
    var value = el("span", "value", reading);
    var unit = el("span", "unit", reading);
    var stale = el("div", "stale-note", card);
    stale.hidden = true;
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
            parts: {name: name, sub: sub, badge: badge, value: value, unit: unit, stale: stale, status: status, heard: heard,
                    spark: spark, error: error}};
  }

  function openSensor(id) {
    lastOpened = id;
    window.location.hash = "#/sensors/" + encodeURIComponent(id);
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
    // Offline and too-hot cards first in their room, then by name.
    var sortKey = (s.status === "offline" || s.too_hot ? "0" : "1") + (s.name || s.id).toLowerCase() + "\u0000" + s.id;
    if (entry.group !== g.key + "\u0001" + g.roomKey || entry.el.dataset.sort !== sortKey) {
      var box = cardsBox(g);
      insertSorted(box, entry.el, sortKey);
      entry.group = g.key + "\u0001" + g.roomKey;
      pruneEmpty();
    }
    entry.sensor = s;
    entry.drawnAt = Date.now();
    var p = entry.parts;
    p.name.textContent = s.name || s.id;
    p.sub.textContent = s.name ? s.id : (s.kind || "");
    p.badge.hidden = !s.too_hot;
    entry.el.classList.toggle("offline", s.status === "offline");
    entry.el.classList.toggle("never", s.status === "never_heard");
    entry.el.classList.toggle("hot", !!s.too_hot);
    entry.el.classList.toggle("stale", !!(s.stale && s.last_reading));
    entry.el.dataset.status = s.status;
    p.status.textContent = STATUS_TEXT[s.status] || s.status;
    if (s.last_reading) {
      p.value.textContent = formatValue(s.last_reading.value);
      p.unit.textContent = unitText(s.last_reading.unit);
      p.value.title = "reading of " + s.last_reading.at;
    } else {
      p.value.textContent = "–";
      p.unit.textContent = "";
      p.value.title = "no reading yet";
    }
    p.stale.hidden = !(s.stale && s.last_reading);
    p.stale.textContent = p.stale.hidden ? "" : "stale: reading " + age(s.last_reading.at, now) + " old";
    p.heard.textContent = s.last_heard ? "heard " + ago(s.last_heard, now) : "";
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

  // A sparkline is asked again after a new reading (at most every 15 s) or
  // when its window has moved on by a bucket; else what it shows still holds.
  function maybeSparkline(entry, now) {
    var s = entry.sensor;
    if (!s.last_reading) return;
    var fresh = entry.seriesOf === s.last_reading.at && entry.seriesEnd === sparkEnd(now);
    if (fresh || now - entry.seriesAt < 15000) return;
    entry.seriesAt = now;
    entry.seriesOf = s.last_reading.at;
    entry.seriesEnd = sparkEnd(now);
    dueSparklines.push(entry);
  }

  // The end of the sparklines' window: whole buckets, the current one included.
  function sparkEnd(now) {
    return (Math.floor(now / SPARK_BUCKET_MS) + 1) * SPARK_BUCKET_MS;
  }

  // The due sparklines of a refresh in requests of up to SERIES_CHUNK sensors
  // each, instead of one request per sensor.
  function fetchSparklines(now) {
    var due = dueSparklines;
    dueSparklines = [];
    // A window fixed for a bucket's length (whole buckets, the current one
    // included): asked again, it is a 304 until a reading lands in it.
    var end = sparkEnd(now);
    var query = "&unit=" + viewUnit + "&bucket=" + SPARK_BUCKET + "&start=" + encodeURIComponent(new Date(end - SPARK_HOURS * 3600000).toISOString()) +
      "&end=" + encodeURIComponent(new Date(end).toISOString());
    for (var i = 0; i < due.length; i += SERIES_CHUNK) {
      fetchSparklineChunk(due.slice(i, i + SERIES_CHUNK), query);
    }
  }

  function fetchSparklineChunk(entries, query) {
    var ids = entries.map(function (entry) { return entry.sensor.id; });
    fetch("/v1/series?sensors=" + ids.map(encodeURIComponent).join(",") + query, {headers: apiHeaders(), cache: "no-cache"})
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
      .catch(function () { entries.forEach(function (entry) { entry.seriesAt = 0; entry.seriesOf = null; }); });
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
      var text = [s.id, s.name, s.org, s.site, s.building, s.room, s.mac_address, s.kind, STATUS_TEXT[s.status] || s.status,
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
    return fetch("/sensors?limit=" + PAGE + "&unit=" + viewUnit + "&cursor=" + cursor, {headers: apiHeaders(), cache: "no-cache"}).then(function (r) {
      if (r.status === 401 || r.status === 403) throw keyError();
      if (!r.ok) throw new Error("HTTP " + r.status);
      // A 304 hands back the kept page with its old server_time: the answer's time is its Date.
      var answered = Date.parse(r.headers.get("Date"));
      return r.json().then(function (doc) {
        doc.answeredAt = Math.max(isNumber(answered) ? answered : 0, Date.parse(doc.server_time) || 0);
        return doc;
      });
    });
  }

  // Every page, each drawn as it arrives (onPage) so the first cards show
  // before the last page is in.
  function fetchAll(onPage) {
    var sensors = [];
    var hotSites = {};
    function next(cursor) {
      return fetchPage(cursor).then(function (doc) {
        onPage(doc);
        sensors = sensors.concat(doc.sensors);
        (doc.too_hot_sites || []).forEach(function (site) { hotSites[site] = true; });
        if (doc.next_cursor !== null && doc.next_cursor !== undefined) return next(doc.next_cursor);
        doc.sensors = sensors;
        doc.hotSites = hotSites;
        return doc;
      });
    }
    return next(0);
  }

  // -- live: the changes feed every second, the whole listing every minute --

  function countsText() {
    var total = 0, offline = 0, never = 0, hot = 0;
    Object.keys(cards).forEach(function (id) {
      var s = cards[id].sensor;
      if (!s) return;
      total++;
      if (s.status === "offline") offline++;
      if (s.status === "never_heard") never++;
      if (s.too_hot) hot++;
    });
    return total + " sensors · " + offline + " offline" + (never ? " · " + never + " never heard" : "") +
      (hot ? " · " + hot + " too hot" : "");
  }

  // The summary is aria-live: rewritten only when what it says changes (not every second).
  function showSummary() {
    var text = countsText() + " · live";
    if (summary.textContent !== text || summary.classList.contains("error")) {
      summary.textContent = text;
      summary.title = "listed " + new Date(listedAt).toLocaleTimeString();
    }
    summary.classList.remove("error");
    keyAsked = false;
  }

  function showHotSites(sites, hotSites) {
    Object.keys(groups).forEach(function (key) {
      var group = groups[key];
      if (sites !== null && !(group.site && sites[group.site])) return;
      group.hot.hidden = !(group.site && hotSites[group.site]);
      group.section.classList.toggle("hot", !group.hot.hidden);
    });
  }

  // The whole listing: every page, each drawn as it arrives; cards of sensors
  // no longer listed (another key's org) go, unless drawn since it began.
  function listAll() {
    var began = Date.now(), mine = generation;
    fullDue = began + fullMs;
    return fetchAll(function (page) {
      if (mine !== generation) return;  // asked before a new unit or key: a newer listing draws
      var now = page.answeredAt || Date.now();
      if (feedCursor === null) {
        // The feed carries on from the first page's time (its overlap covers the Date's whole seconds).
        feedCursor = Math.floor(now);
        feedTag = null;
      }
      page.sensors.forEach(function (s) { renderSafely(s, now); });
    }).then(function (doc) {
      if (mine !== generation) return;
      var listed = {};
      doc.sensors.forEach(function (s) { if (s) listed[String(s.id)] = true; });
      Object.keys(cards).forEach(function (id) {
        if (!listed[id] && cards[id].drawnAt < began) { cards[id].el.remove(); delete cards[id]; }
      });
      pruneEmpty();
      listedAt = Date.now();
      skew = (doc.answeredAt || listedAt) - listedAt;
      showHotSites(null, doc.hotSites);
      empty.hidden = doc.total !== 0;
      fetchSparklines(doc.answeredAt || Date.now());
      showSummary();
      applyFilter();
    });
  }

  // GET /sensors/changes since the cursor. An idle page asks the same URL
  // again and gets a 304; the answer then is the one drawn already (same
  // ETag): nothing to do.
  function pollChanges() {
    var url = "/sensors/changes?since=" + feedCursor + "&unit=" + viewUnit + "&limit=" + FEED_LIMIT;
    var mine = generation;
    return fetch(url, {headers: apiHeaders(), cache: "no-cache"}).then(function (r) {
      if (mine !== generation) return null;  // asked before a new unit or key
      if (r.status === 401 || r.status === 403) throw keyError();
      if (r.status === 422) { feedCursor = null; return null; }  // a cursor it does not take: list again
      if (!r.ok) throw new Error("HTTP " + r.status);
      var tag = r.headers.get("ETag");
      if (tag && tag === feedTag) return null;
      var answered = Date.parse(r.headers.get("Date"));
      return r.json().then(function (doc) {
        if (mine !== generation) return null;
        feedTag = tag;
        if (!doc.complete) { feedCursor = null; return null; }  // too many changes: list everything again
        // A sensor registered or first heard of: the whole listing, soon (at most every LIST_AGAIN_MS).
        if (fleet !== null && doc.fleet !== fleet) fullDue = Math.min(fullDue, listedAt + LIST_AGAIN_MS);
        fleet = doc.fleet;
        var now = Math.max(isNumber(answered) ? answered : 0, Date.parse(doc.server_time) || 0) || Date.now();
        skew = now - Date.now();
        var fresh = false, sites = {}, hotSites = {};
        doc.sensors.forEach(function (s) {
          fresh = fresh || !cards[s.id];
          renderSafely(s, now);
          if (s.site) sites[s.site] = true;
        });
        (doc.too_hot_sites || []).forEach(function (site) { hotSites[site] = true; });
        if (doc.sensors.length) {
          showHotSites(sites, hotSites);
          empty.hidden = true;
          fetchSparklines(now);
          showSummary();
          if (fresh || filterBox.value.trim()) applyFilter();
          live.drawn += doc.sensors.length;
          live.lastDrawnAt = Date.now();
        }
        feedCursor = doc.next_cursor;
        return null;
      });
    });
  }

  function keyError() {
    var error = new Error(sessionKey ? "this API key may not read sensors" : "a read API key is needed");
    error.needsKey = true;
    return error;
  }

  // "heard N s ago" and "stale: reading N old" of every card, as time passes
  // (text only; a card is drawn again when the feed or the listing says so).
  function showAges() {
    var now = Date.now() + skew;
    agesAt = Date.now();
    Object.keys(cards).forEach(function (id) {
      var entry = cards[id], s = entry.sensor;
      if (!s || !s.last_heard) return;
      var heard = "heard " + ago(s.last_heard, now);
      if (entry.parts.heard.textContent !== heard) entry.parts.heard.textContent = heard;
      if (!entry.parts.stale.hidden && s.last_reading) {
        var note = "stale: reading " + age(s.last_reading.at, now) + " old";
        if (entry.parts.stale.textContent !== note) entry.parts.stale.textContent = note;
      }
    });
  }

  function tick() {
    timer = null;
    if (document.body.classList.contains("sensor-view")) {  // the sensor page shows: no need for the overview
      schedule(liveMs);
      return;
    }
    var listing = feedCursor === null || Date.now() >= fullDue;
    (listing ? listAll() : pollChanges())
      .then(function () {
        live.polls++;
        if (Date.now() - agesAt >= AGES_EVERY_MS) showAges();
        schedule(liveMs);
      }, function (e) {
        summary.textContent = e.needsKey ? "Enter an API key: " + e.message + "." :
          "Cannot reach sensorhub (" + e.message + "), retrying…";
        summary.classList.add("error");
        if (e.needsKey && !keyAsked) { keyAsked = true; showKeyForm(true); }
        if (listing) fullDue = 0;  // the listing again at the next try
        schedule(RETRY_MS);
      });
  }

  function schedule(ms) {
    if (timer === null) timer = setTimeout(tick, ms);
  }

  // Everything listed again now (a new key or unit, back from a sensor's page).
  function refreshNow() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    generation++;
    feedCursor = null;
    tick();
  }

  filterBox.addEventListener("input", applyFilter);
  // Back from a sensor's page: listed again, the keyboard focus on the card it was opened from.
  document.addEventListener("sensorhub:overview", function () {
    refreshNow();
    var back = lastOpened !== null && cards[lastOpened];
    if (back) back.el.focus();
  });
  // The empty page's command: the clipboard where the browser allows it
  // (https or localhost), else selected for the viewer to copy.
  document.getElementById("copy-first-reading").addEventListener("click", function (event) {
    var code = document.getElementById("first-reading"), button = event.target;
    function selectIt() {
      var range = document.createRange();
      range.selectNodeContents(code);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code.textContent).then(function () { button.textContent = "Copied"; }, selectIt);
    } else {
      selectIt();
    }
  });
  if (grid.dataset.keysRequired === "true" && !sessionKey) showKeyForm(true);
  tick();
})();
