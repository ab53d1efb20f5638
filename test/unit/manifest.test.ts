import { describe, expect, it } from 'vitest';
import { contentHash, diffManifest, ManifestError, parseManifest, serializeManifest, type ManifestEntry } from '../../src/release/manifest.js';
import { openScript, parseManifestBlock, parseState } from '../../src/remote/steps/open.js';

const f = (path: string, content: string, mode = 0o644): ManifestEntry => ({ path, type: 'f', mode, size: Buffer.byteLength(content), hash: contentHash(content) });
const d = (path: string, mode = 0o755): ManifestEntry => ({ path, type: 'd', mode, size: 0, hash: '' });
const l = (path: string, target: string): ManifestEntry => ({ path, type: 'l', mode: 0o777, size: 0, hash: contentHash(target) });

describe('manifest serialization', () => {
  it('round-trips entries, including paths with spaces, backslashes and newlines', () => {
    const entries = [d('lib'), f('lib/app.js', 'x'), f('odd name with  spaces.txt', 'y', 0o755), f('back\\slash\nnew\rline', 'z'), l('latest', 'lib/app.js'), f('empty', '')];
    const { text, digest } = serializeManifest(entries);
    expect(text.split('\n')[0]).toBe(`#ee-manifest 1 ${digest}`);
    expect(text).toContain(`f 644 1 ${contentHash('x')} lib/app.js\n`);
    expect(text).toContain('d 755 - - lib\n');
    expect(text).toContain('back\\\\slash\\nnew\\rline');
    const back = parseManifest(text);
    expect(back.digest).toBe(digest);
    expect(back.entries).toEqual(entries);
  });

  it('the digest depends on the content only', () => {
    expect(serializeManifest([f('a', '1')]).digest).toBe(serializeManifest([f('a', '1')]).digest);
    expect(serializeManifest([f('a', '1')]).digest).not.toBe(serializeManifest([f('a', '2')]).digest);
    expect(serializeManifest([]).text).toMatch(/^#ee-manifest 1 [0-9a-f]{32}\n$/);
  });

  it('rejects what is not a manifest', () => {
    expect(() => parseManifest('hello\n')).toThrow(ManifestError);
    expect(() => parseManifest(`#ee-manifest 1 ${'0'.repeat(32)}\nx 644 1 h a\n`)).toThrow(/unknown type/);
    expect(() => parseManifest(`#ee-manifest 1 ${'0'.repeat(32)}\nf 644\n`)).toThrow(/malformed/);
  });

  it('content hashes are 128-bit base64url', () => {
    expect(contentHash('abc')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe('diffManifest', () => {
  it('splits into unchanged, changed, added, deleted', () => {
    const base = [d('lib'), f('lib/a.js', 'a'), f('lib/b.js', 'b'), f('gone.txt', 'g'), f('mode.sh', 'm'), f('kind', 'k'), l('link', 'lib/a.js')];
    const local = [d('lib'), f('lib/a.js', 'a'), f('lib/b.js', 'B'), f('new.txt', 'n'), f('mode.sh', 'm', 0o755), d('kind'), l('link', 'lib/b.js')];
    expect(diffManifest(local, base)).toEqual({
      unchanged: ['lib/a.js'],
      changed: ['lib/b.js', 'mode.sh', 'kind', 'link'],
      added: ['new.txt'],
      deleted: ['gone.txt'],
    });
  });

  it('an empty base: everything is added', () => {
    expect(diffManifest([f('a', '1')], [])).toEqual({ unchanged: [], changed: [], added: ['a'], deleted: [] });
  });
});

describe('the manifest in the open exec', () => {
  const digest = 'a'.repeat(32);
  it('openScript prints it only when asked, and only the digest when the client has it', () => {
    expect(openScript('/srv/app', { lockInfo: '{}' }).text).not.toContain('manifest-begin');
    const text = openScript('/srv/app', { lockInfo: '{}', manifests: [digest, 'not-a-digest'] }).text;
    expect(text).toContain(`HAVE=${digest}\n`);
    expect(text).toContain('manifest cached');
    expect(text).toContain('manifest-begin');
  });

  it('parses the three answers', () => {
    const body = `#ee-manifest 1 ${digest}\nf 644 1 h a b\n`;
    const full = `@@ee lock acquired\n@@ee current releases/20260101000000\n@@ee manifest-begin 20260101000000 ${digest}\n${body}\n@@ee manifest-end\n@@ee df 100\n`;
    expect(parseManifestBlock(full)).toEqual({ release: '20260101000000', digest, text: body });
    const st = parseState(full);
    expect(st.manifest?.text).toBe(body);
    expect(st.availableKb).toBe(100);
    expect(st.current).toBe('20260101000000');
    expect(parseState(`@@ee manifest cached 20260101000000 ${digest}\n`).manifest).toEqual({ release: '20260101000000', digest, cached: true });
    const changed = parseState(`@@ee base-changed 20260101000000 3\n`);
    expect(changed.manifest).toBeUndefined();
    expect(changed.baseChanged).toEqual({ id: '20260101000000', count: '3' });
    expect(parseState(`@@ee lock acquired\n`).manifest).toBeUndefined();
    // cut off before the end marker: treated as no manifest (full upload)
    expect(parseManifestBlock(`@@ee manifest-begin 1 ${digest}\n#ee-manifest 1 ${digest}\n`)).toEqual({ release: '1' });
  });
});
