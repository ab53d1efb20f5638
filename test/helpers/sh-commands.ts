/**
 * The command names a POSIX sh script runs: the first word of every simple command, found by a
 * small lexer that knows quoting, $( ) and backquotes (also inside double quotes), ${ } and $(( )),
 * redirections, assignments, comments, `case` patterns, `for` lists and function definitions.
 * Words that are not literal (`"$cmd"`, `$1`) are left out: they run what the caller gave.
 * Made for the scripts ee-deploy's builders print, not for every sh construct (no here-documents).
 */
const KEYWORDS_BEFORE_COMMAND = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', '(']);
const KEYWORDS_ENDING = new Set(['fi', 'done', 'esac', '}']);

export interface ShCommands {
  /** literal command names, e.g. `mkdir`, `[`, `ee_hook` */
  commands: Set<string>;
  /** names defined as functions by the script itself */
  functions: Set<string>;
}

export function shCommands(text: string): ShCommands {
  const out: ShCommands = { commands: new Set(), functions: new Set() };
  const end = scan(text, 0, out, false);
  if (end < text.length) throw new Error(`unbalanced ) at ${end}: ${text.slice(Math.max(0, end - 60), end + 20)}`);
  return out;
}

/** skips a balanced ${...}, $((...)) or quoted region; returns the index after it */
function skipBraces(t: string, i: number, open: string, close: string): number {
  let depth = 0;
  for (; i < t.length; i++) {
    const c = t[i];
    if (c === '\\') i++;
    else if (c === "'" && open === '{') i = t.indexOf("'", i + 1);
    else if (c === open) depth++;
    else if (c === close && --depth === 0) return i + 1;
  }
  throw new Error(`unterminated ${open}`);
}

/**
 * Scans commands from `i`; with `nested` (inside `$(` ) returns at the `)` that closes it (the
 * index after it), else at the end of the text.
 */
function scan(t: string, i: number, out: ShCommands, nested: boolean): number {
  let expectCmd = true;
  let parens = 0;
  /** per open `case`: 'word' (its subject), 'in', 'pattern' (before `)`), 'body' */
  const cases: ('word' | 'in' | 'pattern' | 'body')[] = [];
  let forState: 'none' | 'name' | 'list' = 'none';
  let lastWord = '';
  const top = () => cases[cases.length - 1];

  /** reads one word (quotes and expansions inside it), recording commands of its $( ) parts */
  const readWord = (): string => {
    let w = '';
    while (i < t.length) {
      const c = t[i];
      if (/[\s;&|()<>]/.test(c)) break;
      if (c === '\\') {
        w += t.slice(i, i + 2);
        i += 2;
      } else if (c === "'") {
        const j = t.indexOf("'", i + 1);
        if (j < 0) throw new Error(`unterminated ' at ${i}`);
        w += t.slice(i, j + 1);
        i = j + 1;
      } else if (c === '"') {
        const start = i++;
        while (i < t.length && t[i] !== '"') {
          if (t[i] === '\\') i += 2;
          else if (t.startsWith('$((', i)) i = skipBraces(t, i + 1, '(', ')');
          else if (t.startsWith('$(', i)) i = scan(t, i + 2, out, true);
          else if (t[i] === '`') i = backquote(i);
          else if (t.startsWith('${', i)) i = skipBraces(t, i + 1, '{', '}');
          else i++;
        }
        if (i >= t.length) throw new Error(`unterminated " at ${start}`);
        i++;
        w += t.slice(start, i);
      } else if (t.startsWith('$((', i)) {
        const j = skipBraces(t, i + 1, '(', ')');
        w += t.slice(i, j);
        i = j;
      } else if (t.startsWith('$(', i)) {
        const j = scan(t, i + 2, out, true);
        w += t.slice(i, j);
        i = j;
      } else if (t.startsWith('${', i)) {
        const j = skipBraces(t, i + 1, '{', '}');
        w += t.slice(i, j);
        i = j;
      } else if (c === '`') {
        const j = backquote(i);
        w += t.slice(i, j);
        i = j;
      } else {
        w += c;
        i++;
      }
    }
    return w;
  };
  const backquote = (at: number): number => {
    const j = t.indexOf('`', at + 1);
    if (j < 0) throw new Error(`unterminated \` at ${at}`);
    const inner = shCommands(t.slice(at + 1, j));
    inner.commands.forEach((c) => out.commands.add(c));
    inner.functions.forEach((f) => out.functions.add(f));
    return j + 1;
  };

  while (i < t.length) {
    const c = t[i];
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#' && (i === 0 || /[\s;&|()]/.test(t[i - 1]))) {
      while (i < t.length && t[i] !== '\n') i++;
      continue;
    }
    if (c === '\n' || c === ';' || c === '&' || c === '|') {
      if (t.startsWith(';;', i)) {
        if (top() !== 'body') throw new Error(`;; outside a case at ${i}`);
        cases[cases.length - 1] = 'pattern';
        i += 2;
      } else {
        i += t.startsWith('&&', i) || t.startsWith('||', i) ? 2 : 1;
        if (top() === 'in' && c === '\n') {
          /* `case x in` then a newline */
        }
      }
      if (forState !== 'none' && (c === '\n' || c === ';')) forState = 'none';
      expectCmd = true;
      continue;
    }
    if (c === '<' || c === '>') {
      // a redirection: the operator, then its target word (a &N is part of the operator)
      i++;
      while (i < t.length && /[<>&|]/.test(t[i])) i++;
      while (t[i] === ' ' || t[i] === '\t') i++;
      readWord();
      continue;
    }
    if (c === '(') {
      i++;
      if (top() === 'pattern') continue; // `(pat)` style pattern opener
      parens++;
      expectCmd = true;
      continue;
    }
    if (c === ')') {
      i++;
      if (top() === 'pattern') {
        cases[cases.length - 1] = 'body';
        expectCmd = true;
        continue;
      }
      if (parens === 0) {
        if (nested) return i;
        throw new Error(`unbalanced ) at ${i - 1}`);
      }
      parens--;
      expectCmd = false;
      continue;
    }
    const start = i;
    const w = readWord();
    if (i === start) throw new Error(`lexer stuck at ${i}: ${t.slice(i, i + 20)}`);
    const prev = lastWord;
    lastWord = w;
    // inside a case: its subject, `in`, the patterns (up to `)`)
    if (top() === 'word') {
      cases[cases.length - 1] = 'in';
      continue;
    }
    if (top() === 'in') {
      if (w !== 'in') throw new Error(`case without in at ${start}`);
      cases[cases.length - 1] = 'pattern';
      continue;
    }
    if (top() === 'pattern') {
      if (w === 'esac') {
        cases.pop();
        expectCmd = false;
      }
      continue;
    }
    if (forState === 'name') {
      forState = 'list';
      continue;
    }
    if (forState === 'list') continue;
    if (top() === 'body' && w === 'esac' && expectCmd) {
      cases.pop();
      expectCmd = false;
      continue;
    }
    if (!expectCmd) {
      void prev;
      continue;
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) continue; // an assignment before the command
    if (KEYWORDS_BEFORE_COMMAND.has(w)) continue;
    if (KEYWORDS_ENDING.has(w)) {
      expectCmd = false;
      continue;
    }
    if (w === 'case') {
      cases.push('word');
      continue;
    }
    if (w === 'for') {
      forState = 'name';
      continue;
    }
    if (t.startsWith('()', i) || t.startsWith(' ()', i)) {
      out.functions.add(w);
      i = t.indexOf(')', i) + 1;
      expectCmd = true;
      continue;
    }
    expectCmd = false;
    if (/^[A-Za-z0-9_.[:-]+$/.test(w) || w === '[') out.commands.add(w);
  }
  if (nested) throw new Error('unterminated $(');
  if (cases.length) throw new Error('unterminated case');
  return i;
}
