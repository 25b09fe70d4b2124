// Bundles the dashboard into the directory given as the first argument
// (build.rs passes OUT_DIR/web): app.js (esbuild, minified), app.css,
// index.html, and world.json — the world-atlas 110m TopoJSON turned into
// GeoJSON whose features are named by ISO 3166-1 alpha-2 code, the key the
// summary's geography block uses.
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { feature } from "topojson-client";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  legalComments: "none",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
copyFileSync(join(here, "src/app.css"), join(out, "app.css"));
copyFileSync(join(here, "src/index.html"), join(out, "index.html"));

// Country geometry: numeric ids → alpha-2. A few shapes in Natural Earth
// have no ISO number (Kosovo, Northern Cyprus, Somaliland); they get the
// codes in use for them or are left unnamed.
const countries = require("i18n-iso-countries");
const topology = JSON.parse(readFileSync(require.resolve("world-atlas/countries-110m.json"), "utf8"));
const extra = { Kosovo: "XK" };
const geo = feature(topology, topology.objects.countries);

// Rings that cross the antimeridian (Russia's Chukotka, Fiji) jump from
// +180 to -180 between two points, and a flat map draws that jump as a line
// across the world. Unwrap each ring so it stays continuous: a point more
// than 180° away from the previous one moves by 360°.
const unwrapRing = (ring) => {
  let shift = 0;
  return ring.map(([lon, lat], i) => {
    if (i > 0) {
      const previous = ring[i - 1][0];
      if (lon - previous > 180) shift -= 360;
      else if (previous - lon > 180) shift += 360;
    }
    return [lon + shift, lat];
  });
};
for (const f of geo.features) {
  const g = f.geometry;
  if (!g) continue;
  if (g.type === "Polygon") g.coordinates = g.coordinates.map(unwrapRing);
  if (g.type === "MultiPolygon") g.coordinates = g.coordinates.map((polygon) => polygon.map(unwrapRing));
}
// Antarctica takes a fifth of the map and no marketing list lives there.
geo.features = geo.features.filter((f) => f.properties.name !== "Antarctica");
geo.features = geo.features.map((f) => {
  const alpha2 = (f.id && countries.numericToAlpha2(f.id)) || extra[f.properties.name] || "";
  return { type: "Feature", properties: { name: alpha2 || `_${f.properties.name}`, label: f.properties.name }, geometry: f.geometry };
});
writeFileSync(join(out, "world.json"), JSON.stringify(geo));
