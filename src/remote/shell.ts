/**
 * The only place that quotes for the remote shell. Builders return `Cmd` values; nothing else
 * concatenates shell text. A `Secret` renders its value only in `Cmd.text` (what runs) and as
 * `***` in `Cmd.display` (what is printed, e.g. by --dry-run or in errors).
 */

export class Secret {
  constructor(readonly value: string) {}
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
}

/** Already-valid shell text (operators, redirections, a user's hook command). */
export class Raw {
  constructor(
    readonly text: string,
    readonly display: string = text,
  ) {}
}

export type Arg = string | number | Secret | Raw | Cmd;

export class Cmd {
  constructor(
    readonly text: string,
    readonly display: string,
  ) {}
  toString(): string {
    return this.display;
  }
}

/** POSIX single-quote a word: safe for any byte sequence except NUL. */
export function quote(word: string): string {
  if (word.includes('\0')) throw new Error('NUL byte in a shell argument');
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function render(arg: Arg): { text: string; display: string } {
  if (arg instanceof Cmd) return { text: arg.text, display: arg.display };
  if (arg instanceof Raw) return { text: arg.text, display: arg.display };
  if (arg instanceof Secret) return { text: quote(arg.value), display: '***' };
  const s = quote(String(arg));
  return { text: s, display: s };
}

/** A simple command: every argument quoted. `cmd('mkdir', '-p', path)`. */
export function cmd(...args: Arg[]): Cmd {
  const parts = args.map(render);
  return new Cmd(parts.map((p) => p.text).join(' '), parts.map((p) => p.display).join(' '));
}

/** Unquoted shell text (operators, redirects). Never pass user data here. */
export function raw(text: string): Raw {
  return new Raw(text);
}

function join(sep: string, cmds: Cmd[]): Cmd {
  return new Cmd(cmds.map((c) => c.text).join(sep), cmds.map((c) => c.display).join(sep));
}

/** `a || b` */
export function or(...cmds: Cmd[]): Cmd {
  return join(' || ', cmds);
}
/** one command per line: a script */
export function lines(...cmds: Cmd[]): Cmd {
  return join('\n', cmds);
}
/** `( a )` subshell */
export function subshell(c: Cmd): Cmd {
  return new Cmd(`( ${c.text} )`, `( ${c.display} )`);
}

/** `NAME=<quoted value>`: how builders hand data to their fixed script text. */
export function assign(name: string, value: string | Secret): Cmd {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`bad shell variable name ${name}`);
  const v = value instanceof Secret ? value : String(value);
  const r = render(v);
  return new Cmd(`${name}=${r.text}`, `${name}=${r.display}`);
}

/**
 * A script: variable assignments (quoted here) followed by fixed script text written in this
 * repository, which refers to the data only as "$NAME". User data never becomes script text,
 * except user-written hook command lines, which are shell by definition (see hooks.ts).
 */
export function script(vars: Record<string, string | Secret>, ...body: (string | Cmd)[]): Cmd {
  const assigns = Object.entries(vars).map(([k, v]) => assign(k, v));
  const parts = [...assigns, ...body.map((b) => (typeof b === 'string' ? new Cmd(b, b) : b))];
  return lines(...parts);
}
