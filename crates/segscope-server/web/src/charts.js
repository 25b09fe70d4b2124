// Apache ECharts, only the pieces the dashboard uses. Animations are off:
// numbers appear at once and screenshots are stable. Tooltips take HTML
// strings, so every formatter escapes the names it shows.
import * as echarts from "echarts/core";
import { BarChart, LineChart, PieChart, MapChart } from "echarts/charts";
import { GridComponent, TooltipComponent, LegendComponent, VisualMapComponent, AriaComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { esc } from "./dom.js";
import { fmtInt, fmtPct, fmtCompact, fmtDuration, fmtDec } from "./format.js";

echarts.use([BarChart, LineChart, PieChart, MapChart, GridComponent, TooltipComponent, LegendComponent, VisualMapComponent, AriaComponent, CanvasRenderer]);

export const COLORS = {
  known: "#2563eb",
  anonymous: "#94a3b8",
  added: "#16a34a",
  removed: "#dc2626",
  net: "#f59e0b",
  total: "#1e3a8a",
  bar: "#3b82f6",
  series: ["#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444"],
  reach: { high: "#15803d", medium: "#4ade80", low: "#f59e0b", unreachable: "#dc2626", none: "#cbd5e1" },
};
const FONT = { fontFamily: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", color: "#334155" };

let live = [];
const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver((entries) => {
  for (const e of entries) {
    const c = echarts.getInstanceByDom(e.target);
    if (c) c.resize();
  }
}) : null;

export function disposeAll() {
  for (const c of live) {
    if (observer) observer.unobserve(c.getDom());
    c.dispose();
  }
  live = [];
}

export function mount(el, option) {
  const chart = echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({ animation: false, textStyle: FONT, aria: { enabled: true }, ...option });
  live.push(chart);
  if (observer) observer.observe(el);
  return chart;
}

/// Horizontal bars, categories in the given order (top to bottom).
export function barChart(el, rows, { color = COLORS.bar, valueLabel = (v) => fmtInt(v), colors } = {}) {
  const height = Math.max(120, rows.length * 28 + 30);
  el.style.height = `${height}px`;
  return mount(el, {
    grid: { left: 8, right: 64, top: 6, bottom: 22, containLabel: true },
    tooltip: {
      trigger: "item",
      formatter: (p) => `${esc(p.name)}<br><b>${esc(fmtInt(p.value))}</b> (${esc(fmtPct(rows[p.dataIndex].share))})`,
    },
    xAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (v) => fmtCompact(v) }, splitLine: { lineStyle: { color: "#e2e8f0" } } },
    yAxis: {
      type: "category",
      inverse: true,
      data: rows.map((r) => r.label),
      axisLabel: { width: 130, overflow: "truncate", color: "#334155" },
      axisTick: { show: false },
    },
    series: [{
      type: "bar",
      barMaxWidth: 18,
      data: rows.map((r, i) => ({ value: r.count, itemStyle: { color: colors ? colors[i] : color } })),
      label: { show: true, position: "right", formatter: (p) => valueLabel(p.value), color: "#334155" },
    }],
  });
}

export function donutChart(el, rows, colors) {
  el.style.height = "240px";
  return mount(el, {
    tooltip: { trigger: "item", formatter: (p) => `${esc(p.name)}<br><b>${esc(fmtInt(p.value))}</b> (${esc(fmtPct(rows[p.dataIndex].share))})` },
    legend: { orient: "vertical", right: 0, top: "middle", itemWidth: 12, itemHeight: 12, formatter: (name) => name },
    series: [{
      type: "pie",
      radius: ["45%", "72%"],
      center: ["32%", "50%"],
      avoidLabelOverlap: true,
      label: { show: false },
      data: rows.map((r, i) => ({ name: r.label, value: r.count, itemStyle: { color: colors[i] } })),
    }],
  });
}

