/** The README's "OpenSSH config" table names every keyword the built-in client knows, and no other. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYWORDS } from '../../src/transport/ssh/ssh-keywords.js';

const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
const section = readme.slice(readme.indexOf('### OpenSSH config'));
const table = section.slice(0, section.search(/\n## /));
const firstColumn = table
  .split('\n')
  .filter((l) => l.startsWith('| `') || l.startsWith('| FIDO'))
  .map((l) => l.split(' | ')[0]);
const named = new Set(firstColumn.flatMap((cell) => [...cell.matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1])));

describe('README OpenSSH config table', () => {
  it('lists every keyword of src/transport/ssh/ssh-keywords.ts', () => {
    expect(KEYWORDS.map((k) => k.name).filter((n) => !named.has(n))).toEqual([]);
  });
  it('lists no keyword the code does not know', () => {
    const known = new Set(KEYWORDS.map((k) => k.name));
    // Match criteria named in the Match row are not keywords
    const criteria = new Set(['host', 'originalhost', 'user', 'localuser', 'exec', 'tagged', 'all', 'canonical', 'final', 'localnetwork']);
    expect([...named].filter((n) => !known.has(n) && !criteria.has(n))).toEqual([]);
  });
});
