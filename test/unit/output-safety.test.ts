import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, registerSecret, StreamRedactor } from '../../src/config/secrets.js';
import { LineReporter, printable } from '../../src/ui/reporter.js';

afterEach(() => clearSecrets());

function collect(chunks: string[]): string {
  const out: string[] = [];
  const r = new StreamRedactor((t) => out.push(t));
  for (const c of chunks) r.write(c);
  r.flush();
  return out.join('\n');
}

describe('StreamRedactor: a secret split across chunks is never emitted', () => {
  it('every split point of a line holding the secret', () => {
    registerSecret('s3cr3t-t0ken');
    const text = 'before\nthe token is s3cr3t-t0ken, ok\nafter\n';
    for (let i = 1; i < text.length; i++)
      for (let j = i; j < text.length; j++) {
        const out = collect([text.slice(0, i), text.slice(i, j), text.slice(j)]);
        expect(out).toBe('before\nthe token is ***, ok\nafter');
      }
  });

  it('a multi-line secret (a key) split anywhere', () => {
    const key = '-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----';
    registerSecret(key);
    const text = `x\n${key}\ny\n`;
    for (let i = 1; i < text.length; i++) expect(collect([text.slice(0, i), text.slice(i)])).toBe('x\n***\ny');
  });

  it('complete lines are emitted at once when no secret can start in them', () => {
    registerSecret('zzzz-secret');
    const out: string[] = [];
    const r = new StreamRedactor((t) => out.push(t));
    r.write('line one\nline two\npartial');
    expect(out).toEqual(['line one\nline two']);
    r.write(' zz');
    expect(out).toHaveLength(1);
    r.write('q\n');
    expect(out).toEqual(['line one\nline two', 'partial zzq']);
  });
});

describe('LineReporter --verbose', () => {
  it('prints remote output by line, redacted across chunks, control characters made visible', () => {
    registerSecret('hunter22');
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (d) => (text += d));
    const r = new LineReporter({ mode: 'plain', verbose: true, color: false, stdout });
    r.output('web1', 'pass=hun');
    r.output('web1', 'ter22 \x1b]0;pwned\x07 \x1b[32mgreen\x1b[0m\nnext');
    r.stop();
    expect(text).not.toContain('hunter22');
    expect(text).toContain('[web1] pass=*** \\x1b]0;pwned\\x07 \x1b[32mgreen\x1b[0m');
    expect(text).toContain('[web1] next');
  });

  it('printable keeps text, tabs and colour, escapes the rest', () => {
    expect(printable('a\tb')).toBe('a\tb');
    expect(printable('\x1b[2J\x1bc')).toBe('\\x1b[2J\\x1bc');
    expect(printable('\x9b31m')).toBe('\\x9b31m');
  });
});
