/**
 * The quoting layer: what every remote command is rendered through. Rendered strings are compared
 * exactly (Kamal's builder tests), and every quoted word is also checked by a real `sh`.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { assign, Cmd, cmd, lines, or, quote, raw, script, Secret, subshell } from '../../src/remote/shell.js';
import { manualLockScript, unlockScript } from '../../src/remote/steps/lock.js';
import { writableScript } from '../../src/remote/steps/inspect.js';

/** what `sh` makes of `text`: the words of `printf '%s\n' <text>` */
function shWords(text: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${text}`], { encoding: 'latin1' });
  return out.split('\0').slice(0, -1);
}

describe('quote', () => {
  it.each([
    ['plain', 'plain'],
    ['/srv/shop/releases/20261122093000', '/srv/shop/releases/20261122093000'],
    ['a-b_c.d:e,f@g%h+i=j', 'a-b_c.d:e,f@g%h+i=j'],
    ['', "''"],
    ['two words', "'two words'"],
    ["it's", "'it'\\''s'"],
    ['$(touch /tmp/pwned)', "'$(touch /tmp/pwned)'"],
    ['`id`', "'`id`'"],
    ['"double"', `'"double"'`],
    ['a;b&&c|d>e<f', "'a;b&&c|d>e<f'"],
    ['${HOME}', "'${HOME}'"],
    ['~', "'~'"],
    ['*', "'*'"],
    ['-n', '-n'],
    ['line\nbreak', "'line\nbreak'"],
    ["''", "''\\'''\\'''"],
  ])('quote(%j) = %s', (word, rendered) => {
    expect(quote(word)).toBe(rendered);
  });

  it.each(['', 'x', "it's", '$(touch /tmp/pwned)', '`id`', '"a b"', "'", "''", '\\', '\\n', 'line\nbreak', ' lead', 'tail ', '*', '?', '[a]', '~', '!', '#x', 'é ü 漢字', '\t', '$$', '-e'])(
    'sh reads quote(%j) back as exactly that word',
    (word) => {
      expect(shWords(quote(word))).toEqual([Buffer.from(word, 'utf8').toString('latin1')]);
    },
  );

  it('refuses NUL', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/);
  });
});

describe('builders', () => {
  it('cmd quotes every argument', () => {
    const c = cmd('mkdir', '-p', '/srv/my app', 3);
    expect(c.text).toBe("mkdir -p '/srv/my app' 3");
    expect(c.display).toBe(c.text);
    expect(String(c)).toBe(c.text);
  });

  it('a Secret renders in text only; display shows ***', () => {
    const c = cmd('curl', '-H', new Secret('Bearer s3cr3t'), 'https://x');
    expect(c.text).toBe("curl -H 'Bearer s3cr3t' https://x");
    expect(c.display).toBe('curl -H *** https://x');
    expect(JSON.stringify({ s: new Secret('s3cr3t') })).toBe('{"s":"***"}');
    expect(`${new Secret('s3cr3t')}`).toBe('***');
  });

  it('raw and nested Cmd values pass through unquoted', () => {
    expect(cmd('echo', raw('$HOME'), 'x').text).toBe('echo $HOME x');
    expect(cmd('sudo', cmd('ls', 'a b')).text).toBe("sudo ls 'a b'");
  });

  it('or / lines / subshell', () => {
    const a = cmd('test', '-d', 'x y');
    const b = cmd('echo', 'ok');
    const c = cmd('echo', 'no');
    expect(or(a, c).text).toBe("test -d 'x y' || echo no");
    expect(lines(a, b, c).text).toBe("test -d 'x y'\necho ok\necho no");
    expect(subshell(or(a, c)).text).toBe("( test -d 'x y' || echo no )");
  });

  it('assign / script: data only as quoted variable assignments', () => {
    expect(assign('R', '/srv/it\'s').text).toBe(`R='/srv/it'\\''s'`);
    expect(assign('TOKEN', new Secret('t0k')).display).toBe('TOKEN=***');
    expect(() => assign('lower', 'x')).toThrow(/bad shell variable name/);
    expect(() => assign('A-B', 'x')).toThrow(/bad shell variable name/);
    const s = script({ A: '$(touch pwned)', B: 'b c' }, 'echo "$A"', cmd('echo', 'done'));
    expect(s.text).toBe(`A='$(touch pwned)'\nB='b c'\necho "$A"\necho done`);
    expect(execFileSync('sh', ['-c', s.text], { encoding: 'utf8' })).toBe('$(touch pwned)\ndone\n');
  });

  it('script builders render their data as assignments, then fixed text, exactly', () => {
    // the layout variables come first (their set grows with the layout); the rest is compared whole
    const body = (c: Cmd) => c.text.split('\n').filter((l) => !/^(R|RELEASES|CURRENT|SHARED|META|LOCK|STAGING|PENDING|TRASH|MANIFESTS|BASE|HISTORY|REVLOG)=/.test(l));
    const lock = manualLockScript("/srv/it's", '{"token":"t","message":"$(touch x)"}');
    expect(lock.text.split('\n')[0]).toBe(`R='/srv/it'\\''s'`);
    expect(body(lock)).toEqual([
      `INFO='{"token":"t","message":"$(touch x)"}'`,
      '{ [ -d "$META" ] || mkdir -p -m 700 "$META"; } && { chmod o-rwx "$META" 2>/dev/null || :; } || exit 1',
      `if mkdir -m 700 "$LOCK" 2>/dev/null; then (umask 077 && printf '%s\\n' "$INFO" > "$LOCK/info"); echo "@@ee lock acquired"; else echo "@@ee lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"; fi`,
    ]);
    expect(body(unlockScript('/srv/shop', 'f00d'))).toEqual(['TOKEN=f00d', 'l=; { IFS= read -r l < "$LOCK/info"; } 2>/dev/null; case $l in *"\\"token\\":\\"$TOKEN\\""*) rm -rf "$LOCK"; echo "@@ee unlocked" ;; esac']);
    expect(writableScript("/srv/it's $(x)").text).toBe(
      [
        `R='/srv/it'\\''s $(x)'`,
        'p="$R"; while [ ! -e "$p" ]; do n=$(dirname "$p"); [ "$n" = "$p" ] && break; p="$n"; done',
        'if [ -w "$p" ]; then echo "@@ee writable $p"; else echo "@@ee notwritable $p"; fi',
        `avail=$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}'); echo "@@ee df \${avail:-unknown}"`,
      ].join('\n'),
    );
  });
});

describe('Cmd', () => {
  it('is a plain value', () => {
    const c = new Cmd('a', 'b');
    expect(c.text).toBe('a');
    expect(c.display).toBe('b');
  });
});
