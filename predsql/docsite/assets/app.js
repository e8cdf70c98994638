/* predsql docs: a static page over window.PREDSQL_DOCS (docs_data.js).
 * Routes: #!/ (overview), #!/node/<unique id>, #!/graph?select=<selector>&tests=1
 * Graphs: cytoscape.js draws; dagre (cytoscape-dagre) lays out graphs of up to
 * DAGRE_MAX nodes; larger ones use the layers computed at generate time. */
(function () {
  "use strict";
  var DOCS = window.PREDSQL_DOCS;
  var NODES = DOCS.nodes;
  var PROJECT = DOCS.project;
  var DAGRE_MAX = 150;
  var LIST_CAP = 200;
  var GROUPS = ["model", "ml_function", "onnx_file", "source", "seed", "snapshot", "analysis", "test"];
  var LABELS = {
    model: "Models", ml_function: "ML functions", onnx_file: "Model files", source: "Sources",
    seed: "Seeds", snapshot: "Snapshots", analysis: "Analyses", test: "Tests"
  };
  var COLORS = {
    model: "#1f6feb", seed: "#2da44e", source: "#0f8b8d", snapshot: "#8250df", test: "#8c959f",
    ml_function: "#d1620a", onnx_file: "#9a3412", analysis: "#57606a"
  };
  var state = { query: "", expanded: {}, cy: null };
  var timings = window.__predsqlTimings = { graphs: [] };

  /* ---------- small helpers ---------- */
  function $(id) { return document.getElementById(id); }
  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }
  function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function fmtRate(n) {
    return n === null || n === undefined ? "–" : Math.round(Number(n)).toLocaleString("en-US") + " rows/s";
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    var units = ["B", "KB", "MB", "GB"]; var i = 0; var v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v) + " " + units[i];
  }
  function fmtTime(iso) {
    if (!iso) return "";
    return String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, " UTC");
  }
  function shortProvider(name) { return String(name || "").replace(/ExecutionProvider$/, ""); }
  function href(id) { return "#!/node/" + encodeURIComponent(id); }
  function link(id, text) {
    var node = NODES[id];
    return '<a href="' + href(id) + '">' + esc(text || (node ? node.name : id)) + "</a>";
  }
  function badge(node) {
    var kind = node.kind === "unit_test" ? "unit test" : node.type.replace("_", " ");
    return '<span class="badge ' + esc(node.kind || node.type) + '">' + esc(kind) + "</span>";
  }
  function graphHref(select, tests) {
    return "#!/graph?select=" + encodeURIComponent(select) + (tests ? "&tests=1" : "");
  }
  function facts(rows) {
    return '<dl class="facts">' + rows.filter(function (r) { return r[1] !== null && r[1] !== undefined && r[1] !== ""; })
      .map(function (r) { return "<dt>" + esc(r[0]) + "</dt><dd>" + r[1] + "</dd>"; }).join("") + "</dl>";
  }

  /* ---------- search ---------- */
  var INDEX = Object.keys(NODES).map(function (id) {
    var n = NODES[id];
    var columns = (n.columns || []).map(function (c) { return c.name; }).join(" ");
    var text = (n.description_html || "").replace(/<[^>]+>/g, " ");
    return {
      id: id, name: n.name.toLowerCase(),
      hay: [n.name, id, n.path || "", (n.tags || []).join(" "), columns, text].join(" ").toLowerCase()
    };
  });

  function search(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    var hits = [];
    INDEX.forEach(function (entry) {
      for (var i = 0; i < words.length; i++) if (entry.hay.indexOf(words[i]) < 0) return;
      var first = words[0] || "";
      var rank = entry.name === first ? 0 : entry.name.indexOf(first) === 0 ? 1 :
        entry.name.indexOf(first) >= 0 ? 2 : 3;
      hits.push([rank, GROUPS.indexOf(NODES[entry.id].type), entry.name, entry.id]);
    });
    hits.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0); });
    return hits.map(function (h) { return h[3]; });
  }

  /* ---------- sidebar ---------- */
  function itemHtml(id) {
    var n = NODES[id];
    return '<li><a href="' + href(id) + '" data-id="' + esc(id) + '" title="' + esc(id) + '">' +
      esc(n.name) + (["model", "seed", "snapshot"].indexOf(n.type) >= 0 ? "<small>" + esc(n.materialized || "") + "</small>" : "") + "</a></li>";
  }

  function renderSidebar() {
    var query = state.query.trim();
    var html = "";
    if (query) {
      var hits = search(query);
      html += '<div class="group"><h3>' + fmtInt(hits.length) + " results</h3><ul id=\"search-results\">";
      hits.slice(0, LIST_CAP).forEach(function (id) {
        var n = NODES[id];
        html += '<li><a href="' + href(id) + '" data-id="' + esc(id) + '">' + esc(n.name) +
          ' <small>' + esc(n.kind === "unit_test" ? "unit test" : n.type.replace("_", " ")) + "</small></a></li>";
      });
      html += "</ul>" + (hits.length > LIST_CAP ? '<div class="more">' + fmtInt(hits.length - LIST_CAP) +
        " more: refine the search</div>" : "") + "</div>";
    } else {
      var byType = {};
      Object.keys(NODES).forEach(function (id) { (byType[NODES[id].type] = byType[NODES[id].type] || []).push(id); });
      GROUPS.concat(Object.keys(byType).filter(function (t) { return GROUPS.indexOf(t) < 0; }))
        .forEach(function (type) {
          var ids = byType[type];
          if (!ids) return;
          ids.sort(function (a, b) { return NODES[a].name < NODES[b].name ? -1 : 1; });
          var open = state.expanded[type] !== undefined ? state.expanded[type] : type !== "test";
          var cap = state.expanded[type + ":all"] ? ids.length : LIST_CAP;
          html += '<div class="group" data-type="' + esc(type) + '"><h3 data-toggle="' + esc(type) + '">' +
            (open ? "▾ " : "▸ ") + esc(LABELS[type] || type) + " (" + fmtInt(ids.length) + ")</h3>";
          if (open) {
            html += "<ul>" + ids.slice(0, cap).map(itemHtml).join("") + "</ul>";
            if (ids.length > cap) {
              html += '<div class="more"><a href="javascript:void 0" data-all="' + esc(type) + '">show all ' +
                fmtInt(ids.length) + "</a></div>";
            }
          }
          html += "</div>";
        });
    }
    $("results").innerHTML = html;
    markActive();
  }

  function markActive() {
    var current = currentNode();
    var links = $("results").querySelectorAll("a[data-id]");
    for (var i = 0; i < links.length; i++) {
      links[i].classList.toggle("active", links[i].getAttribute("data-id") === current);
    }
  }

  function currentNode() {
    var m = /^#!\/node\/(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  /* ---------- graph selection (dbt's selector syntax, the common part) ---------- */
  function walk(start, edges, depth) {
    var seen = {}; var frontier = [start]; var level = 0;
    while (frontier.length && level < depth) {
      var next = [];
      frontier.forEach(function (id) {
        (NODES[id][edges] || []).forEach(function (other) {
          if (!seen[other]) { seen[other] = true; next.push(other); }
        });
      });
      frontier = next; level++;
    }
    return Object.keys(seen);
  }

  function globRe(text) {
    return new RegExp("^" + text.replace(/[.+^${}()|[\]\\?]/g, "\\$&").replace(/\*/g, ".*") + "$", "i");
  }

  function matchCore(core) {
    var ids = Object.keys(NODES);
    if (core === "*") return ids;
    var m = /^(tag|type|resource_type|path|source|fqn):(.*)$/.exec(core);
    if (m) {
      var value = m[2].toLowerCase();
      return ids.filter(function (id) {
        var n = NODES[id];
        if (m[1] === "tag") return (n.tags || []).some(function (t) { return String(t).toLowerCase() === value; });
        if (m[1] === "type" || m[1] === "resource_type") return n.type === value || n.kind === value;
        if (m[1] === "path") return (n.path || "").toLowerCase().indexOf(value) === 0;
        if (m[1] === "source") return n.type === "source" && (n.name.toLowerCase() === value || n.name.toLowerCase().indexOf(value + ".") === 0);
        return globRe(value).test((n.fqn || []).join("."));
      });
    }
    if (NODES[core]) return [core];
    var re = globRe(core);
    return ids.filter(function (id) { return re.test(NODES[id].name); });
  }

  function selectTerm(term) {
    var up = 0; var down = 0; var core = term;
    var lead = /^(\d*)\+/.exec(core);
    if (lead) { up = lead[1] ? Number(lead[1]) : Infinity; core = core.slice(lead[0].length); }
    var tail = /\+(\d*)$/.exec(core);
    if (tail) { down = tail[1] ? Number(tail[1]) : Infinity; core = core.slice(0, core.length - tail[0].length); }
    var result = {};
    var mark = core === "*" || /^(tag|path|fqn):/.test(core) ? "wild" : "core";
    matchCore(core).forEach(function (id) {
      result[id] = mark;
      if (up) walk(id, "parents", up).forEach(function (p) { result[p] = result[p] || "up"; });
      if (down) walk(id, "children", down).forEach(function (c) { result[c] = result[c] || "down"; });
    });
    return result;
  }

  function select(expression, showTests) {
    var chosen = {};
    expression.trim().split(/\s+/).filter(Boolean).forEach(function (union) {
      var parts = union.split(",").map(selectTerm);
      Object.keys(parts[0]).forEach(function (id) {
        if (parts.every(function (p) { return p[id]; })) chosen[id] = chosen[id] === "core" ? "core" : parts[0][id];
      });
    });
    return Object.keys(chosen).filter(function (id) {
      return showTests || NODES[id].type !== "test" || chosen[id] === "core";
    });
  }

  /* ---------- graph drawing ---------- */
  /* Graphs too large for dagre: one column per layer (computed at generate time),
   * nodes in the layer's order; a layer taller than the box's aspect allows wraps
   * into several columns, all left of the next layer. */
  function layeredPositions(ids, width, height) {
    var COL = 200; var ROW = 38;
    var sorted = ids.slice().sort(function (a, b) {
      return NODES[a].layer - NODES[b].layer || NODES[a].order - NODES[b].order;
    });
    var maxRows = Math.max(20, Math.ceil(Math.sqrt(ids.length * COL * height / (ROW * width))));
    var positions = {}; var column = -1; var layers = -1; var layer = null; var row = 0;
    sorted.forEach(function (id) {
      if (NODES[id].layer !== layer) layers++;
      if (NODES[id].layer !== layer || row >= maxRows) { column++; row = 0; layer = NODES[id].layer; }
      positions[id] = { x: column * COL + layers * COL / 2, y: row++ * ROW };  // a wider gap between layers
    });
    return positions;
  }

  function elementsFor(ids, focus, big, box) {
    var inSet = {}; ids.forEach(function (id) { inSet[id] = true; });
    var positions = big ? layeredPositions(ids, box.clientWidth || 1000, box.clientHeight || 600) : null;
    var elements = [];
    ids.forEach(function (id) {
      var n = NODES[id];
      var label = n.name.length > 38 ? n.name.slice(0, 36) + "…" : n.name;
      var element = {
        group: "nodes",
        data: { id: id, label: label, color: COLORS[n.type] || "#57606a", w: big ? 170 : Math.max(60, label.length * 7 + 24) },
        classes: [n.type, n.materialized === "ephemeral" ? "ephemeral" : "", id === focus ? "focus" : ""].join(" ")
      };
      if (big) element.position = positions[id];
      elements.push(element);
    });
    ids.forEach(function (id) {
      (NODES[id].parents || []).forEach(function (p) {
        if (!inSet[p]) return;
        var ml = NODES[p].type === "ml_function" || NODES[p].type === "onnx_file";
        elements.push({ group: "edges", data: { id: p + "->" + id, source: p, target: id }, classes: ml ? "ml" : "" });
      });
    });
    return elements;
  }

  function graphStyle(big) {
    return [
      { selector: "node", style: {
        shape: "round-rectangle", width: "data(w)", height: 26, "background-color": "data(color)",
        label: "data(label)", color: "#fff", "font-size": 11, "text-valign": "center", "text-halign": "center",
        "min-zoomed-font-size": 7 } },
      { selector: "node.ephemeral", style: { "border-width": 2, "border-style": "dashed", "border-color": "#0d1b2a" } },
      { selector: "node.focus", style: { "border-width": 4, "border-color": "#0d1b2a" } },
      { selector: "edge", style: big ? {
        width: 0.7, "line-color": "#aab4bf", "curve-style": "haystack", "haystack-radius": 0 } : {
        width: 1.4, "line-color": "#9aa5b1", "target-arrow-color": "#9aa5b1", "target-arrow-shape": "triangle",
        "curve-style": "bezier", "arrow-scale": 0.8 } },
      { selector: "edge.ml", style: { "line-color": "#d1620a", "target-arrow-color": "#d1620a", "line-style": "dashed" } },
      { selector: ".faded", style: { opacity: 0.12 } },
      { selector: "node.picked", style: { "border-width": 4, "border-color": "#f2c94c" } }
    ];
  }

  function drawGraph(box, ids, focus) {
    if (!document.body.contains(box)) return null;  // the page changed before the draw
    dropGraph();
    var canvas = box.querySelector(".graph-canvas");
    var note = box.querySelector(".graph-note");
    var info = box.querySelector(".graph-info");
    box.setAttribute("data-nodes", ids.join(" "));
    if (!window.cytoscape) { note.textContent = "The graph library did not load."; return null; }
    if (!ids.length) { note.textContent = "The selection matches no nodes."; return null; }
    var big = ids.length > DAGRE_MAX;
    var started = performance.now();
    var cy = window.cytoscape({
      container: canvas, elements: elementsFor(ids, focus, big, box), style: graphStyle(big),
      layout: big ? { name: "preset" } : { name: "dagre", rankDir: "LR", nodeSep: 12, rankSep: 70, padding: 20 },
      minZoom: 0.02, maxZoom: 3, boxSelectionEnabled: false,
      textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : "auto"
    });
    cy.fit(undefined, 20);
    if (cy.zoom() > 1.1) { cy.zoom(1.1); cy.center(); }
    if (focus && big) cy.center(cy.getElementById(focus));
    var drawn = performance.now() - started;
    timings.graphs.push({ nodes: ids.length, ms: drawn, layout: big ? "layers" : "dagre" });
    note.textContent = fmtInt(ids.length) + " nodes · " + (big ? "layers (large graph)" : "dagre layout") +
      " · drawn in " + Math.round(drawn) + " ms · scroll to zoom, drag to pan, double-click to open";
    cy.on("tap", "node", function (event) {
      var id = event.target.id(); var n = NODES[id];
      cy.elements().removeClass("faded picked");
      cy.elements().not(event.target.closedNeighborhood()).addClass("faded");
      event.target.addClass("picked");
      info.style.display = "block";
      info.innerHTML = badge(n) + " <b>" + esc(n.name) + "</b><br>" + esc(n.path || "") +
        '<br><a href="' + href(id) + '">open</a> · <a href="' + graphHref("+" + n.name + "+") + '">lineage of this node</a>';
    });
    cy.on("tap", function (event) {
      if (event.target === cy) { cy.elements().removeClass("faded picked"); info.style.display = "none"; }
    });
    cy.on("dbltap", "node", function (event) { location.hash = href(event.target.id()); });
    state.cy = cy;
    window.__predsqlGraph = cy;
    return cy;
  }

  function dropGraph() {
    if (state.cy) { state.cy.destroy(); state.cy = null; }
    window.__predsqlGraph = null;
  }

  function drawLater(box, ids, focus) {
    dropGraph();
    box.querySelector(".graph-note").textContent = "drawing " + fmtInt(ids.length) + " nodes…";
    requestAnimationFrame(function () { setTimeout(function () { drawGraph(box, ids, focus); }, 0); });
  }

  function graphBox(extraClass) {
    return '<div class="graph-box ' + (extraClass || "") + '" id="graph"><div class="graph-canvas" style="position:absolute;inset:0"></div>' +
      '<div class="graph-note"></div><div class="graph-info"></div></div>';
  }

  function legend() {
    return '<div class="legend">' + GROUPS.filter(function (t) { return PROJECT.counts[t]; }).map(function (t) {
      return '<span><i style="background:' + COLORS[t] + '"></i>' + esc(LABELS[t]) + "</span>";
    }).join("") + "</div>";
  }

  /* ---------- pages ---------- */
  function overviewPage() {
    var counts = PROJECT.counts;
    var html = "<h1>" + esc(PROJECT.name) + "</h1><p class=\"muted\">Generated " + esc(fmtTime(PROJECT.generated_at)) +
      " by predsql " + esc(PROJECT.predsql_version) + (PROJECT.database ? " · database " + esc(PROJECT.database) : "") +
      (PROJECT.last_run ? " · last run: <code>" + esc(PROJECT.last_run.command || "") + "</code> at " + esc(fmtTime(PROJECT.last_run.generated_at)) : " · no run_results.json yet") + "</p>";
    if (!PROJECT.has_catalog) html += '<p class="error">No database was read: column types and row counts are missing. Run <code>predsql build</code>, then <code>predsql docs generate</code>.</p>';
    html += '<div class="overview-grid">' + GROUPS.filter(function (t) { return counts[t]; }).map(function (t) {
      return '<a class="stat" href="' + graphHref("type:" + t, t === "test") + '"><b>' + fmtInt(counts[t]) + "</b><span>" + esc(LABELS[t]) + "</span></a>";
    }).join("") + "</div>";
    var functions = Object.keys(NODES).filter(function (id) { return NODES[id].type === "ml_function"; });
    if (functions.length) {
      html += "<h2>ML functions</h2><table><tr><th>Function</th><th>Signature</th><th class=num>Callers</th><th class=num>Rows scored (last run)</th><th>Provider</th></tr>";
      functions.forEach(function (id) {
        var n = NODES[id]; var totals = n.run ? n.run.totals : null;
        html += "<tr><td>" + link(id) + "</td><td><code>" + esc(n.card.signature) + "</code></td><td class=num>" +
          fmtInt(new Set(n.callers.map(function (c) { return c.node; })).size) + "</td><td class=num>" + (totals ? fmtInt(totals.rows_scored) : "–") + "</td><td>" +
          (totals ? esc(totals.providers.join(", ")) : "–") + "</td></tr>";
      });
      html += "</table>";
    }
    var broken = Object.keys(PROJECT.broken_functions || {});
    if (broken.length) {
      html += "<h2>Functions that cannot load</h2><ul>" + broken.map(function (name) {
        var b = PROJECT.broken_functions[name];
        return "<li><b>" + esc(name) + "</b> (" + esc(b.defined_in) + "): <span class=error>" + esc(b.error) + "</span></li>";
      }).join("") + "</ul>";
    }
    var all = select("*", false);
    html += '<h2>Lineage <small class="muted">(tests hidden; <a href="' + graphHref("*") + '">open full screen</a>)</small></h2>' + legend();
    if (all.length > DAGRE_MAX) {
      html += '<p id="big-graph">The project has ' + fmtInt(all.length) + ' nodes besides tests. <button id="draw-all">Draw them all</button> ' +
        'or search for a node and use its lineage (e.g. <code>2+name+2</code> on the <a href="' + graphHref("*") + '">lineage page</a>).</p>';
    }
    html += graphBox();
    $("main").innerHTML = html;
    if (all.length > DAGRE_MAX) {
      $("graph").querySelector(".graph-note").textContent = "not drawn yet";
      $("draw-all").addEventListener("click", function () { drawLater($("graph"), all, null); });
    } else {
      drawLater($("graph"), all, null);
    }
  }

  function columnsTable(node) {
    if (!node.columns.length) return "";
    var hasTypes = node.columns.some(function (c) { return c.type; });
    var html = "<h2>Columns</h2><table id=\"columns\"><tr><th>Column</th>" + (hasTypes ? "<th>Type</th>" : "") +
      "<th>Description</th><th>Tests</th></tr>";
    node.columns.forEach(function (c) {
      var ml = "";
      if (c.ml) {
        ml = '<div class="ml-col">computed by ' + c.ml.functions.map(function (f) {
          return link("ml_function." + PROJECT.name + "." + f, f + "()");
        }).join(", ") + " from " + c.ml.inputs.map(function (i) {
          return link(i.node, (NODES[i.node] ? NODES[i.node].name : i.node) + "." + i.column);
        }).join(", ") + "</div>";
      }
      html += "<tr><td><code>" + esc(c.name) + "</code>" + (c.in_table ? "" : ' <small class="muted">(documented, not in the table)</small>') +
        "</td>" + (hasTypes ? "<td><code>" + esc(c.type || "") + "</code></td>" : "") +
        '<td class="description">' + c.description_html + ml + "</td><td>" +
        c.tests.map(function (t) { return link(t.id, t.test || t.name); }).join(", ") + "</td></tr>";
    });
    return html + "</table>";
  }

  function codeSection(node) {
    if (!node.raw_sql && !node.compiled_sql) return "";
    return '<h2>Code</h2><div class="tabs"><button data-code="raw" class="on">Source</button>' +
      '<button data-code="compiled">Compiled</button></div><pre id="code-raw">' + esc(node.raw_sql) +
      '</pre><pre id="code-compiled" style="display:none">' + esc(node.compiled_sql) + "</pre>";
  }

  function nodeList(title, ids) {
    if (!ids.length) return "";
    return "<h3>" + esc(title) + " (" + ids.length + ")</h3><ul>" + ids.map(function (id) {
      return "<li>" + badge(NODES[id]) + " " + link(id) + "</li>";
    }).join("") + "</ul>";
  }

  function executorText(e) {
    if (!e || e.kind !== "ray") return "local (onnxruntime in the predsql process)";
    var actors = e.actors[1] === null ? e.actors[0] + " or more (as many as fit)" : e.actors[0] === e.actors[1] ? e.actors[0] : e.actors.join("–");
    return "Ray: " + actors + " actors, " + e.num_cpus_per_actor + " CPU / " + e.num_gpus_per_actor + " GPU each, batches of " +
      fmtInt(e.batch_size) + " rows";
  }

  function modelCard(node) {
    var card = node.card; var run = node.run; var file = NODES["onnx_file." + PROJECT.name + "." + card.model_file];
    var onnx = file ? file.onnx : null;
    var html = '<div class="card" id="model-card"><h2 style="margin-top:4px">Model card</h2>' +
      "<p><code id=\"signature\">" + esc(card.signature) + "</code></p>" + facts([
        ["Model file", file ? link(file.id, card.model_file) : esc(card.model_file)],
        ["File size", onnx ? esc(fmtBytes(onnx.size_bytes)) : null],
        ["Producer", onnx ? esc((onnx.producer || "unknown") + " " + (onnx.producer_version || "")) : null],
        ["Opset", onnx ? esc(onnx.opsets.map(function (o) { return o.domain + " " + o.version; }).join(", ")) : null],
        ["Fingerprint", '<code title="' + esc(card.fingerprint) + '">' + esc(card.fingerprint.slice(0, 16)) + "…</code>"],
        ["Defined in", "<code>" + esc(card.defined_in + (card.defined_line ? ":" + card.defined_line : "")) + "</code>"],
        ["Batch size", esc(card.settings.batch_size || "default for the device")],
        ["Device", esc(card.settings.device)],
        ["Executor", esc(executorText(card.settings.executor))],
        ["Cache", card.settings.cache ? "on (results kept per input values and fingerprint)" : "off"],
        ["NULL arguments", esc(card.settings.on_null)],
        ["Threads", card.settings.threads ? esc(card.settings.threads) : null],
        ["Tokenizer", card.text ? "<code>" + esc(card.text.tokenizer) + "</code>, max_length " + esc(card.text.max_length) +
          ", " + esc(card.text.pooling) + " pooling" + (card.text.normalize ? ", normalized" : "") + (card.text.pair ? ", text pairs" : "") : null]
      ]);
    html += "<h3>Inputs</h3><table><tr><th>ONNX input</th><th>Element</th><th>Shape</th><th>SQL type</th><th>Arguments</th></tr>" +
      card.inputs.map(function (i) {
        return "<tr><td><code>" + esc(i.name) + "</code></td><td>" + esc(i.elem) + "</td><td>[" + esc(i.shape.join(", ")) +
          "]</td><td><code>" + esc(i.sql_type) + "</code></td><td>" + esc(i.columns.length ? i.columns.join(", ") : i.width) + "</td></tr>";
      }).join("") + "</table>";
    html += "<h3>Outputs</h3><p id=\"result-type\">" + (card.struct ?
      "Each call returns <code>" + esc(card.result_type) + "</code> (one inference pass; use <code>" + esc(card.name) +
      "(…)." + esc(card.outputs[0].field) + "</code>)." : "Each call returns <code>" + esc(card.result_type) + "</code>.") + "</p>" +
      "<table id=\"outputs\"><tr><th>" + (card.struct ? "STRUCT field" : "Output") + "</th><th>ONNX tensor</th><th>Element</th>" +
      "<th>SQL type</th><th>Column picked</th><th>Classes</th></tr>" +
      card.outputs.map(function (o) {
        return "<tr><td><code>" + esc(o.field || o.name) + "</code></td><td><code>" + esc(o.tensor) + "</code></td><td>" + esc(o.elem) +
          "</td><td><code>" + esc(o.sql_type) + "</code></td><td>" + esc(o.index === null ? "" : o.index) + "</td><td>" +
          esc(o.index !== null && o.labels.length ? "class " + o.labels[o.index] + " of " + o.labels.join(", ") : o.labels.join(", ")) + "</td></tr>";
      }).join("") + "</table>";
    html += "<h3>Last run</h3>";
    if (run) {
      var t = run.totals;
      html += '<div class="stats" id="run-stats">' + [
        ["rows scored", fmtInt(t.rows_scored)], ["rows inferred", fmtInt(t.rows_inferred)],
        ["rows from cache", fmtInt(t.rows_from_cache)], ["NULL rows", fmtInt(t.rows_null)],
        ["inference speed", fmtRate(t.rows_per_second)], ["provider", esc(t.providers.join(", ") || "–")]
      ].map(function (s) { return '<div class="stat"><b>' + s[1] + "</b><span>" + esc(s[0]) + "</span></div>"; }).join("") +
        "</div><p class=\"muted\">From target/run_results.json: <code>" + esc(run.invocation.command || "") + "</code>, finished " +
        esc(fmtTime(t.completed_at || run.invocation.generated_at)) + ".</p>";
    } else {
      html += '<p class="muted" id="run-stats">No model calling this function ran in the last run_results.json.</p>';
    }
    var byModel = {}; var models = [];
    node.callers.forEach(function (c) {
      if (!byModel[c.node]) { byModel[c.node] = { path: c.path, lines: [] }; models.push(c.node); }
      if (c.line) byModel[c.node].lines.push(c.line);
    });
    html += "<h3>Called by</h3>";
    if (!models.length) html += '<p class="muted" id="callers">No model calls it.</p>';
    else html += "<table id=\"callers\"><tr><th>Model</th><th>File and line</th><th class=num>Rows inferred</th>" +
      "<th class=num>From cache</th><th class=num>NULL rows</th><th class=num>Rows/s</th><th>Provider</th><th>Finished</th></tr>";
    models.forEach(function (id) {
      var s = run && run.callers[id]; var where = byModel[id];
      html += "<tr><td>" + link(id) + "</td><td><code>" + esc(where.path) + (where.lines.length ? ":" + esc(where.lines.join(", ")) : "") + "</code></td>" +
        (s ? "<td class=num>" + fmtInt(s.rows_inferred) + "</td><td class=num>" + fmtInt(s.rows_from_cache) + "</td><td class=num>" +
          fmtInt(s.rows_null) + "</td><td class=num>" + fmtInt(s.rows_per_second === null ? null : Math.round(s.rows_per_second)) + '</td><td title="' + esc(s.provider || "") + '">' + esc(shortProvider(s.provider)) +
          (s.executor && s.executor !== "local" ? " (" + esc(s.executor) + ")" : "") + "</td><td class=num>" +
          esc(fmtTime(s.completed_at).slice(11)) + "</td>" : '<td colspan="6" class="muted">not in the last run</td>') + "</tr>";
    });
    if (models.length) html += "</table>";
    if (node.output_columns.length) {
      html += "<h3>Output columns</h3><ul>" + node.output_columns.map(function (o) {
        return "<li>" + link(o.node, (NODES[o.node] ? NODES[o.node].name : o.node) + "." + o.column) + "</li>";
      }).join("") + "</ul>";
    }
    return html + "</div>";
  }

  function onnxFacts(node) {
    var o = node.onnx;
    var tensors = function (list) {
      return list.map(function (t) { return "<code>" + esc(t.name) + "</code> " + esc(t.type) + " [" + esc(t.shape.join(", ")) + "]"; }).join("<br>");
    };
    return facts([
      ["Path", "<code>" + esc(o.path) + "</code>"], ["Size", esc(fmtBytes(o.size_bytes))],
      ["Producer", esc((o.producer || "unknown") + " " + (o.producer_version || ""))],
      ["Opset", esc(o.opsets.map(function (x) { return x.domain + " " + x.version; }).join(", "))],
      ["IR version", esc(o.ir_version)], ["Graph inputs", tensors(o.inputs)], ["Graph outputs", tensors(o.outputs)],
      ["Metadata", Object.keys(o.metadata).map(function (k) { return esc(k + ": " + o.metadata[k]); }).join("<br>")]
    ]);
  }

  function nodePage(id) {
    var node = NODES[id];
    if (!node) { $("main").innerHTML = "<h1>Not found</h1><p>No node " + esc(id) + " in this project.</p>"; return; }
    var html = "<div>" + badge(node) + " " + (node.tags || []).map(function (t) { return '<span class="tag">' + esc(t) + "</span>"; }).join("") +
      '</div><h1 id="node-title">' + esc(node.name) + "</h1>";
    var cat = node.catalog;
    html += facts([
      ["Relation", node.relation ? "<code>" + esc(node.relation) + "</code>" : null],
      ["Materialized", ["model", "seed", "snapshot"].indexOf(node.type) >= 0 ? esc(node.materialized) : null],
      ["In the database", cat ? esc(cat.type === "VIEW" ? "view" : "table") + (cat.row_count !== null ? ", " + fmtInt(cat.row_count) + " rows" : "") :
        (node.relation && PROJECT.has_catalog && node.type !== "test" ? '<span class="muted">not built yet</span>' : null)],
      ["File", node.path ? "<code>" + esc(node.path) + "</code>" : null],
      ["Unique id", "<code>" + esc(id) + "</code>"]
    ]);
    if (node.description_html) html += '<h2>Description</h2><div class="description" id="description">' + node.description_html + "</div>";
    if (node.type === "ml_function") html += modelCard(node);
    if (node.type === "onnx_file") html += "<h2>ONNX file</h2>" + onnxFacts(node);
    if (node.test) {
      html += "<h2>Test</h2>" + facts([["Test", esc(node.test.test_name)], ["Column", esc(node.test.column || "")],
        ["Severity", esc(node.test.severity)], ["Tests", node.test.attached_to.map(function (t) { return link(t); }).join(", ")]]);
    }
    if (node.ml_calls.length) {
      html += "<h2>ML calls</h2><ul>" + node.ml_calls.map(function (c) {
        return "<li>" + link("ml_function." + PROJECT.name + "." + c.function, c.function + "()") + " at <code>" +
          esc(node.path) + (c.line ? ":" + esc(c.line) : "") + "</code></li>";
      }).join("") + "</ul>";
    }
    html += columnsTable(node);
    if (node.table_tests.length) html += "<h2>Table tests</h2><p>" + node.table_tests.map(function (t) { return link(t.id, t.name); }).join(", ") + "</p>";
    html += '<h2>Lineage</h2><div class="graph-tools"><span>upstream</span><button data-depth="up:-1">−</button><b id="up-depth"></b>' +
      '<button data-depth="up:1">+</button><span>downstream</span><button data-depth="down:-1">−</button><b id="down-depth"></b>' +
      '<button data-depth="down:1">+</button><label><input type="checkbox" id="show-tests"> tests</label>' +
      '<a id="graph-link" href="#">full screen</a></div>' + graphBox() +
      '<div style="display:flex;gap:40px">' + '<div id="upstream">' + nodeList("Depends on", node.parents) + "</div>" +
      '<div id="downstream">' + nodeList("Referenced by", node.children) + "</div></div>";
    html += codeSection(node);
    if (Object.keys(node.config || {}).length) html += "<h2>Config</h2><pre>" + esc(JSON.stringify(node.config, null, 2)) + "</pre>";
    $("main").innerHTML = html;
    $("main").scrollTop = 0;
    var depth = { up: 2, down: 1, tests: false };
    function redraw() {
      var up = depth.up === 9 ? "" : depth.up; var down = depth.down === 9 ? "" : depth.down;
      var selector = (depth.up ? up + "+" : "") + id + (depth.down ? "+" + down : "");
      $("up-depth").textContent = depth.up === 9 ? "all" : depth.up;
      $("down-depth").textContent = depth.down === 9 ? "all" : depth.down;
      $("graph-link").href = graphHref(selector.replace(id, node.name), depth.tests);
      drawLater($("graph"), select(selector, depth.tests), id);
    }
    $("main").querySelectorAll("[data-depth]").forEach(function (button) {
      button.addEventListener("click", function () {
        var parts = button.getAttribute("data-depth").split(":");
        depth[parts[0]] = Math.max(0, Math.min(9, depth[parts[0]] + Number(parts[1])));
        redraw();
      });
    });
    $("show-tests").addEventListener("change", function (e) { depth.tests = e.target.checked; redraw(); });
    $("main").querySelectorAll("[data-code]").forEach(function (button) {
      button.addEventListener("click", function () {
        var which = button.getAttribute("data-code");
        $("code-raw").style.display = which === "raw" ? "" : "none";
        $("code-compiled").style.display = which === "compiled" ? "" : "none";
        $("main").querySelectorAll("[data-code]").forEach(function (b) { b.classList.toggle("on", b === button); });
      });
    });
    setTimeout(redraw, 0);
  }

  function graphPage(params) {
    var selector = params.select || "*"; var tests = params.tests === "1";
    $("main").innerHTML = '<div class="graph-page"><div class="graph-tools"><b>Lineage</b><input type="text" id="selector" value="' +
      esc(selector) + '" title="dbt selector syntax: name, +name, name+, 2+name+1, tag:x, type:ml_function, path:models/x, * ; space = union, comma = intersection">' +
      '<button id="apply">show</button><label><input type="checkbox" id="show-tests"' + (tests ? " checked" : "") + "> tests</label>" +
      legend() + "</div>" + graphBox() + "</div>";
    function apply() { location.hash = graphHref($("selector").value || "*", $("show-tests").checked); }
    $("apply").addEventListener("click", apply);
    $("show-tests").addEventListener("change", apply);
    $("selector").addEventListener("keydown", function (e) { if (e.key === "Enter") apply(); });
    setTimeout(function () {
      var ids = select(selector, tests);
      var cores = selector.indexOf("*") < 0 && selector.split(/\s+/).length === 1 ? matchCore(selector.replace(/^\d*\+|\+\d*$/g, "")) : [];
      drawLater($("graph"), ids, cores.length === 1 ? cores[0] : null);
    }, 0);
  }

  function route() {
    var hash = location.hash || "#!/";
    dropGraph();
    var node = currentNode();
    if (node) nodePage(node);
    else if (hash.indexOf("#!/graph") === 0) {
      var params = {};
      (hash.split("?")[1] || "").split("&").forEach(function (pair) {
        var kv = pair.split("="); if (kv[0]) params[kv[0]] = decodeURIComponent(kv[1] || "");
      });
      graphPage(params);
    } else overviewPage();
    markActive();
  }

  /* ---------- start ---------- */
  $("project-name").textContent = PROJECT.name;
  var input = $("search");
  input.addEventListener("input", function () { state.query = input.value; renderSidebar(); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { var first = $("results").querySelector("a[data-id]"); if (first) location.hash = first.getAttribute("href"); }
    if (e.key === "Escape") { input.value = ""; state.query = ""; renderSidebar(); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== input && document.activeElement.tagName !== "INPUT") { e.preventDefault(); input.focus(); }
  });
  $("results").addEventListener("click", function (e) {
    var toggle = e.target.getAttribute("data-toggle"); var all = e.target.getAttribute("data-all");
    if (toggle) {
      var open = state.expanded[toggle] !== undefined ? state.expanded[toggle] : toggle !== "test";
      state.expanded[toggle] = !open; renderSidebar();
    }
    if (all) { state.expanded[all + ":all"] = true; renderSidebar(); }
  });
  window.addEventListener("hashchange", route);
  renderSidebar();
  route();
  timings.ready = performance.now();
  window.predsqlDocs = { select: select, search: search, nodes: NODES };
})();
