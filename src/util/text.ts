/** Joins the lines of a message into one (errors and reports are one line each). */
export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The last non-empty line a failed command wrote, for a one-line error ('' when none). */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}
