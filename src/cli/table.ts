/** Plain-text table: columns padded to their widest cell. */
export function table(head: string[], rows: string[][], indent = ''): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => indent + r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd() + '\n';
  return fmt(head) + rows.map(fmt).join('');
}
