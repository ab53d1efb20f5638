/** Plain-text table: columns padded to their widest cell. */
export function table(head: string[], rows: string[][], indent = ''): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => indent + r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd() + '\n';
  return fmt(head) + rows.map(fmt).join('');
}

/** items shown unless `all`, before "... and N more (--all)" */
const ITEM_LIMIT = 50;

/** One indented line per item, `  <label> <item>`; past ITEM_LIMIT items only a count, unless `all`. */
export function itemLines(label: string, items: string[], all: boolean): string {
  if (!items.length) return '';
  const shown = all ? items : items.slice(0, ITEM_LIMIT);
  return shown.map((i) => `  ${label} ${i}\n`).join('') + (shown.length < items.length ? `  ... and ${items.length - shown.length} more (--all)\n` : '');
}
