// Number and text formatting shared by the views.

export function ms(value) {
  if (value == null || Number.isNaN(value)) return "–";
  const v = Number(value);
  if (Math.abs(v) >= 10000) return `${(v / 1000).toFixed(2)} s`;
  if (Math.abs(v) >= 100) return `${Math.round(v)} ms`;
  return `${v.toFixed(1).replace(/\.0$/, "")} ms`;
}

/** Player speed as a fraction of real time: 0.05 → "1/20×", 1 → "1×". */
export function speed(s) {
  if (s >= 0.995) return "1×";
  const inv = 1 / s;
  const nice = inv >= 100 ? Math.round(inv / 10) * 10 : inv >= 10 ? Math.round(inv) : Math.round(inv * 10) / 10;
  return `1/${nice}×`;
}

export function percent(p) {
  return `${Math.round(p * 100)} %`;
}

/** Stable order of node ids: n2 before n10. */
export function byNodeId(a, b) {
  return a.localeCompare(b, "en", { numeric: true });
}
