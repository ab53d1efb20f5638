/** The remote tree (releases/, shared/, current, revisions.log), Capistrano-compatible so both
 * tools can share a deploy root. Pure path arithmetic. */
import { posix } from 'node:path';
import { assertReleaseId } from './release-id.js';

export interface Layout {
  root: string;
  releases: string;
  current: string;
  shared: string;
  revisions: string;
  meta: string;
  lock: string;
  lockInfo: string;
  history: string;
  staging: string;
  /** `<id>` markers of releases moved into releases/ but not switched to yet (cleaned by the next run) */
  pending: string;
  /** releases being removed are renamed here first, so releases/ never holds a half-deleted one */
  trash: string;
  /** `<id>`: the manifest of releases/<id> (deploy/manifest.ts), metadata kept out of the release */
  manifests: string;
  /**
   * the upload base: `<id>/` the tree of the last upload exactly as it arrived, `<id>.manifest`,
   * `<id>.stamp`. Never exposed to hooks or apps; a release gets its own copy of it.
   */
  base: string;
  release(id: string): string;
  stagingFor(id: string): string;
  baseFor(id: string): string;
}

export function layout(root: string): Layout {
  const j = (...p: string[]) => posix.join(root, ...p);
  return {
    root,
    releases: j('releases'),
    current: j('current'),
    shared: j('shared'),
    revisions: j('revisions.log'),
    meta: j('.ee-deploy'),
    lock: j('.ee-deploy', 'lock'),
    lockInfo: j('.ee-deploy', 'lock', 'info'),
    history: j('.ee-deploy', 'history.jsonl'),
    staging: j('.ee-deploy', 'staging'),
    pending: j('.ee-deploy', 'pending'),
    trash: j('.ee-deploy', 'trash'),
    manifests: j('.ee-deploy', 'manifests'),
    base: j('.ee-deploy', 'base'),
    release: (id) => j('releases', assertReleaseId(id)),
    stagingFor: (id) => j('.ee-deploy', 'staging', assertReleaseId(id)),
    baseFor: (id) => j('.ee-deploy', 'base', assertReleaseId(id)),
  };
}

/** relative symlink target from `releases/<id>/<rel>` to `shared/<rel>` */
export function sharedLinkTarget(rel: string): string {
  const depth = rel.split('/').filter(Boolean).length;
  return `${'../'.repeat(depth + 1)}shared/${rel}`;
}

/** the directories a relative path goes through inside its root: `a/b/c` -> [`a`, `a/b`] */
export function parentDirs(rel: string): string[] {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}
