/**
 * Small hand-written SVG charts: one value per tick (or per improvement), as bars or a line,
 * with optional horizontal reference lines (the target distance, the speed threshold).
 *
 * Each series keeps its values in `data-values` (JSON), so tests and curious users can read
 * exactly what is drawn. Styling is by class (app.css): the page's CSP allows no inline styles.
 */
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 200;
const MARGIN = { top: 12, right: 16, bottom: 28, left: 56 };

export interface Series {
  name: string;
  values: readonly number[];
  kind: "bar" | "line";
}

export interface Reference {
  name: string;
  value: number;
}

export interface Chart {
  /** Identifies the chart in the page (data-chart). */
  id: string;
  title: string;
  xLabel: string;
  series: Series[];
  references?: Reference[];
}

function element<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About five round steps from 0 to at least `max`. */
function ticks(max: number): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / 5;
  if (!(rough > 0)) return [0, max]; // a subnormal max: a fifth of it rounds to 0, a step of 0 never ends
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= rough) ?? rough;
  const found: number[] = [];
  for (let value = 0; value < max + step; value += step) found.push(value);
  return found;
}

function label(value: number): string {
  return Math.abs(value) >= 10000 ? value.toExponential(1) : String(Number(value.toPrecision(4)));
}

/** The chart as a <figure> holding an <svg>. */
export function render(chart: Chart): HTMLElement {
  const figure = document.createElement("figure");
  figure.dataset.chart = chart.id;
  const caption = document.createElement("figcaption");
  caption.textContent = chart.title;
  figure.append(caption);

  const svg = element("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": chart.title,
  });
  const count = Math.max(1, ...chart.series.map((s) => s.values.length));
  const top = Math.max(
    0,
    ...chart.series.flatMap((s) => s.values.filter(Number.isFinite)),
    ...(chart.references ?? []).map((r) => r.value),
  );
  const yTicks = ticks(top);
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotWidth / count;
  const x = (index: number): number => MARGIN.left + slot * (index + 0.5);
  const y = (value: number): number => MARGIN.top + plotHeight * (1 - Math.max(0, value) / yMax);

  for (const value of yTicks) {
    svg.append(
      element("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value) }),
      element("text", { class: "axis", x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end" }, label(value)),
    );
  }
  const every = Math.max(1, Math.ceil(count / 10));
  for (let index = 0; index < count; index += every) {
    svg.append(
      element("text", { class: "axis", x: x(index), y: HEIGHT - 10, "text-anchor": "middle" }, String(index + 1)),
    );
  }
  svg.append(element("text", { class: "axis", x: 4, y: HEIGHT - 10, "text-anchor": "start" }, `${chart.xLabel} →`));

  for (const series of chart.series) {
    const group = element("g", {
      class: `series ${series.kind} ${series.name}`,
      "data-series": series.name,
      "data-values": JSON.stringify(series.values),
    });
    if (series.kind === "bar") {
      series.values.forEach((value, index) => {
        const height = MARGIN.top + plotHeight - y(value);
        group.append(
          element("rect", { x: x(index) - slot * 0.4, y: y(value), width: slot * 0.8, height: Math.max(0, height) }),
        );
      });
    } else {
      const points = series.values.map((value, index) => `${x(index)},${y(value)}`).join(" ");
      group.append(element("polyline", { points }));
    }
    svg.append(group);
  }
  for (const reference of chart.references ?? []) {
    svg.append(
      element("line", {
        class: `reference ${reference.name}`,
        "data-reference": reference.name,
        "data-value": reference.value,
        x1: MARGIN.left,
        x2: WIDTH - MARGIN.right,
        y1: y(reference.value),
        y2: y(reference.value),
      }),
      element(
        "text",
        { class: "reference-label", x: WIDTH - MARGIN.right - 4, y: y(reference.value) - 4, "text-anchor": "end" },
        `${reference.name} ${label(reference.value)}`,
      ),
    );
  }
  figure.append(svg);
  return figure;
}
