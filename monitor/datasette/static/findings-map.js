// The findings map (/-/findings-map): governorates and zones as the base map, the current
// findings as circle markers. Every URL here is this Datasette's own: the page works offline.
// When done, #findings-map carries data-markers (markers drawn) and data-ready="1" (or
// data-error), which the tests read from the rendered DOM.

const el = document.getElementById("findings-map");
const status = document.getElementById("findings-map-status");
const cfg = JSON.parse(document.getElementById("findings-map-config").textContent);

const getJSON = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
};

// All rows of the findings_map canned query, page after page (keyset on seq).
async function loadFindings() {
  const rows = [];
  let after = "";
  for (;;) {
    const query = new URLSearchParams({
      term: cfg.params.term, party: cfg.params.party, since: cfg.params.since,
      until: cfg.params.until, after_seq: after, _shape: "objects",
    });
    const data = await getJSON(`${cfg.query}?${query}`);
    if (data.ok === false) throw new Error(data.error || "query failed");
    rows.push(...data.rows);
    if (!data.rows.length || (data.rows.length < cfg.page && !data.truncated)) return rows;
    after = String(data.rows[data.rows.length - 1].seq);
  }
}

// Is a zone row valid on a day (YYYY-MM-DD)? Dates alone are whole days (valid_to inclusive).
const validOn = (p, day) => !day || ((!p.valid_from || p.valid_from.slice(0, 10) <= day) &&
  (!p.valid_to || day <= p.valid_to.slice(0, 10)));

const escapeHTML = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;" }[c]));

const parties = (value) => {
  try { return JSON.parse(value).join(", "); } catch (e) { return String(value ?? ""); }
};

function popup(row) {
  const place = [row.place, row.governorate].filter(Boolean).join(", ");
  return `<strong>${escapeHTML(row.term)}</strong> charged to ${escapeHTML(parties(row.charged_to))}
    <br>${escapeHTML(row.severity)}, confidence ${escapeHTML(row.confidence)},
    ${escapeHTML(row.status)}, ${escapeHTML(row.attribution)}
    <br>${escapeHTML(row.day)} ${escapeHTML(place)}
    <br>${escapeHTML(row.feed)} ${escapeHTML(row.source_id)}
    <br><a href="${cfg.findings}/${encodeURIComponent(row.seq)}">${escapeHTML(row.finding_id)}</a>`;
}

function legend(L, kinds) {
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "findings-map-legend");
    const sev = Object.entries(cfg.severity).map(([name, colour]) =>
      `<i class="dot" style="background:${colour}"></i>${escapeHTML(name)}`);
    const zones = Object.entries(kinds).map(([name, colour]) =>
      `<i style="background:${colour};opacity:${cfg.zone_opacity}"></i>${escapeHTML(name)}`);
    div.innerHTML = `<strong>finding severity</strong><br>${sev.join("<br>")}` +
      (zones.length ? `<br><strong>zone kind</strong><br>${zones.join("<br>")}` : "");
    return div;
  };
  return control;
}

async function main() {
  const L = await import(el.dataset.leaflet);
  const map = L.map(el, { zoomSnap: 0.5, attributionControl: true });
  map.attributionControl.setPrefix(false); // no link out to leafletjs.com needed
  map.attributionControl.addAttribution(escapeHTML(cfg.attribution));
  const [govs, zones, rows] = await Promise.all(
    [getJSON(cfg.governorates), getJSON(cfg.zones), loadFindings()]);

  const base = L.geoJSON(govs, {
    style: { color: "#5f564a", weight: 1.2, fillColor: "#f6f3ec", fillOpacity: 1 },
    interactive: false,
  }).addTo(map);
  base.eachLayer((layer) => layer.bindTooltip(layer.feature.properties.name,
    { permanent: true, direction: "center", className: "gov-label" }));

  // The zones in force on the chosen day, else on the latest finding's day.
  const days = rows.map((r) => r.day).filter(Boolean).sort();
  const zonesOn = cfg.params.zones_on || days[days.length - 1] || "";
  const shown = zones.features.filter((f) => validOn(f.properties, zonesOn));
  const kinds = {};
  shown.forEach((f) => { kinds[f.properties.kind] = f.properties.colour; });
  const zoneLayer = L.geoJSON({ type: "FeatureCollection", features: shown }, {
    style: (f) => ({ color: f.properties.colour, weight: 1, fillColor: f.properties.colour,
      fillOpacity: cfg.zone_opacity, dashArray: f.properties.overlay ? "4 3" : null }),
    onEachFeature: (f, layer) => layer.bindPopup(
      `<strong>${escapeHTML(f.properties.id)}</strong> (${escapeHTML(f.properties.kind)})<br>` +
      `${escapeHTML(f.properties.area)}<br>valid ${escapeHTML(f.properties.valid_from)} .. ` +
      `${escapeHTML(f.properties.valid_to)}<br>${escapeHTML(f.properties.source)}`),
  }).addTo(map);

  const markers = L.featureGroup(rows.map((row) => L.circleMarker([row.latitude, row.longitude], {
    radius: 5, weight: 0.8, color: "#333", fillOpacity: 0.85, className: "finding-marker",
    fillColor: cfg.severity[row.severity] || "#999",
  }).bindPopup(popup(row)))).addTo(map);

  L.control.layers(null, { [`zones on ${zonesOn || "any date"}`]: zoneLayer,
    findings: markers }, { collapsed: false }).addTo(map);
  legend(L, kinds).addTo(map);
  // a filtered set may be a few points: never closer than a governorate, so the places
  // around them stay in view
  map.fitBounds(rows.length ? markers.getBounds() : base.getBounds(),
    { padding: [40, 40], maxZoom: 8 });

  const incidents = new Set(rows.map((r) => r.incident_id)).size;
  status.textContent = `${rows.length} finding(s) on ${incidents} incident(s); ` +
    `${shown.length} zone row(s) in force on ${zonesOn || "any date"}.`;
  el.dataset.markers = String(rows.length);
  el.dataset.zones = String(shown.length);
  el.dataset.ready = "1";
}

main().catch((error) => {
  status.textContent = `The map could not be drawn: ${error.message}`;
  status.classList.add("error");
  el.dataset.error = String(error.message);
});
