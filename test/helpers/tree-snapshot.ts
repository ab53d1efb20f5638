/**
 * A byte-level picture of a directory tree (every entry's type, mode, link target and content
 * hash), for asserting that something outside the deploy path is exactly as it was.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export function treeSnapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.push(`${rel} link ${readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.push(`${rel}/ dir ${mode}`);
      for (const n of readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
    } else out.push(`${rel} file ${mode} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`);
  };
  walk('');
  return out;
}
