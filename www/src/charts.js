// The five charts, on the parts of ECharts they use (bar, line, grid, tooltip, mark line, canvas): importing
// `echarts/core` instead of `echarts` keeps the bundle to what is drawn. Legends are HTML next to
// each chart title, so they follow the page's type and language without a chart redraw.

import { init, use } from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

import { formatBytes, formatExactBytes } from './format.js';
import { t } from './i18n.js';

use([BarChart, LineChart, GridComponent, MarkLineComponent, TooltipComponent, CanvasRenderer]);

const COLORS = {
  up: '#ff8a1f',
  down: '#26c281',
  axis: '#8593a6',
  grid: '#1f2835',
  tooltipBg: '#0f141b',
  tooltipBorder: '#364457',
  limit: '#ff5c5c',
};

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
const NICE_STEPS = [1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500];

/**
 * A y axis whose ticks fall on round numbers of one 1024-based unit ("0, 2 MB, 4 MB"), since
 * ECharts' decimal ticks would print "488.3 KB". Returns the unit's size and name with the axis.
 */
function byteAxis(maxValue, ticks = 4) {
  const max = Math.max(0, maxValue || 0);
  let unit = 0;
  while (max >= 1024 ** (unit + 1) && unit < BYTE_UNITS.length - 1) unit += 1;
  const size = 1024 ** unit;
  const scaled = max / size;
  const step = (NICE_STEPS.find((s) => scaled / s <= ticks) ?? Math.ceil(scaled / ticks)) * size;
  const top = max === 0 ? step : Math.ceil(max / step) * step;
  return {
    type: 'value',
    min: 0,
    max: top,
    interval: step,
    axisLabel: {
      color: COLORS.axis,
      fontSize: 11,
      formatter: (value) => {
        if (value === 0) return '0';
        const inUnit = value / size;
        return `${Number.isInteger(inUnit) ? inUnit : inUnit.toFixed(1)} ${BYTE_UNITS[unit]}`;
      },
    },
    splitLine: { lineStyle: { color: COLORS.grid, type: [4, 4] } },
    axisLine: { show: false },
    axisTick: { show: false },
  };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function tooltip(titles) {
  return {
    trigger: 'axis',
    axisPointer: { type: 'shadow', shadowStyle: { color: 'rgba(255,255,255,0.04)' } },
    backgroundColor: COLORS.tooltipBg,
    borderColor: COLORS.tooltipBorder,
    textStyle: { color: '#d7dee8', fontSize: 12 },
    confine: true,
    formatter: (params) => {
      const list = Array.isArray(params) ? params : [params];
      if (!list.length) return '';
      const index = list[0].dataIndex;
      let total = 0;
      const rows = list.map((p) => {
        total += Number(p.value) || 0;
        // A class, not a style attribute: the server's Content-Security-Policy allows no inline style.
        const side = p.color === COLORS.down ? 'down' : 'up';
        return `<tr><td><span class="tt-dot ${side}"></span>${escapeHtml(p.seriesName)}</td>` +
          `<td class="tt-num">${formatBytes(p.value)}</td><td class="tt-exact">${formatExactBytes(p.value)}</td></tr>`;
      });
      rows.push(`<tr class="tt-total"><td>${escapeHtml(t('total'))}</td><td class="tt-num">${formatBytes(total)}</td>` +
        `<td class="tt-exact">${formatExactBytes(total)}</td></tr>`);
      return `<div class="tt"><div class="tt-title">${escapeHtml(titles[index] ?? '')}</div><table>${rows.join('')}</table></div>`;
    },
  };
}

function categoryAxis(labels) {
  return {
    type: 'category',
    data: labels,
    axisLine: { lineStyle: { color: '#2c3848' } },
    axisTick: { show: false },
    axisLabel: { color: COLORS.axis, fontSize: 11, hideOverlap: true },
  };
}

const GRID = { left: 8, right: 12, top: 14, bottom: 4, containLabel: true };

/** A dashed horizontal line at `limit.value` bytes, named `limit.label` (the quota). */
function limitLine(limit) {
  return {
    silent: true,
    symbol: 'none',
    z: 10, // over the bars, which may reach above it
    lineStyle: { color: COLORS.limit, type: [6, 4], width: 1.5 },
    label: {
      position: 'insideEndTop',
      color: COLORS.limit,
      backgroundColor: COLORS.tooltipBg,
      padding: [1, 4],
      borderRadius: 2,
      fontSize: 11,
      formatter: `${limit.label} ${formatBytes(limit.value)}`,
    },
    data: [{ yAxis: limit.value }],
  };
}

/**
 * A chart's option. `points` is [{label, title, up, down}]; `kind` is "bars" (stacked, up under
 * down) or "area" (two lines with filled areas); `limit` ({value, label}, or null) a reference
 * line, which the y axis always reaches.
 */
function trafficOption(points, kind, limit) {
  const up = points.map((p) => p.up);
  const down = points.map((p) => p.down);
  const max = Math.max(limit ? limit.value : 0, ...(kind === 'bars'
    ? points.map((p) => p.up + p.down)
    : [...up, ...down]));
  const many = points.length > 60;
  const series = kind === 'bars'
    ? [
      { name: t('up'), type: 'bar', stack: 'traffic', data: up, itemStyle: { color: COLORS.up }, barMaxWidth: 28 },
      { name: t('down'), type: 'bar', stack: 'traffic', data: down, itemStyle: { color: COLORS.down, borderRadius: [2, 2, 0, 0] }, barMaxWidth: 28 },
    ]
    : [
      areaSeries(t('up'), up, COLORS.up, many),
      areaSeries(t('down'), down, COLORS.down, many),
    ];
  if (limit) series[series.length - 1].markLine = limitLine(limit);
  return {
    animationDuration: 300,
    animationDurationUpdate: 300,
    grid: GRID,
    tooltip: tooltip(points.map((p) => p.title)),
    xAxis: { ...categoryAxis(points.map((p) => p.label)), boundaryGap: kind === 'bars' },
    yAxis: byteAxis(max),
    series,
  };
}

function areaSeries(name, data, color, many) {
  return {
    name,
    type: 'line',
    data,
    smooth: 0.25,
    showSymbol: !many,
    symbolSize: 4,
    sampling: many ? 'lttb' : undefined,
    lineStyle: { color, width: 2 },
    itemStyle: { color },
    areaStyle: {
      color: {
        type: 'linear', x: 0, y: 0, x2: 0, y2: 1,
        colorStops: [{ offset: 0, color: `${color}55` }, { offset: 1, color: `${color}05` }],
      },
    },
  };
}

/**
 * Draw `points` on `chart`, with an optional reference line `limit` ({value, label}). A refresh of
 * the same shape (kind, number of points and line) merges into the chart, so an open tooltip
 * stays; a new shape replaces the option (a merge would keep a line that is gone).
 */
export function drawTraffic(chart, points, kind, { limit = null } = {}) {
  const shape = `${kind}:${points.length}:${limit ? `${limit.value}:${limit.label}` : ''}`;
  const replace = chart.trafficShape !== shape;
  chart.setOption(trafficOption(points, kind, limit), { notMerge: replace });
  chart.trafficShape = shape;
}

/** An ECharts instance on `element` that follows the element's size. */
export function mountChart(element) {
  const chart = init(element, null, { renderer: 'canvas' });
  new ResizeObserver(() => chart.resize()).observe(element);
  return chart;
}
