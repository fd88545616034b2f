/**
 * The interference matrix as a heatmap on a canvas: cell (row, col) is the change of `col`'s probe loss
 * after one step on `row` alone. Diverging colours centred on zero, scaled by the largest magnitude:
 * red = the step hurt that capability, blue = it helped. Values are printed in the cells.
 */
import type { HeatmapPayload } from '../messages';

export function cellColor(v: number | null, maxAbs: number): string {
  if (v === null) return 'rgba(128,128,128,0.15)';
  const t = maxAbs > 0 ? Math.max(-1, Math.min(1, v / maxAbs)) : 0;
  const a = 0.15 + 0.75 * Math.abs(t);
  return t >= 0 ? `rgba(225,87,89,${a.toFixed(3)})` : `rgba(78,121,167,${a.toFixed(3)})`;
}

export function drawHeatmap(canvas: HTMLCanvasElement, h: HeatmapPayload): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const n = h.capabilities.length;
  const dpr = window.devicePixelRatio || 1;
  const label = 96;
  const cell = Math.max(36, Math.min(80, Math.floor((420 - label) / Math.max(1, n))));
  const w = label + n * cell;
  const hgt = label + n * cell;
  canvas.width = w * dpr;
  canvas.height = hgt * dpr;
  canvas.style.width = `${w}px`;
  canvas.style.height = `${hgt}px`;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const fg = getComputedStyle(document.body).getPropertyValue('--vscode-foreground').trim() || '#ccc';
  let maxAbs = 0;
  for (const row of h.values) for (const v of row) if (v !== null) maxAbs = Math.max(maxAbs, Math.abs(v));
  ctx.font = '12px var(--vscode-font-family, sans-serif)';
  ctx.fillStyle = fg;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  h.capabilities.forEach((c, i) => ctx.fillText(c, label - 6, label + i * cell + cell / 2));
  ctx.save();
  h.capabilities.forEach((c, j) => {
    ctx.save();
    ctx.translate(label + j * cell + cell / 2, label - 6);
    ctx.rotate(-Math.PI / 4);
    ctx.textAlign = 'left';
    ctx.fillText(c, 0, 0);
    ctx.restore();
  });
  ctx.restore();
  ctx.textAlign = 'center';
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = h.values[i]?.[j] ?? null;
      ctx.fillStyle = cellColor(v, maxAbs);
      ctx.fillRect(label + j * cell + 1, label + i * cell + 1, cell - 2, cell - 2);
      ctx.fillStyle = fg;
      ctx.fillText(v === null ? '·' : v.toFixed(3), label + j * cell + cell / 2, label + i * cell + cell / 2);
    }
  }
}
