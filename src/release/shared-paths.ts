/**
 * Shared paths against the source tree, before anything is uploaded. Every shared dir and file
 * becomes a link in the release, made by removing what the upload put at that path: a parent
 * that is a symlink in the source (`public -> /srv/www` with `shared.dirs: [public/uploads]`)
 * would point that removal outside the deploy path, and a shared path inside another one would
 * remove the other's shared content. Both are refused here, by name, before any host is touched.
 */
import type { SourceTree } from './scan.js';

function normal(p: string): string[] {
  return p.split('/').filter((x) => x !== '' && x !== '.');
}

/** what is wrong with the shared paths for this tree (one line), or undefined */
export function sharedPathProblem(tree: Pick<SourceTree, 'entries'>, dirs: string[], files: string[]): string | undefined {
  const types = new Map(tree.entries.map((e) => [e.path, e.type]));
  const all = [...dirs.map((p) => ({ key: 'shared.dirs', p })), ...files.map((p) => ({ key: 'shared.files', p }))];
  for (const { key, p } of all) {
    const parts = normal(p);
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const t = types.get(parent);
      if (t && t !== 'dir') {
        return `${key}: ${p} lies under ${parent}, which is a ${t === 'symlink' ? 'symlink' : 'file'} in source.dir; a shared path must lie under real directories of the release`;
      }
    }
  }
  return nestedShared(all);
}

function nestedShared(all: { key: string; p: string }[]): string | undefined {
  const norm = all.map((a) => ({ ...a, n: normal(a.p).join('/') }));
  for (const a of norm) {
    for (const b of norm) {
      if (a !== b && b.n.startsWith(`${a.n}/`)) return `${b.key}: ${b.p} lies inside ${a.key === 'shared.dirs' ? 'the shared dir' : 'the shared file'} ${a.p}; list only ${a.p}`;
    }
  }
  return undefined;
}