/// Growth: added / removed / net per bucket on the left axis, total
/// members at bucket end on the right axis.
export function growthChart(el, points) {
  el.style.height = "300px";
  const labels = points.map((p) => p.period);
  const line = (name, key, color, extra = {}) => ({
    name, type: "line", data: points.map((p) => p[key]), showSymbol: points.length <= 31, symbolSize: 5,
    lineStyle: { width: 2, color }, itemStyle: { color }, ...extra,
  });
  return mount(el, {
    grid: { left: 8, right: 8, top: 58, bottom: 8, containLabel: true },
    legend: { top: 0, left: 0, itemWidth: 14 },
    tooltip: {
      trigger: "axis",
      formatter: (items) => [`<b>${esc(items[0].axisValue)}</b>`, ...items.map((i) => `${i.marker}${esc(i.seriesName)}: <b>${esc(fmtInt(i.value))}</b>`)].join("<br>"),
    },
    xAxis: { type: "category", data: labels, boundaryGap: false, axisLabel: { hideOverlap: true } },
    yAxis: [
      { type: "value", name: "added / removed / net", nameTextStyle: { align: "left" }, minInterval: 1, axisLabel: { formatter: (v) => fmtCompact(v) }, splitLine: { lineStyle: { color: "#e2e8f0" } } },
      { type: "value", name: "total", nameTextStyle: { align: "right" }, minInterval: 1, scale: true, axisLabel: { formatter: (v) => fmtCompact(v) }, splitLine: { show: false } },
    ],
    series: [
      line("Added", "added", COLORS.added),
      line("Removed", "removed", COLORS.removed),
      line("Net", "net", COLORS.net, { lineStyle: { width: 2, type: "dashed", color: COLORS.net } }),
      line("Total members", "total", COLORS.total, { yAxisIndex: 1 }),
    ],
  });
}

/// Grouped bars for the compare page: one series per segment, values are
/// shares (the segments differ in size).
export function groupedShares(el, categories, series) {
  el.style.height = `${Math.max(160, categories.length * (14 * series.length + 14) + 60)}px`;
  return mount(el, {
    grid: { left: 8, right: 48, top: 34, bottom: 20, containLabel: true },
    legend: { top: 0, left: 0 },
    tooltip: {
      trigger: "axis", axisPointer: { type: "shadow" },
      formatter: (items) => [`<b>${esc(items[0].axisValue)}</b>`, ...items.map((i) => `${i.marker}${esc(i.seriesName)}: <b>${esc(fmtPct(i.value))}</b> (${esc(fmtInt(series[i.seriesIndex].counts[i.dataIndex]))})`)].join("<br>"),
    },
    xAxis: { type: "value", max: (v) => Math.min(1, Math.ceil(v.max * 10 + 0.001) / 10), axisLabel: { formatter: (v) => fmtPct(v) }, splitLine: { lineStyle: { color: "#e2e8f0" } } },
    yAxis: { type: "category", inverse: true, data: categories, axisLabel: { width: 130, overflow: "truncate" }, axisTick: { show: false } },
    series: series.map((s, i) => ({ name: s.name, type: "bar", barMaxWidth: 14, data: s.shares, itemStyle: { color: COLORS.series[i] } })),
  });
}

/// A step for a duration axis that lands on round values (30s, 1m, 5m…).
function durationStep(max) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  return steps.find((s) => max / s <= 5) || 86400;
}

