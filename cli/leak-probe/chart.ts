// A self-contained SVG line chart (no fonts or scripts to fetch), so an operator can paste the leak
// probe's curve into a report as is.
export interface Series {
    label: string;
    points: { x: number; y: number }[];
}

export interface ChartSpec {
    title: string;
    xLabel: string;
    yLabel: string;
    series: Series[];
    width?: number;
    height?: number;
}

const COLORS = ["#c0392b", "#2471a3", "#1e8449", "#b9770e", "#7d3c98"];

export function escapeXml(s: string): string {
    return s.replace(
        /[<>&"']/g,
        (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c,
    );
}

/** A step that gives 4 to 8 ticks between 0 and max: 1, 2 or 5 times a power of ten. */
export function niceStep(max: number): number {
    if (max <= 0) {
        return 1;
    }
    const raw = max / 5;
    const pow = 10 ** Math.floor(Math.log10(raw));
    const m = raw / pow;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * pow;
}

function fmt(n: number): string {
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function lineChartSvg(spec: ChartSpec): string {
    const width = spec.width ?? 780;
    const height = spec.height ?? 400;
    const m = { left: 70, right: 230, top: 40, bottom: 50 };
    const pw = width - m.left - m.right;
    const ph = height - m.top - m.bottom;
    const all = spec.series.flatMap((s) => s.points);
    const xMax = Math.max(1, ...all.map((p) => p.x));
    const yMaxRaw = Math.max(1, ...all.map((p) => p.y));
    const yMinRaw = Math.min(yMaxRaw, ...all.map((p) => p.y));
    const yStep = niceStep(Math.max(yMaxRaw - yMinRaw, 4));
    // A leak of a few addresses on a /24 is invisible from zero: start the axis near the data.
    const yMin = Math.max(0, (Math.floor(yMinRaw / yStep) - 1) * yStep);
    const yMax = (Math.ceil(yMaxRaw / yStep) + 1) * yStep;
    const xStep = Math.max(1, niceStep(xMax));
    const sx = (x: number) => m.left + (x / xMax) * pw;
    const sy = (y: number) => m.top + ph - ((y - yMin) / (yMax - yMin || 1)) * ph;

    const out: string[] = [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
        `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
        `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
    ];
    for (let y = yMin; y <= yMax + 1e-9; y += yStep) {
        out.push(
            `<line x1="${m.left}" y1="${sy(y).toFixed(1)}" x2="${m.left + pw}" y2="${sy(y).toFixed(1)}" stroke="#e5e5e5"/>`,
            `<text x="${m.left - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${fmt(y)}</text>`,
        );
    }
    for (let x = 0; x <= xMax + 1e-9; x += xStep) {
        out.push(`<text x="${sx(x).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${fmt(x)}</text>`);
    }
    out.push(
        `<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`,
        `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`,
        `<text x="${m.left + pw / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
        `<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
    );
    spec.series.forEach((s, i) => {
        const color = COLORS[i % COLORS.length];
        const pts = s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
        out.push(`<polyline class="series" fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
        for (const p of s.points) {
            out.push(
                `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${color}"><title>${escapeXml(`${s.label}: ${fmt(p.y)} after ${fmt(p.x)}`)}</title></circle>`,
            );
        }
        const ly = m.top + 10 + i * 20;
        out.push(
            `<line x1="${m.left + pw + 15}" y1="${ly}" x2="${m.left + pw + 35}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
            `<text x="${m.left + pw + 40}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
        );
    });
    out.push("</svg>");
    return `${out.join("\n")}\n`;
}
