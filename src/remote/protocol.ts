/**
 * The remote scripts' output protocol, defined here and nowhere else. A script reports what it
 * did with tagged lines, `@@ee <kind> <words...>`, mixed with whatever the user's hooks print:
 * on stdout, except `failed <reason>` (and the free space a failure reports) on stderr.
 * Builders write tags with `say` / `sayErr`; each step module parses its own tags with the
 * readers below, so code outside src/remote/ sees typed results, never a tag.
 */

export const MARK = '@@ee';

/** sh text printing a tag on stdout; `text` is fixed script text (it may expand "$VARS") */
export function say(text: string): string {
  return `echo "${MARK} ${text}"`;
}

/** sh text printing a tag on stderr (`failed <reason>` goes there) */
export function sayErr(text: string): string {
  return `echo "${MARK} ${text}" >&2`;
}

export interface Tag {
  kind: string;
  /** the words after the kind, split on single spaces */
  words: string[];
  /** everything after the kind and one space */
  rest: string;
}

/** every tagged line of `text`, in order */
export function tags(text: string): Tag[] {
  const out: Tag[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(MARK + ' ')) continue;
    const [kind, ...words] = line.slice(MARK.length + 1).split(' ');
    out.push({ kind, words, rest: words.join(' ') });
  }
  return out;
}

/** the `rest` of every `kind` tag in `text` */
export function tagged(text: string, kind: string): string[] {
  return tags(text)
    .filter((t) => t.kind === kind)
    .map((t) => t.rest);
}

/** is there a tag line exactly `kind rest`? */
export function hasTag(text: string, kind: string, rest?: string): boolean {
  return tags(text).some((t) => t.kind === kind && (rest === undefined || t.rest === rest));
}

interface Output {
  stdout: string;
  stderr: string;
}

/** the reason a script gave with `failed <reason>` (the last one), if any */
export function failureReason(r: Output): string | undefined {
  return tagged(`${r.stdout}\n${r.stderr}`, 'failed').pop();
}

/** the reason of the last `<kind> failed <reason>` tag in `text` (the traffic scripts' failures) */
export function kindFailure(text: string, kind: string): string | undefined {
  return tagged(text, kind)
    .reverse()
    .find((rest) => rest.startsWith('failed '))
    ?.slice('failed '.length);
}

/** the user's output lines (hooks, tools), without the protocol's tags */
export function userOutput(r: Output): string {
  // stdout's final newline must not become an empty line between the two
  return `${r.stdout.replace(/\n$/, '')}\n${r.stderr}`
    .split('\n')
    .filter((l) => !l.startsWith(MARK))
    .join('\n')
    .trim();
}

/**
 * Why a script failed, in one line: its `failed <reason>` tag with the last line it printed
 * besides (a tool's own error, e.g. ln's), else that line alone.
 */
export function failureText(r: Output): string | undefined {
  const reason = failureReason(r);
  const last = userOutput(r).split('\n').pop()?.trim();
  if (reason) return last && !reason.includes(last) ? `${reason} (${last})` : reason;
  return last || undefined;
}

/** the free space (KiB) a script reported with `df <KiB>`, if it did */
export function reportedFreeKb(r: Output): number | undefined {
  const v = tagged(`${r.stdout}\n${r.stderr}`, 'df').find((x) => /^\d+$/.test(x));
  return v === undefined ? undefined : Number(v);
}

/** is this one line of output a tag (rather than something a hook or tool printed)? */
export function isTagLine(line: string): boolean {
  return line.startsWith(MARK + ' ');
}