export function websiteChart(el, website) {
  el.style.height = "220px";
  const longest = Math.max(1, website.known.avg_session_secs ?? 0, website.anonymous.avg_session_secs ?? 0);
  const step = durationStep(longest);
  const groups = [["Known", website.known, COLORS.known], ["Anonymous", website.anonymous, COLORS.anonymous]];
  return mount(el, {
    grid: [
      { left: 8, right: "54%", top: 24, bottom: 34, containLabel: true },
      { left: "54%", right: 8, top: 24, bottom: 34, containLabel: true },
    ],
    title: [],
    tooltip: { trigger: "item", formatter: (p) => `${esc(p.seriesName)} · ${esc(p.name)}<br><b>${esc(p.seriesIndex === 0 ? fmtDec(p.value) : fmtDuration(p.value))}</b>` },
    xAxis: [
      { gridIndex: 0, type: "category", data: groups.map((g) => g[0]), name: "Sessions per member", nameLocation: "middle", nameGap: 28, nameTextStyle: { fontWeight: "bold" }, axisTick: { show: false } },
      { gridIndex: 1, type: "category", data: groups.map((g) => g[0]), name: "Avg session duration", nameLocation: "middle", nameGap: 28, nameTextStyle: { fontWeight: "bold" }, axisTick: { show: false } },
    ],
    yAxis: [
      { gridIndex: 0, type: "value", axisLabel: { formatter: (v) => fmtDec(v) }, splitLine: { lineStyle: { color: "#e2e8f0" } } },
      { gridIndex: 1, type: "value", interval: step, max: Math.ceil(longest / step) * step, axisLabel: { formatter: (v) => fmtDuration(v) }, splitLine: { lineStyle: { color: "#e2e8f0" } } },
    ],
    series: [
      { name: "Sessions per member", type: "bar", xAxisIndex: 0, yAxisIndex: 0, barMaxWidth: 36, data: groups.map((g) => ({ value: g[1].sessions_per_member ?? 0, itemStyle: { color: g[2] } })), label: { show: true, position: "top", formatter: (p) => (groups[p.dataIndex][1].sessions_per_member == null ? "—" : fmtDec(p.value)) } },
      { name: "Avg session duration", type: "bar", xAxisIndex: 1, yAxisIndex: 1, barMaxWidth: 36, data: groups.map((g) => ({ value: g[1].avg_session_secs ?? 0, itemStyle: { color: g[2] } })), label: { show: true, position: "top", formatter: (p) => (groups[p.dataIndex][1].avg_session_secs == null ? "—" : fmtDuration(p.value)) } },
    ],
  });
}

let worldPromise = null;
export function loadWorld() {
  if (!worldPromise) {
    worldPromise = fetch("/assets/world.json", { credentials: "same-origin" })
      .then((r) => {
        if (!r.ok) throw new Error(`world map: HTTP ${r.status}`);
        return r.json();
      })
      .then((geo) => {
        echarts.registerMap("world", geo);
        return geo;
      });
  }
  return worldPromise;
}

export async function worldMap(el, countries, onPick) {
  el.style.height = "360px";
  await loadWorld();
  if (!el.isConnected) return null;
  const data = countries.filter((c) => c.country).map((c) => ({ name: c.country, value: c.count, label: c.name, share: c.share }));
  const max = Math.max(1, ...data.map((d) => d.value));
  const chart = mount(el, {
    tooltip: {
      trigger: "item",
      formatter: (p) => (p.data ? `${esc(p.data.label)} (${esc(p.name)})<br><b>${esc(fmtInt(p.data.value))}</b> (${esc(fmtPct(p.data.share))})` : `${esc(p.name.replace(/^_/, ""))}<br>0`),
    },
    visualMap: { min: 0, max, left: 8, bottom: 8, calculable: false, itemHeight: 90, text: [fmtInt(max), "0"], inRange: { color: ["#dbeafe", "#1d4ed8"] }, outOfRange: { color: "#f1f5f9" } },
    series: [{
      type: "map", map: "world", roam: false, nameProperty: "name", data,
      itemStyle: { areaColor: "#f1f5f9", borderColor: "#94a3b8", borderWidth: 0.5 },
      emphasis: { label: { show: false }, itemStyle: { areaColor: "#f59e0b" } },
      select: { disabled: true },
      left: 56, right: 0, top: 0, bottom: 0,
    }],
  });
  chart.on("click", (p) => {
    if (p.data && onPick) onPick(p.name);
  });
  return chart;
}
